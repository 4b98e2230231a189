"""Entity extraction: ticket numbers, national ID / iqama, phones, e-mails, dates and sector names.

Everything is matched on character-normalised text (ASCII digits, unified letters) and reported
as spans of the original text, with a canonical `value`:

* ticket_number  "2026-000042" (from ٢٠٢٦-٠٠٠٠٤٢, "2026 000042", "2026000042" ...)
* national_id    the 10 digits (masked by `nlu.pii.mask_pii` before anything is logged)
* phone          "+966551234567" (Saudi numbers in any form), "+<digits>" otherwise, "9200xxxxx"
* email          lower-cased address
* date           "YYYY-MM-DD" (Gregorian; Hijri dates converted by the Umm al-Qura calendar),
                 "YYYY-MM" for month and year, "--MM-DD" for day and month; Hijri dates that
                 cannot be converted keep an "AH:" prefix ("AH:1447-09", "AH:--09-15")
* region / governorate / university / education_department  the gazetteer key ("university:ksu")
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from nlu.gazetteer import Gazetteer
from nlu.normalize import CharNormalized, is_dropped, normalize_chars
from nlu.patterns import find_numbers
from nlu.types import Entity

_GREG_AR = {
    "يناير": 1,
    "فبراير": 2,
    "مارس": 3,
    "ابريل": 4,
    "مايو": 5,
    "يونيو": 6,
    "يونيه": 6,
    "يوليو": 7,
    "يوليه": 7,
    "اغسطس": 8,
    "سبتمبر": 9,
    "اكتوبر": 10,
    "نوفمبر": 11,
    "ديسمبر": 12,
}
_GREG_EN = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "sep": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}
# Normalised spellings (ى→ي, ة→ه, hamza dropped), so "جمادى الأولى" is "جمادي الاولي".
_HIJRI = {
    "محرم": 1,
    "صفر": 2,
    "ربيع الاول": 3,
    "ربيع اول": 3,
    "ربيع الاخر": 4,
    "ربيع الثاني": 4,
    "ربيع ثاني": 4,
    "جمادي الاولي": 5,
    "جمادي الاول": 5,
    "جمادي الاخره": 6,
    "جمادي الاخر": 6,
    "جمادي الثانيه": 6,
    "جمادي الثاني": 6,
    "رجب": 7,
    "شعبان": 8,
    "رمضان": 9,
    "شوال": 10,
    "ذو القعده": 11,
    "ذي القعده": 11,
    "ذو الحجه": 12,
    "ذي الحجه": 12,
}
_MONTHS: dict[str, tuple[int, bool]] = {
    **{k: (v, False) for k, v in _GREG_AR.items()},
    **{k: (v, False) for k, v in _GREG_EN.items()},
    **{k: (v, True) for k, v in _HIJRI.items()},
}
_MONTH_ALT = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
# Calendar suffix after a year (هـ is "ه" once tatweel is gone); the right boundary comes after it.
_SUFFIX = r"(?: ?(?:هجريه|هجري|ه|ميلاديه|ميلادي|م|ad|ah|ce))?"
_BOUND_L = r"(?<![^\W_])"  # not glued to a letter or digit on the left
_BOUND_R = r"(?![^\W_])"

_NUMERIC_DMY = re.compile(rf"{_BOUND_L}(\d{{1,2}})([/.-])(\d{{1,2}})\2(\d{{4}}){_SUFFIX}{_BOUND_R}")
_NUMERIC_YMD = re.compile(rf"{_BOUND_L}(\d{{4}})([/.-])(\d{{1,2}})\2(\d{{1,2}}){_SUFFIX}{_BOUND_R}")
# "15 رمضان 1447هـ", "3 من شوال", "15 march 2026", "march 15, 2026", "رمضان 1447"
_DAY_MONTH = re.compile(
    rf"{_BOUND_L}(\d{{1,2}})(?:st|nd|rd|th)? (?:من |of )?({_MONTH_ALT})"
    rf"(?:,? (\d{{4}}){_SUFFIX})?{_BOUND_R}"
)
_MONTH_DAY = re.compile(rf"{_BOUND_L}({_MONTH_ALT}) (\d{{1,2}})(?:st|nd|rd|th)?,? (\d{{4}}){_SUFFIX}{_BOUND_R}")
_MONTH_YEAR = re.compile(rf"{_BOUND_L}({_MONTH_ALT}),? (\d{{4}}){_SUFFIX}{_BOUND_R}")


def _calendar_for_year(year: int) -> bool | None:
    """True for a Hijri year, False for Gregorian, None if it is neither."""
    if 1300 <= year <= 1500:
        return True
    if 1900 <= year <= 2100:
        return False
    return None


def _hijri_to_iso(y: int, m: int, d: int) -> str | None:
    try:
        from hijridate import Hijri

        return str(Hijri(y, m, d).to_gregorian().isoformat())
    except Exception:
        # Outside the Umm al-Qura table, an invalid day, or hijridate not installed.
        return None


def _date_value(year: int | None, month: int, day: int | None, hijri: bool) -> str | None:
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= (30 if hijri else 31)):
        return None
    if year is not None and day is not None:
        if hijri:
            return _hijri_to_iso(year, month, day) or f"AH:{year:04d}-{month:02d}-{day:02d}"
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return None
    prefix = "AH:" if hijri else ""
    if year is not None:
        return f"{prefix}{year:04d}-{month:02d}"
    return f"{prefix}--{month:02d}-{day:02d}"


def _dates(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _NUMERIC_DMY.finditer(text):
        y = int(m.group(4))
        cal = _calendar_for_year(y)
        if cal is not None and (v := _date_value(y, int(m.group(3)), int(m.group(1)), cal)):
            yield m.start(), m.end(), v
    for m in _NUMERIC_YMD.finditer(text):
        y = int(m.group(1))
        cal = _calendar_for_year(y)
        if cal is not None and (v := _date_value(y, int(m.group(3)), int(m.group(4)), cal)):
            yield m.start(), m.end(), v
    for m in _DAY_MONTH.finditer(text):
        month, hijri = _MONTHS[m.group(2)]
        year = int(m.group(3)) if m.group(3) else None
        if year is not None and _calendar_for_year(year) is None:
            continue
        if v := _date_value(year, month, int(m.group(1)), hijri):
            yield m.start(), m.end(), v
    for m in _MONTH_DAY.finditer(text):
        month, hijri = _MONTHS[m.group(1)]
        if _calendar_for_year(int(m.group(3))) is not None and (
            v := _date_value(int(m.group(3)), month, int(m.group(2)), hijri)
        ):
            yield m.start(), m.end(), v
    for m in _MONTH_YEAR.finditer(text):
        month, hijri = _MONTHS[m.group(1)]
        if _calendar_for_year(int(m.group(2))) is not None and (v := _date_value(int(m.group(2)), month, None, hijri)):
            yield m.start(), m.end(), v


def extract_entities(
    text: str, gazetteer: Gazetteer | None, normalized: CharNormalized | None = None
) -> tuple[Entity, ...]:
    """All entities in `text`, in text order, without overlaps (numbers, then dates, then names)."""
    norm = normalized if normalized is not None else normalize_chars(text)
    ntext = norm.text
    if not ntext:
        return ()
    spans: list[tuple[int, int, str, str]] = []  # start, end (normalised), type, value

    def add(start: int, end: int, type_: str, value: str) -> None:
        if end > start and all(end <= s or start >= e for s, e, _, _ in spans):
            spans.append((start, end, type_, value))

    has_digit = any(c.isdigit() for c in ntext)
    if has_digit or "@" in ntext:
        for n in find_numbers(ntext):
            add(n.start, n.end, n.type, n.value)
    if has_digit:
        # Dates before the 4-digit-year-free forms would let "15 رمضان" shadow "15 رمضان 1447".
        for start, end, value in sorted(_dates(ntext), key=lambda d: (d[0], -(d[1] - d[0]))):
            add(start, end, "date", value)
    if gazetteer is not None:
        for g in gazetteer.find(ntext):
            add(g.start, g.end, g.type, g.key)
    out = []
    for start, end, type_, value in sorted(spans):
        o_start, o_end = norm.span_to_original(start, end)
        # A span ends after any tatweel/diacritics written on its last letter (١٤٤٧هـ keeps its ـ).
        while o_end < len(text) and is_dropped(text[o_end]):
            o_end += 1
        out.append(Entity(type=type_, value=value, text=text[o_start:o_end], start=o_start, end=o_end))
    return tuple(out)
