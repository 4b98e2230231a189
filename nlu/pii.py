"""Masking of personal identifiers (national ID / iqama numbers, phone numbers) for logs.

Used by the hub's log formatter and by anything that prints citizen text outside the database.
It must never change the stored text: display and audit keep the original.
"""

from __future__ import annotations

import re

# Arabic-Indic (U+0660..) and Persian (U+06F0..) digits count as digits for masking, so a number
# written in any script is caught before it reaches a log line.
_DIGIT = r"[0-9\u0660-\u0669\u06F0-\u06F9]"
# Saudi national IDs start with 1, iqama numbers with 2; both are 10 digits.
_NATIONAL_ID = re.compile(rf"(?<!{_DIGIT})[12\u0661\u0662\u06F1\u06F2]{_DIGIT}{{9}}(?!{_DIGIT})")
# Phone numbers: international (+966..., 00966..., 966...) or local (05xxxxxxxx), with spaces or
# dashes. A leading +, 0 or 966 is required so that ticket numbers (2026-000042), which people
# search logs for, stay readable.
_ZERO = "[0\u0660\u06f0]"
_PHONE = re.compile(
    rf"(?<!{_DIGIT})(?:\+|{_ZERO}|[9\u0669\u06F9][6\u0666\u06F6]{{2}})"
    rf"(?:[\s\-]?{_DIGIT}){{8,13}}(?!{_DIGIT})"
)


def _keep_last(match: re.Match[str], keep: int = 2) -> str:
    raw = match.group(0)
    digits = [i for i, ch in enumerate(raw) if re.match(_DIGIT, ch)]
    hidden = set(digits[:-keep]) if len(digits) > keep else set(digits)
    return "".join("•" if i in hidden else ch for i, ch in enumerate(raw))


def mask_pii(text: str) -> str:
    """Return ``text`` with national IDs and phone numbers masked, keeping the last two digits."""
    if not text:
        return text
    text = _NATIONAL_ID.sub(_keep_last, text)
    return _PHONE.sub(_keep_last, text)
