"""The intent classifier as it runs in the hub: plain numpy, no scikit-learn at run time.

Training (`nlu.model`) fits scikit-learn TF-IDF vectorizers and a linear SVM, then compiles them
into this form: per feature view its n-gram analyzer settings, vocabulary and idf weights, plus
one weight matrix. Scoring a message is then a few dictionary look-ups and one small matrix
product — well under a millisecond — and loading needs neither scikit-learn nor scipy, which
keeps start-up fast and worker processes small. A test checks that the scores equal
scikit-learn's own on the same fitted model.

The artifact is a joblib file of plain Python/numpy objects with a format name and version,
the training data's sha256, the scikit-learn version used to train, threshold, temperature,
training time and the cross-validation summary.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import joblib
import numpy as np

from nlu.filecache import load_once
from nlu.stem import stemmed_words

ARTIFACT_FORMAT = "tawasul-nlu"
ARTIFACT_VERSION = 2
_WORD_TOKEN = re.compile(r"(?u)\b\w+\b")


class ModelError(RuntimeError):
    """The artifact cannot be used (missing, corrupt, or from another format version)."""


def char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """Character n-grams inside words, each word padded with one space on both sides."""
    grams: list[str] = []
    for word in text.split():
        padded = f" {word} "
        size = len(padded)
        for n in range(lo, hi + 1):
            if n >= size:
                grams.append(padded)  # a word shorter than n counts once, whole
                break
            grams.extend(padded[i : i + n] for i in range(size - n + 1))
    return grams


def word_ngrams(text: str, lo: int, hi: int) -> list[str]:
    tokens = _WORD_TOKEN.findall(text)
    grams = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


_WORD_CACHE_LIMIT = 100_000


@lru_cache(maxsize=2048)
def _text_grams(kind: str, ngram_range: tuple[int, int], text: str) -> tuple[str, ...]:
    """Word or stem n-grams of a text. Cached for a short while: the intent and the urgency model
    have the same views, so each batch (or message) is cut into n-grams once, not twice."""
    if kind == "word":
        return tuple(word_ngrams(text, *ngram_range))
    if kind == "stem":
        return tuple(stemmed_words(text))
    raise ModelError(f"unknown feature view {kind!r}")


@dataclass
class FeatureView:
    """One TF-IDF view (sublinear tf, idf, l2 norm) over n-grams of one kind."""

    kind: str  # "char_wb" | "word" | "stem"
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: np.ndarray
    offset: int  # first column of this view in the weight matrix

    def grams(self, text: str) -> Sequence[str]:
        if self.kind == "char_wb":
            return char_wb_ngrams(text, *self.ngram_range)
        return _text_grams(self.kind, tuple(self.ngram_range), text)

    def known(self, text: str) -> list[int]:
        """Vocabulary indices of the n-grams of `text` (with repeats), unknown n-grams dropped."""
        vocab = self.vocabulary
        if self.kind != "char_wb":
            return [j for g in self.grams(text) if (j := vocab.get(g)) is not None]
        # Character n-grams never cross a word boundary, so each word's indices can be cached:
        # words repeat a lot in real traffic, and this skips most of the n-gram work.
        cache: dict[str, list[int]] = self.__dict__.setdefault("_cache", {})
        out: list[int] = []
        lo, hi = self.ngram_range
        for word in text.split():
            known = cache.get(word)
            if known is None:
                known = [j for g in char_wb_ngrams(word, lo, hi) if (j := vocab.get(g)) is not None]
                if len(cache) >= _WORD_CACHE_LIMIT:
                    cache.clear()
                cache[word] = known
            out += known
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_cache", None)  # a per-process speed-up, not part of the model
        return state


@dataclass
class IntentClassifier:
    views: list[FeatureView]
    weights: np.ndarray  # (n_features, n_labels), float32
    intercept: np.ndarray  # (n_labels,)
    labels: tuple[str, ...]
    temperature: float
    threshold: float
    data_sha256: str
    data_source: str
    n_examples: int
    spec: dict[str, Any]
    sklearn_version: str
    trained_at: str
    cv: dict[str, Any] | None = None
    artifact_version: int = field(default=ARTIFACT_VERSION)

    def scores(self, normalized: Sequence[str]) -> np.ndarray:
        """Decision scores, one row per (already normalised) text.

        The batch is scored in a handful of numpy calls, whatever its size: the n-gram counts of
        every (text, view) pair are laid end to end in one flat array, and tf-idf, each view's l2
        norm and the product with the weights are computed over it at once (at this size a numpy
        call costs more than its arithmetic, so one call per message and view was most of the time).
        """
        out = np.tile(self.intercept.astype(np.float64), (len(normalized), 1))
        starts: list[int] = []  # where each (text, view) pair with known n-grams starts in the flat arrays
        rows: list[int] = []
        offsets: list[int] = []
        flat_idx: list[int] = []
        flat_counts: list[int] = []
        for row, text in enumerate(normalized):
            for view in self.views:
                counts = Counter(view.known(text))
                if counts:
                    starts.append(len(flat_idx))
                    rows.append(row)
                    offsets.append(view.offset)
                    flat_idx += counts.keys()
                    flat_counts += counts.values()
        if not starts:
            return out
        lengths = np.array([*starts[1:], len(flat_idx)], dtype=np.intp) - np.array(starts, dtype=np.intp)
        idx = np.array(flat_idx, dtype=np.intp) + np.repeat(np.array(offsets, dtype=np.intp), lengths)
        values = (1.0 + np.log(np.array(flat_counts, dtype=np.float64))) * self._idf()[idx]
        norms = np.sqrt(np.add.reduceat(values * values, starts))
        values /= np.repeat(np.where(norms > 0.0, norms, 1.0), lengths)
        per_pair = np.add.reduceat(values[:, None] * self.weights[idx], starts, axis=0)
        np.add.at(out, np.array(rows, dtype=np.intp), per_pair)
        return out

    def _idf(self) -> np.ndarray:
        """Every view's idf weights in one array, indexed by weight-matrix row (built on first use)."""
        idf: np.ndarray | None = self.__dict__.get("_idf_all")
        if idf is None:
            idf = np.zeros(self.weights.shape[0], dtype=np.float64)
            for view in self.views:
                idf[view.offset : view.offset + len(view.idf)] = view.idf
            self.__dict__["_idf_all"] = idf
        return idf

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_idf_all", None)  # derived from the views at run time, not part of the artifact
        return state

    def predict_proba(self, normalized: Sequence[str]) -> np.ndarray:
        return softmax(self.scores(normalized), self.temperature)

    def describe(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "n_examples": self.n_examples,
            "n_features": int(self.weights.shape[0]),
            "data_sha256": self.data_sha256,
            "data_source": self.data_source,
            "temperature": round(self.temperature, 4),
            "threshold": round(self.threshold, 4),
            "spec": self.spec,
            "sklearn_version": self.sklearn_version,
            "trained_at": self.trained_at,
            "artifact_version": self.artifact_version,
            "cv": self.cv,
        }


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores / max(temperature, 1e-6)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def save_model(model: IntentClassifier, path: str | Path) -> Path:
    """Write atomically (temp file + rename) so concurrent workers never read half a file."""
    return dump_atomically({"format": ARTIFACT_FORMAT, "version": ARTIFACT_VERSION, "model": model}, path)


