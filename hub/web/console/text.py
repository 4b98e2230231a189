"""Citizen text made safe to show: HTML-escaped, and bidirectional controls neutralised.

Escaping stops markup (``<script>`` shows as text). Bidi *embedding, override and isolate*
characters (U+202A–U+202E, U+2066–U+2069) can reorder what a coordinator reads ("Trojan Source":
an override makes «12345» display as «54321», or flips a phone number); they are replaced by a
small visible marker naming the character, so the text renders in its logical order and the
coordinator can see that something was there. Plain marks (LRM/RLM/ALM) cannot reorder text beyond
their own neighbourhood and are kept: Arabic writers use them legitimately.

Direction itself is left to the browser per paragraph (``dir="auto"`` and CSS
``unicode-bidi: plaintext`` in the templates), so Arabic, Latin and numbers mix correctly.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

BIDI_CONTROLS = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_CONTROL_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")


def has_bidi_controls(text: str) -> bool:
    return _CONTROL_RE.search(text) is not None


def strip_bidi_controls(text: str) -> str:
    """For places where markup is not possible (attributes, CSV, clipboard)."""
    return _CONTROL_RE.sub("", text)


def inert(text: object, label: str = "bidi control") -> Markup:
    """HTML for untrusted text: escaped, with each bidi control shown as an inert marker."""
    escaped = str(escape("" if text is None else str(text)))
    label_html = str(escape(label))

    def marker(match: re.Match[str]) -> str:
        code = f"U+{ord(match.group()):04X}"
        return f'<bdi class="ctl" dir="ltr" title="{label_html} {code}">{code}</bdi>'

    return Markup(_CONTROL_RE.sub(marker, escaped))
