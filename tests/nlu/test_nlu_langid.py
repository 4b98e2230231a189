"""Language identification: script rules, Arabizi, both backends, never failing."""

from __future__ import annotations

import pytest

from nlu.langid import LanguageIdentifier, looks_like_arabizi


@pytest.fixture(scope="module", params=["lingua", "langdetect"])
def langid(request: pytest.FixtureRequest) -> LanguageIdentifier:
    return LanguageIdentifier(request.param)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("السلام عليكم متى تنزل المكافأة", "ar"),
        ("وش صار على بلاغي؟", "ar"),
        ("my son's bonus has not been paid for three months", "en"),
        ("مرحبا thanks", "ar"),  # Arabic first: a mixed message gets an Arabic reply
        ("3ndi so2al 3an el madrasa", "ar"),  # Arabizi
        ("मेरे बेटे का स्कूल", "hi"),
        ("আমার ছেলের স্কুল", "bn"),
    ],
)
def test_detects_the_hubs_languages(langid: LanguageIdentifier, text: str, expected: str) -> None:
    assert langid.detect(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "😂😂", "123 456", "!!!", "🙏🏼"])
def test_text_without_letters_is_undetermined(langid: LanguageIdentifier, text: str) -> None:
    assert langid.detect(text) == "und"


def test_very_short_latin_text_is_english(langid: LanguageIdentifier) -> None:
    assert langid.detect("ok") == "en"


def test_lingua_tells_urdu_and_persian_from_arabic() -> None:
    langid = LanguageIdentifier("lingua")
    assert langid.detect("میں اپنے بیٹے کے اسکول کے بارے میں پوچھنا چاہتا ہوں") == "ur"
    assert langid.detect("سلام، من می خواهم درباره مدرسه پسرم بپرسم") == "fa"
    assert langid.detect("دخترم هنوز ثبت نام نشده است") == "fa"  # no Persian-only letter, a Persian word


def test_arabic_script_without_persian_or_urdu_marks_is_arabic_without_statistics() -> None:
    langid = LanguageIdentifier("lingua")
    assert langid.detect("من متى يبدأ التسجيل في المدارس الأهلية") == "ar"
    assert langid._arabic is None  # the Arabic-script detector (and its memory) was never needed


def test_detection_is_repeatable(langid: LanguageIdentifier) -> None:
    texts = ["hello there", "ابي اعرف", "saya mau tanya", "magandang umaga po", "ok thanks bye"]
    first = [langid.detect(t) for t in texts]
    assert [langid.detect(t) for t in texts] == first
    assert [LanguageIdentifier(langid.backend).detect(t) for t in texts] == first


def test_detect_never_raises_on_odd_input(langid: LanguageIdentifier) -> None:
    for text in ["\ud800", "\x00\x01", "a" * 100_000, "ب" * 100_000, "🏳️‍🌈" * 50]:
        assert isinstance(langid.detect(text), str)


def test_arabizi_rules() -> None:
    assert looks_like_arabizi("abi a3rf mata el nateeja")
    assert looks_like_arabizi("shlonak")
    assert not looks_like_arabizi("please tell me when the results come out")
    assert not looks_like_arabizi("I have 3 kids in grade 2")


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        LanguageIdentifier("fasttext")