T = TypeVar("T")


def dump_atomically(blob: dict[str, Any], path: str | Path) -> Path:
    """joblib-dump `blob` to `path` through a temp file and a rename (also used by `nlu.urgency`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        joblib.dump(blob, tmp, compress=3)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; web and worker processes may run as other users
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_model(path: str | Path) -> IntentClassifier:
    """The artifact at `path` (unpickled once per version of the file; models are never mutated)."""
    path = Path(path)
    try:
        return load_once("intent-model", path, _read_model)
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: no model artifact") from exc


def read_artifact(path: Path, fmt: str, version: int, kind: type[T], error: type[Exception], what: str) -> T:
    """Unpickle an artifact written by `dump_atomically` and check its format, version and content.

    Every problem raises `error` with the path and what is wrong (`what` names the artifact in
    the message, e.g. "NLU" or "urgency").
    """
    try:
        blob = joblib.load(path)
    except FileNotFoundError as exc:
        raise error(f"{path}: no {what} artifact") from exc
    except Exception as exc:  # joblib/pickle raise many types for a damaged or foreign file
        raise error(f"{path}: cannot read {what} artifact: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != fmt:
        raise error(f"{path}: not a Tawasul {what} artifact")
    if blob.get("version") != version:
        raise error(f"{path}: {what} artifact version {blob.get('version')} != {version}")
    model = blob.get("model")
    if not isinstance(model, kind):
        raise error(f"{path}: the {what} artifact holds no {kind.__name__}")
    return model


def _read_model(path: Path) -> IntentClassifier:
    return read_artifact(path, ARTIFACT_FORMAT, ARTIFACT_VERSION, IntentClassifier, ModelError, "NLU")
