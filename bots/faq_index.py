"""Lexical indexes behind FAQ retrieval, in plain numpy: character n-gram TF-IDF and BM25.

Both are inverted indexes (per term: the documents holding it and a weight), so scoring a query is
a few dictionary look-ups and one `np.bincount` — no scikit-learn or scipy at run time, in line
with `nlu/classifier.py`. The analyzers take text already normalised by `nlu.normalize`.

This module knows nothing about FAQ entries, languages or thresholds; `bots/faq.py` does.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nlu.classifier import char_wb_ngrams
from nlu.stem import stem

_WORD = re.compile(r"\w+")
# Placeholder tokens from `nlu.normalize` (ticket numbers, phones, emoji…) say what kind of thing
# was there, not what the citizen asks; they must not make two texts look alike.
_PLACEHOLDERS = frozenset(
    ("xticket", "xphone", "xid", "xnum", "xemail", "xurl", "xuser", "xemo", "xemoneg", "xemopos", "xemopray")
)

Analyzer = Callable[[str], list[str]]


def words(normalized: str) -> list[str]:
    """Word tokens of normalised text, placeholders dropped."""
    return [w for w in _WORD.findall(normalized) if w not in _PLACEHOLDERS]


def stems(normalized: str) -> list[str]:
    """Light Arabic stems (dialect function words mapped to MSA), Latin words as they are."""
    return [stem(w) for w in words(normalized)]


def char_grams(lo: int, hi: int) -> Analyzer:
    """Character n-grams of lengths lo..hi inside words (each word padded with a space)."""

    def analyze(normalized: str) -> list[str]:
        return char_wb_ngrams(" ".join(words(normalized)), lo, hi)

    return analyze


@dataclass(frozen=True)
class _Postings:
    """Term → slice of (rows, weights): the transposed sparse document-term matrix."""

    vocabulary: dict[str, int]
    indptr: np.ndarray  # (n_terms + 1,)
    rows: np.ndarray  # document index per posting, int32
    weights: np.ndarray  # weight per posting, float64
    n_docs: int

    @classmethod
    def build(cls, docs: Sequence[dict[str, float]]) -> _Postings:
        by_term: dict[str, list[tuple[int, float]]] = {}
        for row, doc in enumerate(docs):
            for term, weight in doc.items():
                by_term.setdefault(term, []).append((row, weight))
        vocabulary = {term: i for i, term in enumerate(by_term)}
        indptr = np.zeros(len(by_term) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(p) for p in by_term.values()])
        flat = [posting for postings in by_term.values() for posting in postings]
        rows = np.fromiter((r for r, _ in flat), dtype=np.int32, count=len(flat))
        weights = np.fromiter((w for _, w in flat), dtype=np.float64, count=len(flat))
        return cls(vocabulary, indptr, rows, weights, len(docs))

    def accumulate(self, query: dict[int, float]) -> np.ndarray:
        """Σ over query terms of query weight × document weight, for every document.

        The postings of all query terms are gathered in one vectorised step (no loop per term).
        """
        if not query:
            return np.zeros(self.n_docs)
        terms = np.fromiter(query.keys(), dtype=np.int64, count=len(query))
        weights = np.fromiter(query.values(), dtype=np.float64, count=len(query))
        starts = self.indptr[terms]
        lengths = self.indptr[terms + 1] - starts
        ends = np.cumsum(lengths)
        positions = np.arange(int(ends[-1])) + np.repeat(starts - (ends - lengths), lengths)
        contributions = self.weights[positions] * np.repeat(weights, lengths)
        return np.bincount(self.rows[positions], contributions, minlength=self.n_docs)


class TfidfIndex:
    """Cosine similarity of sublinear-tf × smooth-idf vectors, l2-normalised (scikit-learn's defaults)."""

    def __init__(self, documents: Sequence[str], analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        counts = [Counter(analyzer(d)) for d in documents]
        df = Counter(term for c in counts for term in c)
        n = len(documents)
        self.idf = {term: math.log((1 + n) / (1 + k)) + 1.0 for term, k in df.items()}
        self._postings = _Postings.build([self._unit(c) for c in counts])

    def _unit(self, counts: Counter[str]) -> dict[str, float]:
        vec = {t: (1.0 + math.log(k)) * self.idf[t] for t, k in counts.items() if t in self.idf}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / norm for t, v in vec.items()}

    def scores(self, normalized: str) -> np.ndarray:
        """Cosine of the query with every document, in [0, 1]."""
        vocab = self._postings.vocabulary
        query = {vocab[t]: v for t, v in self._unit(Counter(self.analyzer(normalized))).items()}
        return self._postings.accumulate(query)


class Bm25Index:
    """Okapi BM25 (Lucene's idf), scores divided by the query's best possible score.

    The divisor is Σ idf × (k1 + 1) over the query's distinct terms, counting a term no document
    holds at the idf of a term seen nowhere, so the result is in [0, 1] and reads as "how much of
    what the query says, weighted by rarity, this document covers".
    """

    def __init__(self, documents: Sequence[str], analyzer: Analyzer, k1: float = 1.2, b: float = 0.75) -> None:
        self.analyzer = analyzer
        self.k1 = k1
        counts = [Counter(analyzer(d)) for d in documents]
        lengths = [sum(c.values()) for c in counts]
        avg = (sum(lengths) / len(lengths)) if lengths else 1.0
        n = len(documents)
        df = Counter(term for c in counts for term in c)
        self.idf = {term: math.log(1 + (n - k + 0.5) / (k + 0.5)) for term, k in df.items()}
        self.unseen_idf = math.log(1 + (n + 0.5) / 0.5)
        docs = [
            {t: self.idf[t] * f * (k1 + 1) / (f + k1 * (1 - b + b * length / (avg or 1.0))) for t, f in c.items()}
            for c, length in zip(counts, lengths, strict=True)
        ]
        self._postings = _Postings.build(docs)

    def scores(self, normalized: str) -> np.ndarray:
        terms = set(self.analyzer(normalized))
        if not terms:
            return np.zeros(self._postings.n_docs)
        vocab = self._postings.vocabulary
        best = sum(self.idf.get(t, self.unseen_idf) for t in terms) * (self.k1 + 1)
        raw = self._postings.accumulate({vocab[t]: 1.0 for t in terms if t in vocab})
        return raw / best
