"""Number-like identifiers (tickets, phones, national IDs, e-mails) found in normalised text.

Shared by entity extraction and by the classifier's placeholder tokens, so both agree on what a
ticket number is. Patterns expect character-normalised text (ASCII digits, no invisible marks);
`nlu.entities` maps the spans back to the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][\w.+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Ticket numbers are YYYY-NNNNNN; citizens add spaces or other dashes, or type it reversed in an
# RTL field (NNNNNN-YYYY). The undashed 10-digit form is ambiguous with iqama numbers (both may
# start with 2) and is resolved by context in `find_numbers`.
TICKET = re.compile(r"(?<!\d)(20[2-3]\d) ?[-–—_/.] ?(\d{6})(?!\d)|(?<!\d)(20[2-3]\d) (\d{6})(?!\d)")
TICKET_REVERSED = re.compile(r"(?<!\d)(\d{6}) ?[-–—/] ?(20[2-3]\d)(?!\d)")
TEN_DIGITS = re.compile(r"(?<!\d)(20[2-3]\d)(\d{6})(?!\d)")
NATIONAL_ID = re.compile(r"(?<!\d)[12]\d{9}(?!\d)")
_SEP = r"[ -]?"
PHONE = re.compile(
    r"(?<![\d+])(?:"
    rf"(?:\+|00)?966{_SEP}\(?0?\)?{_SEP}[1-9](?:{_SEP}\d){{7,8}}"  # Saudi, international form
    rf"|0[1-9](?:{_SEP}\d){{7,8}}"  # Saudi, local form: 05x mobile, 01x landline
    rf"|9200(?:{_SEP}\d){{5}}"  # unified numbers
    rf"|(?:\+|00)[1-9]\d{{0,2}}(?:{_SEP}\d){{6,12}}"  # any other international number
    r")(?!\d)"
)

_TICKET_WORDS = (
    "بلاغ",
    "طلب",
    "تذكره",
    "شكوي",
    "معامله",
    "مراجعه",
    "الرقم المرجعي",
    "ticket",
    "case",
    "request",
    "ref",
    "#",
)
_ID_WORDS = ("هويه", "اقامه", "سجل", "مدني", "iqama", "id", "الهويه", "رقم وطني")


@dataclass(frozen=True)
class NumberMatch:
    type: str  # ticket_number | phone | national_id | email
    value: str
    start: int
    end: int


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def canonical_phone(raw: str) -> str:
    """+966551234567 for Saudi numbers written any way, '+<digits>' for other international ones."""
    d = _digits(raw)
    if raw.lstrip().startswith("00"):
        d = d[2:]
    if d.startswith("9200") and len(d) == 9:
        return d
    if d.startswith("9660"):
        d = "966" + d[4:]
    if d.startswith("966"):
        return "+" + d
    if d.startswith("0") and len(d) in (9, 10):
        return "+966" + d[1:]
    return "+" + d


def _context_says(text: str, start: int, words: tuple[str, ...]) -> bool:
    before = text[max(0, start - 40) : start].lower()
    return any(w in before for w in words)


def find_numbers(text: str) -> list[NumberMatch]:
    """All non-overlapping number-like identifiers in char-normalised `text`, in text order."""
    found: list[NumberMatch] = []
    taken: list[tuple[int, int]] = []

    def free(s: int, e: int) -> bool:
        return all(e <= a or s >= b for a, b in taken)

    def add(kind: str, value: str, s: int, e: int) -> None:
        if free(s, e):
            found.append(NumberMatch(kind, value, s, e))
            taken.append((s, e))

    if "@" in text:
        for m in EMAIL.finditer(text):
            add("email", m.group(0).lower(), m.start(), m.end())
    for m in TICKET.finditer(text):
        year, serial = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        add("ticket_number", f"{year}-{serial}", m.start(), m.end())
    for m in TICKET_REVERSED.finditer(text):
        add("ticket_number", f"{m.group(2)}-{m.group(1)}", m.start(), m.end())
    for m in TEN_DIGITS.finditer(text):
        # Undashed: a ticket if the citizen calls it one, an ID if they call it that; otherwise
        # a serial starting with 0 (tickets are numbered from 000001 each year) means a ticket.
        if _context_says(text, m.start(), _TICKET_WORDS):
            is_ticket = True
        elif _context_says(text, m.start(), _ID_WORDS):
            is_ticket = False
        else:
            is_ticket = m.group(2).startswith("0")
        if is_ticket:
            add("ticket_number", f"{m.group(1)}-{m.group(2)}", m.start(), m.end())
    for m in NATIONAL_ID.finditer(text):
        add("national_id", m.group(0), m.start(), m.end())
    for m in PHONE.finditer(text):
        raw = m.group(0).rstrip(" -")
        add("phone", canonical_phone(raw), m.start(), m.start() + len(raw))
    found.sort(key=lambda n: n.start)
    return found
