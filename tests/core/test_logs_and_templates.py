"""Log lines mask personal identifiers; reply templates are complete in Arabic and English."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bots.templates import ReplyBook, TemplateError, load_reply_book
from hub.logs import MaskingFormatter
from nlu.pii import mask_pii

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("هويتي 1098765432", "10987654", "32"),
        ("رقم الإقامة ٢٣٤٥٦٧٨٩٠١", "٢٣٤٥٦٧٨٩", "٠١"),
        ("جوالي 0551234567", "05512345", "67"),
        ("call +966 55 123 4567", "+966 55 123 45", "67"),
    ],
)
def test_ids_and_phones_are_masked_keeping_the_last_two_digits(text: str, hidden: str, kept: str) -> None:
    masked = mask_pii(text)
    assert hidden not in masked and masked.endswith(kept)


def test_ticket_numbers_stay_readable_in_logs() -> None:
    assert mask_pii("ticket 2026-000042 update_id 700000001") == "ticket 2026-000042 update_id 700000001"


@pytest.mark.parametrize("as_json", [False, True])
def test_the_log_formatter_masks_every_line(as_json: bool) -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "citizen %s wrote from %s", ("1087654321", "0551234567"), None
    )
    line = MaskingFormatter(as_json).format(record)
    assert "1087654321" not in line and "0551234567" not in line and "21" in line


def test_every_template_has_arabic_and_english() -> None:
    book = load_reply_book(DATA / "templates.yml", "Asia/Riyadh")
    for key in book.templates:
        assert book.templates[key]["ar"] and book.templates[key]["en"]


def test_english_writers_get_english_and_everyone_else_arabic() -> None:
    book = load_reply_book(DATA / "templates.yml", "Asia/Riyadh")
    assert book.render("greeting", "en").startswith("Welcome")
    assert book.render("greeting", "fa").startswith("أهلاً")
    assert book.render("greeting", "ar").startswith("أهلاً")


def test_due_dates_read_naturally_in_both_languages() -> None:
    book = load_reply_book(DATA / "templates.yml", "Asia/Riyadh")
    when = datetime(2026, 12, 3, 7, 0, tzinfo=ZoneInfo("UTC"))
    assert book.date(when, "ar") == "الخميس 3 ديسمبر 2026"
    assert book.date(when, "en") == "Thursday 3 December 2026"


def test_a_template_missing_a_language_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "templates.yml"
    path.write_text("greeting:\n  ar: أهلاً\n", encoding="utf-8")
    with pytest.raises(TemplateError) as exc:
        ReplyBook.from_file(path, ZoneInfo("Asia/Riyadh"))
    assert "greeting" in str(exc.value) and "en" in str(exc.value)
