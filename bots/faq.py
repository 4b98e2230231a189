"""The FAQ knowledge base (`data/faq.yml`) and retrieval over it: answer when confident, else nothing.

`FaqBook.from_file(path)` loads and validates the file (a clear `FaqError` naming the file, line and
entry) and logs a warning for every entry past its `review_by` date. `book.match(text, language=...)`
returns the best entry with the question it matched, a confidence in [0, 1] and the answer in the
citizen's language, or None below the answering threshold; `book.top(text, k)` shows the ranking.

How an entry is scored (chosen by measurement in `bench/faq.py`, figures in docs/benchmarks.md):
text is normalised by `nlu.normalize` (hamza/alef/yaa/taa-marbuta variants, diacritics, elongation,
Arabic-Indic digits, emoji and numbers as placeholders), then

    score = 0.3 × cosine(char 2-4-gram TF-IDF of the text, the entry's questions)
          + 0.7 × BM25 over char 3-5-grams of the entry's questions and both answers, divided by the
                  text's best possible BM25 (so "how much of what the text says the entry covers")

and the top entry's confidence is a logistic function of its score, its lead over the runner-up and
its question similarity, fitted on the development set (data/evaluation/faq_dev.yml plus the NLU's
non-inquiry examples). Everything runs on plain numpy: no scikit-learn or scipy at run time.

This module decides nothing about the conversation: whether a message should get an FAQ answer at all
(a complaint, a ticket number, a handoff request) is the dialogue's call (`bots/dialogue.py`), made
with the NLU's intent; the FAQ only says how sure it is that an entry answers the text.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bots.faq_index import Bm25Index, TfidfIndex, char_grams, words
from bots.templates import reply_language
from nlu.normalize import normalize

log = logging.getLogger("tawasul.faq")

LANGUAGES = ("ar", "en")
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FIELDS = ("id", "topic", "owner_unit", "review_by", "questions_ar", "questions_en", "answer_ar", "answer_en")

# Chosen on the development split by bench/faq.py (see docs/benchmarks.md, "FAQ retrieval").
QUESTION_WEIGHT = 0.3  # share of the questions-only character TF-IDF cosine in the entry score
QUESTION_NGRAMS = (2, 4)
CONTENT_NGRAMS = (3, 5)
# Confidence = sigmoid(bias + w_score·score + w_lead·(score − runner-up) + w_question·question cosine).
CALIBRATION = (-6.88, 5.72, 1.8, 16.77)
THRESHOLD = 0.753  # lowest confidence answered; on the development split answers above it are ≥ 95 % right


class FaqError(ValueError):
    """data/faq.yml is malformed; the message names the file, the line and the entry."""


@dataclass(frozen=True)
class FaqEntry:
    id: str
    topic: str
    owner_unit: str
    review_by: date
    questions_ar: tuple[str, ...]
    questions_en: tuple[str, ...]
    answer_ar: str
    answer_en: str

    @property
    def questions(self) -> tuple[str, ...]:
        return self.questions_ar + self.questions_en

    def questions_in(self, language: str) -> tuple[str, ...]:
        return self.questions_en if reply_language(language) == "en" else self.questions_ar

    def answer(self, language: str) -> str:
        return self.answer_en if reply_language(language) == "en" else self.answer_ar


@dataclass(frozen=True)
class FaqMatch:
    """One entry for one text: the question it matched, how sure we are, the answer to send."""

    entry: FaqEntry
    question: str  # the entry's question closest to the text, in the reply language
    score: float  # confidence in [0, 1] that this entry answers the text
    answer: str  # in the reply language
    language: str  # "ar" or "en": the reply language
    retrieval: float  # the raw entry score behind `score` (diagnostics)

    @property
    def entry_id(self) -> str:
        return self.entry.id


class FaqBook:
    """The validated entries and their indexes; thread-safe for reading once built."""

    def __init__(self, entries: Sequence[FaqEntry], *, threshold: float = THRESHOLD, source: str = "") -> None:
        if not entries:
            raise FaqError(f"{source or 'FAQ'}: no entries")
        self.entries: tuple[FaqEntry, ...] = tuple(entries)
        self.threshold = threshold
        self.source = source
        self._retriever = FaqRetriever(self.entries)

    @classmethod
    def from_file(cls, path: Path | str, *, today: date | None = None, threshold: float = THRESHOLD) -> FaqBook:
        path = Path(path)
        entries = load_entries(path)
        warn_overdue(entries, path, today or date.today())
        return cls(entries, threshold=threshold, source=str(path))

    def match(self, text: str, *, language: str) -> FaqMatch | None:
        """The best entry if its confidence reaches the threshold, else None."""
        ranked = self._retriever.rank(normalize(text), k=1)
        if not ranked or ranked[0][2] < self.threshold:
            return None
        return self._match(*ranked[0], language)

    def top(self, text: str, k: int = 5, *, language: str = "ar") -> list[FaqMatch]:
        """The k best entries with their confidences, answered or not (for diagnostics and evaluation)."""
        return [self._match(*r, language) for r in self._retriever.rank(normalize(text), k=k)]

    def _match(self, index: int, retrieval: float, confidence: float, normalized: str, language: str) -> FaqMatch:
        entry = self.entries[index]
        lang = reply_language(language)
        return FaqMatch(
            entry=entry,
            question=self._retriever.closest_question(normalized, index, lang),
            score=confidence,
            answer=entry.answer(lang),
            language=lang,
            retrieval=retrieval,
        )


class FaqRetriever:
    """Scores every entry for a normalised text (see the module docstring for the formula)."""

    def __init__(self, entries: Sequence[FaqEntry], *, question_weight: float = QUESTION_WEIGHT) -> None:
        self.question_weight = question_weight
        norm = [[normalize(q) for q in e.questions] for e in entries]
        self._questions = TfidfIndex([" ".join(qs) for qs in norm], char_grams(*QUESTION_NGRAMS))
        self._content = Bm25Index(
            [
                " ".join([*qs, normalize(e.answer_ar), normalize(e.answer_en)])
                for qs, e in zip(norm, entries, strict=True)
            ],
            char_grams(*CONTENT_NGRAMS),
        )
        # One row per question, to say which question of the chosen entry the text is closest to.
        self._each = TfidfIndex([q for qs in norm for q in qs], char_grams(*QUESTION_NGRAMS))
        self._by_language: list[dict[str, list[tuple[int, str]]]] = []
        row = 0
        for e in entries:
            rows = {}
            for lang, qs in (("ar", e.questions_ar), ("en", e.questions_en)):
                rows[lang] = [(row + i, q) for i, q in enumerate(qs)]
                row += len(qs)
            self._by_language.append(rows)

    def scores(self, normalized: str) -> tuple[np.ndarray, np.ndarray]:
        """Entry scores and the questions-only cosines behind them."""
        questions = self._questions.scores(normalized)
        content = self._content.scores(normalized)
        return self.question_weight * questions + (1 - self.question_weight) * content, questions

    def rank(self, normalized: str, k: int) -> list[tuple[int, float, float, str]]:
        """(entry index, score, confidence, normalised text) of the k best entries, best first."""
        if not words(normalized):  # empty, emoji, numbers only: nothing to look up
            return []
        combined, questions = self.scores(normalized)
        k = max(1, min(k, len(combined)))
        order = np.argsort(-combined, kind="stable")[: max(k, 2)]
        best = float(combined[order[0]])
        if best <= 0.0:
            return []
        runner_up = float(combined[order[1]]) if len(order) > 1 else 0.0
        out = []
        for i in order[:k]:
            score = float(combined[i])
            lead = score - (runner_up if i == order[0] else best)
            out.append((int(i), score, confidence(score, lead, float(questions[i])), normalized))
        return out

    def closest_question(self, normalized: str, index: int, language: str) -> str:
        """The entry's question (in `language` if it has any) most similar to the text."""
        rows = self._by_language[index]
        candidates = rows[language] or rows["ar"] + rows["en"]
        cosines = self._each.scores(normalized)
        return max(candidates, key=lambda row_question: cosines[row_question[0]])[1]


