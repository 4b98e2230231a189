"""Every normalisation rule, one behaviour per test."""

from __future__ import annotations

import pytest

from nlu.normalize import normalize, normalize_chars


def n(text: str) -> str:
    return normalize_chars(text).text


def test_diacritics_are_removed() -> None:
    assert n("مَدْرَسَةٌ") == "مدرسه"


def test_tatweel_is_removed() -> None:
    assert n("شكــــرا") == "شكرا"


@pytest.mark.parametrize("variant", ["أحمد", "إحمد", "آحمد", "ٱحمد"])
def test_alef_variants_become_bare_alef(variant: str) -> None:
    assert n(variant) == "احمد"


def test_alef_maqsura_and_persian_yeh_become_yaa() -> None:
    assert n("على") == "علي"
    assert n("علی") == "علي"


def test_taa_marbuta_becomes_haa() -> None:
    assert n("مكافأة") == n("مكافاه") == "مكافاه"


def test_hamza_seats_on_waw_and_yaa_are_unified() -> None:
    assert n("مسؤول") == "مسوول"
    assert n("رئيس") == "رييس"


def test_arabic_indic_and_persian_digits_become_ascii() -> None:
    assert n("٢٠٢٦-٠٠٠١٢٣") == "2026-000123"
    assert n("۱۲۳۴") == "1234"


def test_arabic_punctuation_becomes_ascii() -> None:
    assert n("متى؟ نعم، لا؛") == "متي? نعم, لا;"


def test_presentation_forms_become_ordinary_letters() -> None:
    assert n("ﻻ") == "لا"
    assert n("ﺷﻜﺮﺍ") == "شكرا"


def test_latin_is_lower_cased_and_full_width_forms_unfolded() -> None:
    assert n("Noor SYSTEM") == "noor system"
    assert n("ＫＳＵ") == "ksu"


def test_invisible_and_bidi_marks_are_removed() -> None:
    assert n("نو\u200cر\u200f \ufeffمدرستي") == "نور مدرستي"


def test_whitespace_runs_collapse_and_are_trimmed() -> None:
    assert n("  متى\t\n تنزل   ") == "متي تنزل"


def test_elongated_arabic_letters_collapse_to_one() -> None:
    assert n("شكراااااا") == "شكرا"
    assert n("ممممتاز") == "متاز"


def test_doubled_arabic_letters_are_kept() -> None:
    assert n("الله") == "الله"


def test_elongated_latin_letters_keep_two() -> None:
    assert n("goooood") == "good"


def test_repeated_punctuation_and_emoji_keep_two() -> None:
    assert n("ليش!!!!!!") == "ليش!!"
    assert n("😡😡😡😡") == "😡😡"


def test_digits_are_never_collapsed() -> None:
    assert n("2026-000042") == "2026-000042"


def test_offsets_map_back_to_the_original_text() -> None:
    original = "  جامعةُ الملك   سعود"
    cn = normalize_chars(original)
    start = cn.text.index("الملك")
    s, e = cn.span_to_original(start, start + len("الملك"))
    assert original[s:e] == "الملك"


def test_urls_become_a_token() -> None:
    assert normalize("شوفوا https://t.co/abc123 و www.moe.gov.sa") == "شوفوا xurl و xurl"


def test_mentions_become_a_token() -> None:
    assert normalize("@MOE_Care متى") == "xuser متي"


def test_hashtags_become_their_words() -> None:
    assert normalize("#نظام_نور معطل") == "نظام نور معطل"


def test_numbers_become_typed_tokens() -> None:
    text = "بلاغي ٢٠٢٦-٠٠٠١٢٣ جوالي 0551234567 هويتي 1012345678 ايميلي a@b.com ورقم 987654"
    assert normalize(text) == "بلاغي xticket جوالي xphone هويتي xid ايميلي xemail ورقم xnum"


def test_small_numbers_are_kept() -> None:
    assert normalize("صار لي ٣ شهور") == "صار لي 3 شهور"


def test_emoji_become_sentiment_tokens() -> None:
    assert normalize("😡") == "xemoneg"
    assert normalize("🌹") == "xemopos"
    assert normalize("🙏") == "xemopray"
    assert normalize("🚌") == "xemo"


def test_normalize_never_fails_on_odd_input() -> None:
    for text in ["", "\x00", "\ud800", "🏳️‍🌈", "a" * 100_000]:
        assert isinstance(normalize(text), str)
