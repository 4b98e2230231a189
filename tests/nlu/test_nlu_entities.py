"""Entities: canonical values, spans of the original text, gazetteer names and keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.data import default_gazetteer
from nlu.entities import extract_entities
from nlu.gazetteer import Gazetteer, load_gazetteer
from nlu.types import Entity


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return load_gazetteer(default_gazetteer())


def found(text: str, gazetteer: Gazetteer | None = None) -> list[tuple[str, str]]:
    return [(e.type, e.value) for e in extract_entities(text, gazetteer)]


def assert_spans_are_original(text: str, entities: tuple[Entity, ...]) -> None:
    for e in entities:
        assert text[e.start : e.end] == e.text


@pytest.mark.parametrize(
    "text",
    [
        "رقم البلاغ 2026-000042",
        "رقم البلاغ ٢٠٢٦-٠٠٠٠٤٢",
        "رقم البلاغ ۲۰۲۶-۰۰۰۰۴۲",
        "رقم البلاغ 2026 000042",
        "رقم البلاغ 2026 - 000042",
        "رقم البلاغ 2026000042",
        "رقم البلاغ 000042-2026",
        "ticket #2026–000042",
    ],
)
def test_ticket_numbers_in_any_writing_get_the_canonical_value(text: str) -> None:
    entities = extract_entities(text, None)
    assert [(e.type, e.value) for e in entities] == [("ticket_number", "2026-000042")]
    assert_spans_are_original(text, entities)


def test_undashed_ten_digits_called_an_id_are_a_national_id() -> None:
    assert found("رقم الإقامة 2026123456") == [("national_id", "2026123456")]


def test_national_id_and_iqama_numbers() -> None:
    assert found("هويتي ١٠٢٣٤٥٦٧٨٩") == [("national_id", "1023456789")]
    assert found("اقامتي 2345678901") == [("national_id", "2345678901")]
    assert found("رقم 3345678901") == []  # a Saudi ID starts with 1 or 2


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("جوالي 0551234567", "+966551234567"),
        ("جوالي ٠٥٥١٢٣٤٥٦٧", "+966551234567"),
        ("جوالي 055 123 4567", "+966551234567"),
        ("جوالي +966551234567", "+966551234567"),
        ("جوالي +966 55 123 4567", "+966551234567"),
        ("جوالي 00966551234567", "+966551234567"),
        ("my number is +20 100 123 4567", "+201001234567"),
        ("هاتف المدرسة 0114567890", "+966114567890"),
    ],
)
def test_phone_numbers_are_canonical(text: str, value: str) -> None:
    entities = extract_entities(text, None)
    assert [(e.type, e.value) for e in entities] == [("phone", value)]
    assert_spans_are_original(text, entities)


def test_emails_are_lower_cased() -> None:
    assert found("راسلوني على Ahmad.Ali+moe@Gmail.COM لو سمحتم") == [("email", "ahmad.ali+moe@gmail.com")]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("الموعد 15/03/2026", "2026-03-15"),
        ("الموعد ١٥-٣-٢٠٢٦م", "2026-03-15"),
        ("الموعد 2026/3/15", "2026-03-15"),
        ("on March 15, 2026", "2026-03-15"),
        ("on 15 March 2026", "2026-03-15"),
        ("يوم ١٥ مارس ٢٠٢٦", "2026-03-15"),
        ("يوم 15 رمضان 1447هـ", "2026-03-04"),  # Umm al-Qura
        ("بتاريخ 1447/09/15", "2026-03-04"),
        ("في شهر رمضان 1447", "AH:1447-09"),
        ("في 3 شوال", "AH:--10-03"),
        ("في مارس 2026", "2026-03"),
    ],
)
def test_dates_gregorian_and_hijri(text: str, value: str) -> None:
    entities = extract_entities(text, None)
    assert [(e.type, e.value) for e in entities] == [("date", value)]
    assert_spans_are_original(text, entities)


def test_month_names_without_numbers_are_not_dates() -> None:
    assert found("في رمضان الدوام يتغير") == []


def test_impossible_dates_are_ignored() -> None:
    assert found("31/02/2026") == []


def test_university_by_name_short_name_and_abbreviation(gazetteer: Gazetteer) -> None:
    for text in ["أدرس في جامعة الملك سعود", "طالب في الملك سعود", "I study at KSU", "King Saud University"]:
        assert found(text, gazetteer) == [("university", "university:ksu")], text


def test_names_match_whatever_the_hamza_and_taa_marbuta(gazetteer: Gazetteer) -> None:
    assert found("جامعه ام القري", gazetteer) == [("university", "university:uqu")]


def test_arabic_prefixes_are_allowed(gazetteer: Gazetteer) -> None:
    assert found("ساكن بالرياض", gazetteer) == [("region", "region:riyadh")]
    assert found("نقلوني للرياض", gazetteer) == [("region", "region:riyadh")]
    assert found("والقصيم", gazetteer) == [("region", "region:qassim")]


def test_longest_name_wins(gazetteer: Gazetteer) -> None:
    text = "راجعت إدارة التعليم بمحافظة جدة"
    entities = extract_entities(text, gazetteer)
    assert [(e.type, e.value, e.text) for e in entities] == [
        ("education_department", "education_department:jeddah", "إدارة التعليم بمحافظة جدة")
    ]


def test_education_department_short_forms(gazetteer: Gazetteer) -> None:
    assert found("تعليم الشرقية", gazetteer) == [("education_department", "education_department:eastern")]
    assert found("ادارة تعليم الاحساء", gazetteer) == [("education_department", "education_department:al-ahsa")]
    assert found("Jeddah education department", gazetteer) == [("education_department", "education_department:jeddah")]


def test_governorate_and_region_in_one_message(gazetteer: Gazetteer) -> None:
    assert found("من الخرج ونقلوني إلى منطقة القصيم", gazetteer) == [
        ("governorate", "governorate:al-kharj"),
        ("region", "region:qassim"),
    ]


def test_common_words_that_are_also_place_names_do_not_match(gazetteer: Gazetteer) -> None:
    assert found("وصلني الخبر يوم الخميس عن الوادي", gazetteer) == []


def test_hashtags_match_names(gazetteer: Gazetteer) -> None:
    assert found("#تعليم_جدة", gazetteer) == [("education_department", "education_department:jeddah")]


def test_several_kinds_in_one_message_are_in_text_order(gazetteer: Gazetteer) -> None:
    text = "السلام عليكم بلاغي ٢٠٢٦-٠٠٠١٢٣ بخصوص جامعة الملك عبدالعزيز، جوالي 0551234567"
    entities = extract_entities(text, gazetteer)
    assert [e.type for e in entities] == ["ticket_number", "university", "phone"]
    assert_spans_are_original(text, entities)


def test_spans_include_trailing_tatweel() -> None:
    text = "يوم 15 رمضان 1447هـ"
    (entity,) = extract_entities(text, None)
    assert entity.text.endswith("هـ")


def test_nothing_found_in_empty_or_plain_text(gazetteer: Gazetteer) -> None:
    assert extract_entities("", gazetteer) == ()
    assert extract_entities("شكرا لكم", gazetteer) == ()


def test_entities_never_fail_on_long_text(gazetteer: Gazetteer, tmp_path: Path) -> None:
    text = ("جامعة الملك سعود 0551234567 " * 4000)[:100_000]
    entities = extract_entities(text, gazetteer)
    assert len(entities) > 1000