def confidence(score: float, lead: float, question: float) -> float:
    """Probability-like confidence that the top entry answers the text (logistic, fitted on dev)."""
    bias, w_score, w_lead, w_question = CALIBRATION
    z = bias + w_score * score + w_lead * lead + w_question * question
    return 1.0 / (1.0 + math.exp(-z))


# --- loading and validation -------------------------------------------------------------------------


def load_entries(path: Path) -> list[FaqEntry]:
    """Parse and validate the file; raise FaqError naming the file, line and entry on the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FaqError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise FaqError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise FaqError(f"{path}: expected a mapping with an `entries` list")
    if data.get("version", 1) != 1:
        raise FaqError(f"{path}: unsupported version {data.get('version')!r} (expected 1)")
    lines = _entry_lines(node)
    entries: list[FaqEntry] = []
    seen: dict[str, int] = {}
    questions_seen: dict[str, str] = {}
    for n, raw in enumerate(data["entries"]):
        where = f"{path}:{lines[n] if n < len(lines) else '?'}"
        entry = _entry(raw, where, n)
        if entry.id in seen:
            raise FaqError(f"{where}: entry {entry.id!r}: duplicate id (first at entry #{seen[entry.id] + 1})")
        seen[entry.id] = n
        for q in entry.questions:
            key = normalize(q)
            if key in questions_seen and questions_seen[key] != entry.id:
                raise FaqError(
                    f"{where}: entry {entry.id!r}: question {q!r} is also a question of {questions_seen[key]!r}"
                )
            questions_seen[key] = entry.id
        entries.append(entry)
    if not entries:
        raise FaqError(f"{path}: no entries")
    return entries


def warn_overdue(entries: Sequence[FaqEntry], path: Path, today: date) -> list[FaqEntry]:
    overdue = [e for e in entries if e.review_by < today]
    for e in overdue:
        log.warning(
            "faq.review_overdue file=%s entry=%s owner_unit=%s review_by=%s", path, e.id, e.owner_unit, e.review_by
        )
    return overdue


def _entry_lines(node: Any) -> list[int]:
    """1-based line of each entry in the `entries` sequence of the composed document."""
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "entries" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _entry(raw: Any, where: str, n: int) -> FaqEntry:
    if not isinstance(raw, dict):
        raise FaqError(f"{where}: entry #{n + 1} is not a mapping")
    label = f"entry {raw['id']!r}" if isinstance(raw.get("id"), str) and raw["id"] else f"entry #{n + 1}"
    unknown = sorted(set(map(str, raw)) - set(_FIELDS))
    if unknown:
        raise FaqError(f"{where}: {label}: unknown field(s) {', '.join(unknown)}")
    missing = [f for f in _FIELDS if raw.get(f) in (None, "", [])]
    if missing:
        raise FaqError(f"{where}: {label}: missing or empty {', '.join(missing)}")
    for f in ("id", "topic", "owner_unit", "answer_ar", "answer_en"):
        if not isinstance(raw[f], str) or not raw[f].strip():
            raise FaqError(f"{where}: {label}: {f} must be non-empty text")
    if not _ID.match(raw["id"]):
        raise FaqError(f"{where}: {label}: id must be lower-case words joined by '-'")
    questions = {}
    for f in ("questions_ar", "questions_en"):
        value = raw[f]
        if not isinstance(value, list) or not all(isinstance(q, str) and q.strip() for q in value):
            raise FaqError(f"{where}: {label}: {f} must be a list of non-empty questions")
        if not any(words(normalize(q)) for q in value):
            raise FaqError(f"{where}: {label}: {f} has no question with words in it")
        questions[f] = tuple(q.strip() for q in value)
    return FaqEntry(
        id=raw["id"],
        topic=raw["topic"].strip(),
        owner_unit=raw["owner_unit"].strip(),
        review_by=_iso_date(raw["review_by"], where, label),
        questions_ar=questions["questions_ar"],
        questions_en=questions["questions_en"],
        answer_ar=" ".join(raw["answer_ar"].split()),
        answer_en=" ".join(raw["answer_en"].split()),
    )


def _iso_date(value: Any, where: str, label: str) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise FaqError(f"{where}: {label}: review_by must be an ISO date (YYYY-MM-DD), got {value!r}")


__all__ = ["FaqBook", "FaqEntry", "FaqError", "FaqMatch", "FaqRetriever", "reply_language"]
