"""Splitting long replies on word boundaries, in characters or UTF-8 bytes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connectors.base import split_text

ARABIC = (
    "نفيدكم بأنه تم استلام طلبكم وسيتم الرد عليكم خلال خمسة أيام عمل، ونشكر لكم تواصلكم مع مركز العناية بالمستفيدين. "
)


def test_short_text_is_one_part() -> None:
    assert split_text("مرحبا", 4096) == ["مرحبا"]


def test_long_arabic_text_splits_on_word_boundaries_within_the_limit() -> None:
    text = ARABIC * 60
    parts = split_text(text, 4096)
    assert len(parts) > 1
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts).split() == text.split()  # no word cut, none lost


def test_byte_limit_counts_two_bytes_per_arabic_letter() -> None:
    parts = split_text(ARABIC * 10, 1000, unit="bytes")
    assert all(len(p.encode()) <= 1000 for p in parts)
    assert " ".join(parts).split() == (ARABIC * 10).split()


def test_prefers_paragraph_breaks() -> None:
    text = ("أ" * 50 + " ") * 3 + "\n\n" + ("ب" * 50 + " ") * 3
    assert split_text(text, 200) == [(("أ" * 50 + " ") * 3).strip(), (("ب" * 50 + " ") * 3).strip()]


def test_an_unbreakable_word_is_cut_without_separating_diacritics() -> None:
    word = "بَ" * 30  # letter + fatha
    parts = split_text(word, 7)
    assert "".join(parts) == word
    assert all(not p.startswith("\u064e") for p in parts)


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=8, max_value=500))
def test_split_never_loses_non_space_characters(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(len(p) <= limit for p in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())
