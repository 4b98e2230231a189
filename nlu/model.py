"""Training of the built-in intent classifier: features, cross-validation, calibration, threshold.

Pipeline (chosen by measurement, see docs/nlu.md): `nlu.normalize.normalize` → TF-IDF over
character 1–3-grams (within word boundaries) ∪ word 1–3-grams ∪ light-stem 1–2-grams with dialect
function words mapped to MSA (`nlu.stem`) → linear SVM (Crammer–Singer multi-class, balanced
class weights). Its decision scores become probabilities by a softmax with one temperature fitted
on cross-validated scores (temperature scaling), so `confidence` means what it says on held-out
data; the same cross-validated probabilities choose the `uncertain` threshold.

Optional (`ModelSpec(nb_alpha=...)`, off by default): a complement naive Bayes on the same
features stacked with the SVM, score = SVM score + w · naive-Bayes log-likelihood, with w and the
temperature fitted together on the cross-validated scores (least negative log-likelihood). Both
members are linear in the features, so the stack compiles into the same single weight matrix and
costs nothing at run time. It did better when scored on a style left out of training, but not
on the held-out set, so it is not the default (docs/nlu.md).

scikit-learn is used here only; `train` compiles the fitted model into `nlu.classifier`'s
numpy-only form, which is what the hub loads and runs.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from nlu.classifier import FeatureView, IntentClassifier, ModelError, load_model, save_model, softmax
from nlu.data import Dataset
from nlu.normalize import normalize
from nlu.stem import stemmed_words
from nlu.types import CATEGORIES

log = logging.getLogger("nlu.model")

DEFAULT_TARGET_ACCURACY = 0.95
THRESHOLD_FLOOR = 0.35
THRESHOLD_CEILING = 0.90


@dataclass(frozen=True)
class ModelSpec:
    """Hyper-parameters; the defaults are the measured choice (docs/nlu.md)."""

    char_ngrams: tuple[int, int] = (1, 3)
    char_analyzer: str = "char_wb"
    word_ngrams: tuple[int, int] | None = (1, 3)
    stemmed_words: bool = True  # light stems + dialect function words mapped to MSA (nlu.stem)
    c: float = 0.5
    multi_class: str = "crammer_singer"
    min_df: int = 1
    # Complement naive Bayes stacked with the SVM (its smoothing, e.g. 0.1); None: the SVM alone.
    nb_alpha: float | None = None

    def features(self) -> FeatureUnion:
        parts: list[tuple[str, Any]] = [
            (
                "char",
                TfidfVectorizer(
                    analyzer=self.char_analyzer,
                    ngram_range=self.char_ngrams,
                    sublinear_tf=True,
                    lowercase=False,
                    min_df=self.min_df,
                    dtype=np.float32,
                ),
            ),
        ]
        if self.word_ngrams:
            parts.append(
                (
                    "word",
                    TfidfVectorizer(
                        analyzer="word",
                        ngram_range=self.word_ngrams,
                        sublinear_tf=True,
                        lowercase=False,
                        min_df=self.min_df,
                        token_pattern=r"(?u)\b\w+\b",
                        dtype=np.float32,
                    ),
                )
            )
        if self.stemmed_words:
            parts.append(
                (
                    "stem",
                    TfidfVectorizer(
                        analyzer=stemmed_words, sublinear_tf=True, lowercase=False, min_df=self.min_df, dtype=np.float32
                    ),
                )
            )
        return FeatureUnion(parts)

    def classifier(self) -> LinearSVC:
        return LinearSVC(C=self.c, class_weight="balanced", multi_class=self.multi_class)

    def naive_bayes(self) -> ComplementNB | None:
        return ComplementNB(alpha=self.nb_alpha) if self.nb_alpha else None


def nb_scores(naive_bayes: ComplementNB, x: Any) -> np.ndarray:
    """Complement naive Bayes joint log-likelihoods: linear in the features, one column per class."""
    return np.asarray(x @ naive_bayes.feature_log_prob_.T, dtype=np.float64)


def fit_stack(svm: np.ndarray, nb: np.ndarray, y_index: np.ndarray) -> tuple[float, float]:
    """Temperature and naive-Bayes weight: softmax((svm + w·nb) / T) with the least held-out NLL.

    Fitted as logits a·svm + b·nb with a > 0, b ≥ 0 (L-BFGS-B, analytic gradient); T = 1/a,
    w = b/a. With w = 0 this is plain temperature scaling of the SVM.
    """
    from scipy.optimize import minimize  # training only; scikit-learn depends on scipy anyway

    rows = np.arange(len(y_index))
    # Centre each row: softmax ignores a per-row shift, and naive Bayes log-likelihoods carry a
    # large one (the message's length), which would only slow the optimiser down.
    svm = svm - svm.mean(axis=1, keepdims=True)
    nb = nb - nb.mean(axis=1, keepdims=True)

    def nll(params: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = params
        z = a * svm + b * nb
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        p = np.exp(log_p)
        p[rows, y_index] -= 1.0
        grad = np.array([np.mean((p * svm).sum(axis=1)), np.mean((p * nb).sum(axis=1))])
        return float(-log_p[rows, y_index].mean()), grad

    start = np.array([1.0 / fit_temperature(svm, y_index), 0.0])
    result = minimize(nll, start, jac=True, method="L-BFGS-B", bounds=[(1e-3, 1e3), (0.0, 1e3)])
    a, b = (float(v) for v in result.x)
    return 1.0 / a, b / a


def fit_temperature(scores: np.ndarray, y_index: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of held-out labels (golden section)."""

    def nll(log_t: float) -> float:
        p = softmax(scores, math.exp(log_t))
        return float(-np.mean(np.log(p[np.arange(len(y_index)), y_index] + 1e-12)))

    lo, hi = math.log(0.01), math.log(10.0)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return math.exp((lo + hi) / 2)


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, target: float = DEFAULT_TARGET_ACCURACY) -> float:
    """Lowest threshold whose auto-routed (confidence ≥ t) held-out predictions reach `target` accuracy.

    Searched on a 0.01 grid between THRESHOLD_FLOOR and THRESHOLD_CEILING; below the floor the
    top intent is barely likelier than the next, so such messages always go to human triage.
    """
    for hundredths in range(round(THRESHOLD_FLOOR * 100), round(THRESHOLD_CEILING * 100) + 1):
        t = hundredths / 100
        accepted = confidence >= t
        if not accepted.any():
            break
        if correct[accepted].mean() >= target:
            return t
    return THRESHOLD_CEILING


