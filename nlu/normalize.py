"""Arabic-first text normalisation for classification and gazetteer matching.

Two levels, both pure functions of the text:

* `normalize_chars` works character by character (diacritics, tatweel, letter variants, digits,
  invisible marks, case, elongation, whitespace) and keeps, for every output character, the index
  of the input character it came from — so matches found on normalised text can be reported as
  spans of the original.
* `normalize` applies `normalize_chars` and then replaces things a classifier should see as a
  kind rather than as characters: URLs, e-mails, mentions, ticket/phone/ID numbers and emoji
  become placeholder tokens; hashtags become their words.

The original text is never modified here; callers keep it for display and audit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from nlu import patterns

# --- character table -------------------------------------------------------------------------

# Harakat, tanween, shadda, sukun, maddah/hamza above/below marks, superscript alef and Quranic
# annotation marks: they change no meaning a classifier can use and are written inconsistently.
_DIACRITICS = [*range(0x0610, 0x061B), *range(0x064B, 0x0660), 0x0670, *range(0x06D6, 0x06EE)]
_TATWEEL = 0x0640
# Zero-width and bidi controls arrive from copy-paste and RTL editors; they split words invisibly.
_INVISIBLE = [
    0x00AD,
    0x061C,
    *range(0x200B, 0x2010),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0xFEFF,
    0xFE0E,
    0xFE0F,
]
_LETTERS = {
    # Alef with hamza/madda/wasla → bare alef: citizens rarely write hamzas consistently.
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ٲ": "ا",
    "ٳ": "ا",
    # Final yaa / alef maqsura are interchangeable in everyday writing; Persian yeh/kaf too.
    "ى": "ي",
    "ی": "ي",
    "ې": "ي",
    "ئ": "ي",
    "ک": "ك",
    # Taa marbuta is very often typed as haa (مدرسه / مدرسة).
    "ة": "ه",
    "ۀ": "ه",
    "ە": "ه",
    "ؤ": "و",
    # Arabic punctuation → ASCII so '?' means the same thing in every script.
    "،": ",",
    "؛": ";",
    "؟": "?",
    "٪": "%",
    "٫": ".",
    "٬": ",",
    "«": '"',
    "»": '"',
    "“": '"',
    "”": '"',
    "‘": "'",
    "’": "'",
    "…": "...",
    "❓": "?",
    "❔": "?",
    "❗": "!",
    "❕": "!",
}
_ARABIC_INDIC = {chr(0x0660 + d): str(d) for d in range(10)}
_PERSIAN = {chr(0x06F0 + d): str(d) for d in range(10)}


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for cp in (*_DIACRITICS, _TATWEEL, *_INVISIBLE):
        table[cp] = ""
    for src, dst in (*_LETTERS.items(), *_ARABIC_INDIC.items(), *_PERSIAN.items()):
        table[ord(src)] = dst
    base = dict(table)
    # Presentation forms (ﻻ, ﷲ, isolated/final glyphs) and full-width Latin: NFKC gives the
    # ordinary letters, which then go through the same table.
    for start, stop in ((0xFB50, 0xFE00), (0xFE70, 0xFF00), (0xFF01, 0xFF5F)):
        for cp in range(start, stop):
            ch = chr(cp)
            nf = unicodedata.normalize("NFKC", ch)
            if nf != ch:
                table[cp] = nf.translate(base).lower()
    return table


_TABLE = _build_table()
_ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u0671-\u06D3]")


@lru_cache(maxsize=4096)
def _map_char(ch: str) -> str:
    mapped = _TABLE.get(ord(ch))
    if mapped is None:
        if ch.isspace():
            return " "
        low = ch.lower()
        # A few capitals lower to two code points (İ → i̇); keep one so offsets stay one-to-one.
        return low if len(low) == 1 else ch
    return mapped


def _is_arabic_letter(ch: str) -> bool:
    return "\u0621" <= ch <= "\u064a" or "\u0671" <= ch <= "\u06d3"


@dataclass(frozen=True)
class CharNormalized:
    """Character-level normalised text and, per output character, its index in the original."""

    text: str
    offsets: tuple[int, ...]

    def span_to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the half-open span [start, end) of `text` back to the original text."""
        return self.offsets[start], self.offsets[end - 1] + 1


