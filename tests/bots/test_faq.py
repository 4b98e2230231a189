"""FAQ knowledge base and retrieval (bots/faq.py): loading, validation, normalisation, languages, held-out quality."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import yaml

from bots.dialogue import FAQ_INTENTS
from bots.faq import THRESHOLD, FaqBook, FaqError, FaqMatch

REPO = Path(__file__).resolve().parents[2]
FAQ_FILE = REPO / "data" / "faq.yml"
HELDOUT_FILE = REPO / "data" / "evaluation" / "faq_heldout.yml"


@pytest.fixture(scope="module")
def book() -> FaqBook:
    return FaqBook.from_file(FAQ_FILE, today=date(2026, 1, 1))


def _entry(entry_id: str = "noor-password-reset", **changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": entry_id,
        "topic": "noor",
        "owner_unit": "central-care",
        "review_by": "2027-11-30",
        "questions_ar": [f"سؤال عن {entry_id}"],
        "questions_en": [f"question about {entry_id}"],
        "answer_ar": "الجواب",
        "answer_en": "The answer",
    }
    entry.update(changes)
    return entry


def _write(tmp_path: Path, *entries: dict[str, object]) -> Path:
    path = tmp_path / "faq.yml"
    path.write_text(yaml.safe_dump({"version": 1, "entries": list(entries)}, allow_unicode=True), encoding="utf-8")
    return path


# --- loading and validation ----------------------------------------------------------------------------------


def test_real_file_loads_with_unique_ids_both_languages_and_dates(book: FaqBook) -> None:
    assert len(book.entries) >= 80
    assert len({e.id for e in book.entries}) == len(book.entries)
    for e in book.entries:
        assert e.questions_ar and e.questions_en and e.answer_ar and e.answer_en
        assert isinstance(e.review_by, date)


def test_duplicate_id_names_file_line_and_entry(tmp_path: Path) -> None:
    path = _write(tmp_path, _entry("a-b"), _entry("c-d"), _entry("a-b", questions_ar=["سؤال آخر"]))
    with pytest.raises(FaqError) as err:
        FaqBook.from_file(path)
    message = str(err.value)
    assert str(path) in message and "'a-b'" in message and "duplicate id" in message
    line = int(message.split(f"{path}:", 1)[1].split(":", 1)[0])
    assert path.read_text(encoding="utf-8").splitlines()[line - 1].lstrip().startswith("-")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"answer_en": ""}, "missing or empty answer_en"),
        ({"questions_ar": []}, "missing or empty questions_ar"),
        ({"questions_en": ["  "]}, "questions_en must be a list of non-empty questions"),
        ({"questions_ar": ["😀"]}, "questions_ar has no question with words"),
        ({"review_by": "30/11/2027"}, "review_by must be an ISO date"),
        ({"review_by": "2027-02-30"}, "review_by must be an ISO date"),
        ({"answer": "typo for answer_ar"}, "unknown field(s) answer"),
    ],
)
def test_invalid_entry_is_rejected_with_a_clear_reason(
    tmp_path: Path, changes: dict[str, object], expected: str
) -> None:
    path = _write(tmp_path, _entry("ok-entry"), _entry("bad-entry", **changes))
    with pytest.raises(FaqError, match="bad-entry") as err:
        FaqBook.from_file(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_same_question_under_two_entries_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, _entry("first"), _entry("second", questions_ar=["سؤال عن first"]))
    with pytest.raises(FaqError, match="also a question of 'first'"):
        FaqBook.from_file(path)


def test_not_a_faq_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "faq.yml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(FaqError, match="entries"):
        FaqBook.from_file(path)
    with pytest.raises(FaqError, match="cannot read"):
        FaqBook.from_file(tmp_path / "missing.yml")


def test_entries_past_review_date_are_logged_not_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, _entry("fresh", review_by="2030-01-01"), _entry("stale", review_by="2025-06-30"))
    with caplog.at_level(logging.WARNING, logger="tawasul.faq"):
        book = FaqBook.from_file(path, today=date(2026, 1, 1))
    assert [e.id for e in book.entries] == ["fresh", "stale"]
    overdue = [r.getMessage() for r in caplog.records if "faq.review_overdue" in r.getMessage()]
    assert len(overdue) == 1 and "entry=stale" in overdue[0] and "review_by=2025-06-30" in overdue[0]


# --- Arabic normalisation ---------------------------------------------------------------------------------------


def _same_answer(book: FaqBook, a: str, b: str) -> FaqMatch:
    ma, mb = book.match(a, language="ar"), book.match(b, language="ar")
    assert ma is not None and mb is not None
    assert ma.entry_id == mb.entry_id
    assert ma.score == pytest.approx(mb.score)
    return ma


def test_hamza_taa_marbuta_and_diacritics_do_not_change_the_match(book: FaqBook) -> None:
    plain = "كيف اعيد تعيين كلمه المرور في نظام نور"
    assert _same_answer(book, plain, "كيف أعيد تعيين كلمة المرور في نظام نور؟").entry_id == "noor-password-reset"
    _same_answer(book, plain, "كَيْفَ أُعِيدُ تَعْيِينَ كَلِمَةِ الْمُرُورِ فِي نِظَامِ نُورٍ؟")


def test_alef_maqsura_and_elongation_do_not_change_the_match(book: FaqBook) -> None:
    match = _same_answer(book, "ابييييي اعرف متى تنزل المكافأه الجامعيه", "ابي اعرف متي تنزل المكافاة الجامعية")
    assert match.entry_id == "university-stipend-payment"


def test_arabic_indic_digits_match_like_ascii_digits(book: FaqBook) -> None:
    match = _same_answer(book, "ولدي عمره ٥ سنوات يقبلونه في اول ابتدائي؟", "ولدي عمره 5 سنوات يقبلونه في اول ابتدائي؟")
    assert match.entry_id == "admission-age"


def test_dialect_and_msa_paraphrases_find_the_same_entry(book: FaqBook) -> None:
    dialect = book.top("وش الطريقه اسجل ولدي في الروضه؟", 1)[0]
    msa = book.match("ما طريقة تسجيل طفلي في الروضة الحكومية؟", language="ar")
    assert dialect.entry_id == "kindergarten-registration"
    assert msa is not None and msa.entry_id == "kindergarten-registration"


# --- languages, matched question, near misses, empty input -------------------------------------------------------


def test_english_question_is_answered_in_english_with_an_english_question(book: FaqBook) -> None:
    match = book.match("How can I reset my Noor password?", language="en")
    assert match is not None and match.entry_id == "noor-password-reset"
    assert match.language == "en"
    assert match.answer == match.entry.answer_en
    assert match.question in match.entry.questions_en


def test_arabic_and_other_languages_get_the_arabic_answer(book: FaqBook) -> None:
    for language in ("ar", "ur", "und"):
        match = book.match("وين القى مسير الراتب في فارس", language=language)
        assert match is not None and match.entry_id == "faris-salary-slip"
        assert match.answer == match.entry.answer_ar and match.language == "ar"
        assert match.question in match.entry.questions_ar


def test_match_says_which_question_it_matched(book: FaqBook) -> None:
    match = book.match("كيف اطلع تقرير حضور وغياب ولدي من منصة مدرستي", language="ar")
    assert match is not None and match.entry_id == "madrasati-attendance"
    assert match.question == "كيف اطلع تقرير حضور وغياب ولدي من مدرستي؟"
    assert 0.0 <= match.score <= 1.0 and match.score >= THRESHOLD


@pytest.mark.parametrize(
    "complaint",
    [
        "حاولت أغير كلمة المرور في نور عشر مرات ويطلع لي خطأ والمدرسة ما ترد علي من أسبوعين",
        "الباص ما يجي لولدي من أسبوع والسائق ما يرد على اتصالاتنا",
        "نتيجة القدرات حقتي طلعت غلط وأبي أحد يراجعها لأن درجتي أعلى من كذا",
        "The school bus has not come for my son for a week and nobody answers",
    ],
)
def test_complaint_mentioning_an_faq_topic_is_not_answered(book: FaqBook, complaint: str) -> None:
    assert book.match(complaint, language="ar") is None


def test_on_topic_question_no_entry_answers_is_not_answered(book: FaqBook) -> None:
    assert book.match("كم درجة النجاح في مادة الكيمياء للصف الأول ثانوي؟", language="ar") is None


@pytest.mark.parametrize("text", ["", "   ", "😂😂😂", "🙏🏼", "2026-000123", "؟؟؟"])
def test_empty_emoji_or_number_only_input_returns_none(book: FaqBook, text: str) -> None:
    assert book.match(text, language="ar") is None
    assert book.top(text, 3) == []


def test_top_ranks_best_first_and_agrees_with_match(book: FaqBook) -> None:
    text = "متى تطلع نتائج حركة النقل الخارجي للمعلمين"
    ranked = book.top(text, 5)
    assert len(ranked) == 5
    assert [m.score for m in ranked] == sorted((m.score for m in ranked), reverse=True)
    match = book.match(text, language="ar")
    assert match is not None and match.entry_id == ranked[0].entry_id == "transfer-results"


# --- held-out paraphrases (data/evaluation/faq_heldout.yml) ----------------------------------------------------


@pytest.fixture(scope="module")
def heldout() -> list[tuple[str, str | None]]:
    cases = yaml.safe_load(HELDOUT_FILE.read_text(encoding="utf-8"))["cases"]
    return [(c["text"], None if c["expect"] == "none" else c["expect"]) for c in cases]


def test_heldout_top1_does_not_fall_below_measured_level(book: FaqBook, heldout: list[tuple[str, str | None]]) -> None:
    hits = [book.top(text, 1)[0].entry_id == expect for text, expect in heldout if expect]
    assert np.mean(hits) >= 0.93  # measured 0.939 (docs/benchmarks.md, "FAQ retrieval")


def test_heldout_top1_meets_issue_target(book: FaqBook, heldout: list[tuple[str, str | None]]) -> None:
    """Issue 6 target; measured 0.939 (Arabic 0.938, English 0.941), docs/benchmarks.md "FAQ retrieval"."""
    hits = [book.top(text, 1)[0].entry_id == expect for text, expect in heldout if expect]
    assert np.mean(hits) >= 0.90


def test_heldout_precision_as_the_bot_answers_meets_target(
    book: FaqBook, heldout: list[tuple[str, str | None]]
) -> None:
    """The bot answers from the FAQ when bots/dialogue.py's intent gate lets it and the match clears the threshold."""
    from nlu.data import default_training_data, load_dataset
    from nlu.model import train
    from nlu.normalize import normalize

    model = train(load_dataset(default_training_data()))
    probs = model.predict_proba([normalize(text) for text, _ in heldout])
    answered = right = answerable = 0
    for (text, expect), p in zip(heldout, probs, strict=True):
        intent, uncertain = model.labels[int(p.argmax())], float(p.max()) < model.threshold
        gate = intent not in ("ticket_status", "objection", "handoff") and (intent in FAQ_INTENTS or uncertain)
        answerable += expect is not None
        match = book.match(text, language="ar") if gate else None
        if match is not None:
            answered += 1
            right += match.entry_id == expect
    assert answered >= 0.30 * answerable  # measured 154 answers (coverage 0.490)
    assert right / answered >= 0.95


def test_heldout_precision_of_retrieval_alone(book: FaqBook, heldout: list[tuple[str, str | None]]) -> None:
    """Without the intent gate a few complaints are answered; the dialogue must keep gating (measured 0.938)."""
    matches = [(book.match(text, language="ar"), expect) for text, expect in heldout]
    answered = [(m, expect) for m, expect in matches if m is not None]
    assert len(answered) >= 80
    assert sum(m.entry_id == expect for m, expect in answered) / len(answered) >= 0.93