@dataclass(frozen=True)
class CrossValidation:
    labels: tuple[str, ...]
    y: np.ndarray  # true label index per example
    scores: np.ndarray  # out-of-fold scores of the model as compiled: SVM score + nb_weight · NB
    folds: int
    temperature: float = 1.0  # fitted on `scores` (with nb_weight)
    nb_weight: float = 0.0


def _columns(s: np.ndarray, present: np.ndarray, n_classes: int, fill: float) -> np.ndarray:
    """Scores of the classes seen in a fold's training part, placed in the columns of all classes."""
    if s.ndim == 1:  # binary problem: sklearn returns one column
        s = np.stack([-s, s], axis=1)
    # A fold may miss a class in training only if stratification failed; map columns by class.
    full = np.full((s.shape[0], n_classes), fill)
    full[:, present] = s
    return full


def cross_validate(
    texts: Sequence[str], labels: Sequence[str], spec: ModelSpec, folds: int = 5, seed: int = 0
) -> CrossValidation | None:
    """Out-of-fold scores with stratified k-fold, and the calibration fitted on them.

    None when a class is too small to split.
    """
    classes = tuple(sorted(set(labels)))
    y = np.array([classes.index(lab) for lab in labels])
    smallest = int(np.bincount(y).min()) if len(classes) > 1 else 0
    folds = min(folds, smallest)
    if folds < 2:
        return None
    normalized = [normalize(t) for t in texts]
    svm = np.zeros((len(texts), len(classes)))
    nb = np.zeros((len(texts), len(classes)))
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(normalized, y):
        feats = spec.features()
        clf = spec.classifier()
        x_train = feats.fit_transform([normalized[i] for i in train_idx])
        x_test = feats.transform([normalized[i] for i in test_idx])
        clf.fit(x_train, y[train_idx])
        svm[test_idx] = _columns(clf.decision_function(x_test), clf.classes_, len(classes), -10.0)
        bayes = spec.naive_bayes()
        if bayes is not None:
            bayes.fit(x_train, y[train_idx])
            s = nb_scores(bayes, x_test)
            nb[test_idx] = _columns(s, bayes.classes_, len(classes), float(s.min()) - 10.0)
    if spec.naive_bayes() is None:
        return CrossValidation(classes, y, svm, folds, fit_temperature(svm, y), 0.0)
    temperature, weight = fit_stack(svm, nb, y)
    return CrossValidation(classes, y, svm + weight * nb, folds, temperature, weight)


def summarize(cv: CrossValidation, temperature: float, threshold: float) -> dict[str, Any]:
    pred = cv.scores.argmax(axis=1)
    p, r, f, s = precision_recall_fscore_support(cv.y, pred, labels=range(len(cv.labels)), zero_division=0)
    per_class = {
        lab: {
            "precision": round(float(p[i]), 4),
            "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4),
            "support": int(s[i]),
        }
        for i, lab in enumerate(cv.labels)
    }
    cats = [lab for lab in CATEGORIES if lab in cv.labels]
    probs = softmax(cv.scores, temperature)
    conf = probs.max(axis=1)
    accepted = conf >= threshold
    return {
        "folds": cv.folds,
        "macro_f1": round(float(f1_score(cv.y, pred, average="macro")), 4),
        "category_macro_f1": round(float(np.mean([per_class[c]["f1"] for c in cats])), 4) if cats else None,
        "accuracy": round(float((pred == cv.y).mean()), 4),
        "auto_routed_share": round(float(accepted.mean()), 4),
        "auto_routed_accuracy": round(float((pred == cv.y)[accepted].mean()), 4) if accepted.any() else None,
        "expected_calibration_error": round(expected_calibration_error(conf, pred == cv.y), 4),
        "temperature": round(cv.temperature, 4),
        "nb_weight": round(cv.nb_weight, 4),
        "per_class": per_class,
    }


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (confidence > lo) & (confidence <= hi)
        if m.any():
            total += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return total