def normalize_chars(text: str) -> CharNormalized:
    """Normalise character by character, recording where each output character came from.

    Rules, in order: invisible marks, diacritics and tatweel removed; alef/yaa/taa-marbuta/hamza
    seat variants unified; Arabic-Indic and Persian digits → ASCII; presentation forms and
    full-width forms → ordinary letters; Latin lower-cased; any whitespace run → one space
    (trimmed); a letter repeated 3+ times (elongation: شكراااا, pleeease) → once for Arabic
    letters, twice for other letters (so "good" survives "goooood"); any other non-digit
    character repeated 3+ times (!!!!, 😡😡😡) → twice. Digits are never collapsed.
    """
    out: list[str] = []
    offs: list[int] = []
    prev = ""
    run = 0
    for i, ch in enumerate(text):
        for m in _map_char(ch):
            if m == " ":
                if not out or out[-1] == " ":
                    continue
                run = 0
            elif m == prev and not m.isdigit():
                run += 1
                if run >= 3:
                    # The run is elongation: an Arabic letter keeps one copy, anything else two.
                    if run == 3 and _is_arabic_letter(m):
                        out.pop()
                        offs.pop()
                    continue
            else:
                run = 1
            prev = m
            out.append(m)
            offs.append(i)
    if out and out[-1] == " ":
        out.pop()
        offs.pop()
    return CharNormalized("".join(out), tuple(offs))


# --- model-level tokens ----------------------------------------------------------------------

_EMOJI_NEG = set("😡🤬😠💢😤👎😢😭😔😞😩😫💔😟🙁☹😥😓😿🥺😒🤦🙄😑😣😖😰😱🤯😪")
_EMOJI_POS = set("😀😃😄😁😆😂🤣😊☺😍🥰😘❤♥💙💚💛💜🧡🤍🌹🌷🌸💐👍👏👌💯✨🌟⭐🎉😎🤗🥳💪🫶")
_EMOJI_PRAY = set("🙏🤲")


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2B00 <= cp <= 0x2BFF
        or 0x1F1E6 <= cp <= 0x1F1FF
        or cp in (0x2764, 0x263A, 0x2639)
    )


def _emoji_token(ch: str) -> str:
    if ch in _EMOJI_NEG:
        return " xemoneg "
    if ch in _EMOJI_POS:
        return " xemopos "
    if ch in _EMOJI_PRAY:
        return " xemopray "
    if 0x1F3FB <= ord(ch) <= 0x1F3FF:  # skin-tone modifiers carry no meaning of their own
        return ""
    return " xemo "


_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:com|net|org|sa|gov\.sa|edu\.sa|ly|co)(?:/\S*)?\b")
_MENTION = re.compile(r"@\w+")
_HASHTAG = re.compile(r"#(\w+)")
_SPACES = re.compile(r"\s+")

_NUMBER_TOKENS = {
    "email": " xemail ",
    "ticket_number": " xticket ",
    "phone": " xphone ",
    "national_id": " xid ",
}
_LONG_NUMBER = re.compile(r"\d{5,}")


def tokens_for_model(char_normalized: str) -> str:
    """Replace URLs, mentions, hashtags, numbers and emoji in char-normalised text by tokens."""
    text = char_normalized
    if any(c.isdigit() for c in text) or "@" in text:
        # Same detector as entity extraction, so "xticket" means exactly what an entity means.
        for n in reversed(patterns.find_numbers(text)):
            text = text[: n.start] + _NUMBER_TOKENS[n.type] + text[n.end :]
        text = _LONG_NUMBER.sub(" xnum ", text)
    text = _URL.sub(" xurl ", text)
    text = _MENTION.sub(" xuser ", text)
    text = _HASHTAG.sub(lambda m: " " + m.group(1).replace("_", " ") + " ", text)
    if any(ord(c) >= 0x2600 for c in text):
        text = "".join(_emoji_token(c) if _is_emoji(c) else c for c in text)
    return _SPACES.sub(" ", text).strip()


def normalize(text: str) -> str:
    """Full normalisation used as classifier input (see module docstring)."""
    return tokens_for_model(normalize_chars(text).text)


def is_dropped(ch: str) -> bool:
    """True for characters normalisation removes (diacritics, tatweel, invisible marks)."""
    return _TABLE.get(ord(ch)) == ""


def has_arabic_letters(text: str) -> bool:
    return _ARABIC_LETTER.search(text) is not None