def compile_model(
    features: FeatureUnion,
    classifier: LinearSVC,
    naive_bayes: ComplementNB | None = None,
    nb_weight: float = 0.0,
) -> tuple[list[FeatureView], np.ndarray, np.ndarray]:
    """The fitted vectorizers and linear models as numpy-only feature views and one weight matrix.

    Scores are the SVM's decision function plus `nb_weight` times the naive-Bayes log-likelihoods.
    """
    views: list[FeatureView] = []
    offset = 0
    for name, vec in features.transformer_list:
        kind = "stem" if callable(vec.analyzer) else str(vec.analyzer)
        if kind not in ("char_wb", "word", "stem") or vec.norm != "l2" or not vec.sublinear_tf:
            raise ValueError(f"feature view {name!r} cannot be compiled (analyzer {vec.analyzer!r})")
        vocabulary = {str(k): int(v) for k, v in vec.vocabulary_.items()}
        views.append(FeatureView(kind, tuple(vec.ngram_range), vocabulary, vec.idf_.astype(np.float64), offset))
        offset += len(vocabulary)
    coef = np.asarray(classifier.coef_, dtype=np.float32)
    if coef.shape[0] == 1:  # binary problem: one score column for classes_[1]
        coef = np.vstack([-coef, coef])
        intercept = np.array([-classifier.intercept_[0], classifier.intercept_[0]])
    else:
        intercept = np.asarray(classifier.intercept_, dtype=np.float64)
    if naive_bayes is not None and nb_weight:
        if list(naive_bayes.classes_) != list(classifier.classes_):
            raise ValueError("the naive Bayes and the SVM were fitted on different classes")
        coef = (coef.astype(np.float64) + nb_weight * naive_bayes.feature_log_prob_).astype(np.float32)
    return views, np.ascontiguousarray(coef.T), intercept


def train(
    dataset: Dataset,
    *,
    spec: ModelSpec | None = None,
    folds: int = 5,
    seed: int = 0,
    target_accuracy: float = DEFAULT_TARGET_ACCURACY,
    threshold: float | None = None,
) -> IntentClassifier:
    """Cross-validate (for temperature, threshold and the report), fit on all examples, compile."""
    spec = spec or ModelSpec()
    started = time.perf_counter()
    cv = cross_validate(dataset.texts, dataset.labels, spec, folds=folds, seed=seed)
    if cv is not None:
        temperature, nb_weight = cv.temperature, cv.nb_weight
        probs = softmax(cv.scores, temperature)
        chosen = choose_threshold(probs.max(axis=1), probs.argmax(axis=1) == cv.y, target_accuracy)
    else:
        # Too few examples to cross-validate: no calibration, and the SVM alone.
        temperature, nb_weight, chosen = 1.0, 0.0, 0.5
    final_threshold = chosen if threshold is None else threshold
    summary = summarize(cv, temperature, final_threshold) if cv is not None else None
    feats = spec.features()
    clf = spec.classifier()
    normalized = [normalize(t) for t in dataset.texts]
    x = feats.fit_transform(normalized)
    clf.fit(x, list(dataset.labels))
    bayes = spec.naive_bayes() if nb_weight else None
    if bayes is not None:
        bayes.fit(x, list(dataset.labels))
    views, weights, intercept = compile_model(feats, clf, bayes, nb_weight)
    model = IntentClassifier(
        views=views,
        weights=weights,
        intercept=intercept,
        labels=tuple(str(c) for c in clf.classes_),
        temperature=temperature,
        threshold=final_threshold,
        data_sha256=dataset.sha256,
        data_source=str(dataset.source),
        n_examples=len(dataset.texts),
        spec=asdict(spec),
        sklearn_version=sklearn.__version__,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        cv=summary,
    )
    log.info(
        "nlu.train examples=%d labels=%d seconds=%.1f threshold=%.2f temperature=%.3f nb_weight=%.3f",
        model.n_examples,
        len(model.labels),
        time.perf_counter() - started,
        model.threshold,
        temperature,
        nb_weight,
    )
    return model


__all__ = ["IntentClassifier", "ModelError", "ModelSpec", "load_model", "save_model", "softmax", "train"]
