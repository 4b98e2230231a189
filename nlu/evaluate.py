"""Evaluation of the built-in pipeline on any labelled file (Rasa YAML or CSV).

Used by `tawasul nlu-eval` and the benchmarks.

* `evaluate`: stratified k-fold cross-validation; every fold trains the same pipeline
  `tawasul train` builds. The report gives per-class precision/recall/F1, the confusion matrix
  and, when the file has them, the macro-F1 over the four ticket categories.
* `evaluate_heldout`: train on one file exactly as `tawasul train` does (calibration and
  threshold from cross-validation on that file only), then score another file the model never
  saw. When the test file uses the five labels of the hidden real-tweet set (inquiry, complaint,
  suggestion, consultation, other) and the model has the dialogue intents, the model's greeting,
  thanks, ticket_status, objection, handoff and other all count as `other` (`map_to_five`). The
  report adds how many messages the model would route automatically (confidence ≥ threshold)
  and how accurate those are, and the calibration on the new data.
* `evaluate_urgency`: train the urgent-safety model on its training file (thresholds from that
  file's cross-validation only), then score a held-out file with the lexicon and the model
  together, and each alone: recall and precision of urgent and elevated, urgent recall counting
  elevated as caught, the confusion matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from nlu.classifier import IntentClassifier
from nlu.data import Dataset
from nlu.model import ModelSpec, cross_validate, expected_calibration_error, train
from nlu.normalize import normalize, normalize_chars, tokens_for_model
from nlu.types import CATEGORIES, DIALOGUE_INTENTS, INTENTS
from nlu.urgency import DEFAULT_UNGATED, LEVELS, Lexicon, UrgencyDetector, UrgencyModel, level_metrics, trained_urgency

# The labels of the hidden evaluation set of real tweets (and of data/evaluation/nlu_heldout.yml).
FIVE_LABELS: tuple[str, ...] = (*CATEGORIES, "other")


class EvaluationError(ValueError):
    """The data cannot be cross-validated (e.g. a class with fewer than two examples)."""


@dataclass(frozen=True)
class Evaluation:
    labels: tuple[str, ...]
    per_class: dict[str, dict[str, float]]
    macro_f1: float
    category_macro_f1: float | None
    accuracy: float
    confusion: list[list[int]]
    folds: int
    n_examples: int
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n_examples": self.n_examples,
            "folds": self.folds,
            "category_macro_f1": self.category_macro_f1,
            "macro_f1": self.macro_f1,
            "accuracy": self.accuracy,
            "per_class": self.per_class,
            "labels": list(self.labels),
            "confusion": self.confusion,
        }


def _order(labels: set[str]) -> tuple[str, ...]:
    known = [lab for lab in INTENTS if lab in labels]
    return tuple(known + sorted(labels - set(known)))


def map_to_five(intent: str) -> str:
    """An intent of the hub as one of the five labels: the dialogue intents are all `other`."""
    return "other" if intent in DIALOGUE_INTENTS else intent


def _per_class(y_true: list[str], y_pred: list[str], order: tuple[str, ...]) -> dict[str, dict[str, float]]:
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(order), zero_division=0)
    return {
        lab: {
            "precision": round(float(p[i]), 4),
            "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4),
            "support": int(s[i]),
        }
        for i, lab in enumerate(order)
    }


def evaluate(dataset: Dataset, *, folds: int = 5, seed: int = 0, spec: ModelSpec | None = None) -> Evaluation:
    cv = cross_validate(dataset.texts, dataset.labels, spec or ModelSpec(), folds=folds, seed=seed)
    if cv is None:
        raise EvaluationError(f"{dataset.source}: every label needs at least two examples for cross-validation")
    order = _order(set(cv.labels))
    y_true = [cv.labels[i] for i in cv.y]
    y_pred = [cv.labels[i] for i in cv.scores.argmax(axis=1)]
    per_class = _per_class(y_true, y_pred, order)
    cats = [c for c in CATEGORIES if c in per_class]
    return Evaluation(
        labels=order,
        per_class=per_class,
        macro_f1=round(float(f1_score(y_true, y_pred, labels=list(order), average="macro")), 4),
        category_macro_f1=round(float(np.mean([per_class[c]["f1"] for c in cats])), 4) if cats else None,
        accuracy=round(float(np.mean(np.array(y_true) == np.array(y_pred))), 4),
        confusion=confusion_matrix(y_true, y_pred, labels=list(order)).tolist(),
        folds=cv.folds,
        n_examples=len(y_true),
        source=str(dataset.source),
    )


@dataclass(frozen=True)
class HeldoutEvaluation:
    """A model trained on one file, scored on another it never saw."""

    labels: tuple[str, ...]  # the test file's labels (after mapping), in report order
    per_class: dict[str, dict[str, float]]
    macro_f1: float  # over `labels`
    category_macro_f1: float | None
    accuracy: float
    confusion: list[list[int]]
    n_examples: int
    source: str  # the test file
    train_source: str
    n_train: int
    mapped_to_five: bool
    threshold: float
    coverage: float  # share of test messages with confidence ≥ threshold (routed automatically)
    accuracy_above_threshold: float | None
    mean_confidence: float
    expected_calibration_error: float
    predicted: dict[str, int]  # the model's own intents, before mapping: how often each was chosen
    cv_category_macro_f1: float | None  # the training file's cross-validation, for comparison
    overlap: int | None = None  # test texts whose normalised form is also in the training file

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "train_source": self.train_source,
            "n_examples": self.n_examples,
            "n_train": self.n_train,
            "mapped_to_five": self.mapped_to_five,
            "category_macro_f1": self.category_macro_f1,
            "macro_f1": self.macro_f1,
            "accuracy": self.accuracy,
            "threshold": self.threshold,
            "coverage": self.coverage,
            "accuracy_above_threshold": self.accuracy_above_threshold,
            "mean_confidence": self.mean_confidence,
            "expected_calibration_error": self.expected_calibration_error,
            "per_class": self.per_class,
            "labels": list(self.labels),
            "confusion": self.confusion,
            "predicted": self.predicted,
            "cv_category_macro_f1": self.cv_category_macro_f1,
            "overlap": self.overlap,
        }


def evaluate_heldout(
    train_data: Dataset,
    test_data: Dataset,
    *,
    folds: int = 5,
    seed: int = 0,
    spec: ModelSpec | None = None,
    threshold: float | None = None,
) -> HeldoutEvaluation:
    """Train on `train_data` as `tawasul train` does, then score `test_data` (never seen in training).

    Predictions are mapped to the five labels (`map_to_five`) when the test labels are a subset
    of them and the model knows intents outside them. Coverage and accuracy above the threshold
    use the model's own confidence in its (unmapped) intent — what the hub's `uncertain` flag uses.
    """
    model = train(train_data, spec=spec, folds=folds, seed=seed, threshold=threshold)
    seen = {normalize(t) for t in train_data.texts}
    overlap = sum(normalize(t) in seen for t in test_data.texts)
    return replace(score_heldout(model, test_data, train_source=str(train_data.source)), overlap=overlap)


def score_heldout(model: IntentClassifier, test_data: Dataset, *, train_source: str = "") -> HeldoutEvaluation:
    """Score an already trained `IntentClassifier` on a labelled file (see `evaluate_heldout`)."""
    test_labels = set(test_data.labels)
    mapped = test_labels <= set(FIVE_LABELS) and not set(model.labels) <= set(FIVE_LABELS)
    probs = model.predict_proba([normalize(t) for t in test_data.texts])
    own = [model.labels[i] for i in probs.argmax(axis=1)]
    y_pred = [map_to_five(p) for p in own] if mapped else own
    y_true = list(test_data.labels)
    order = FIVE_LABELS if mapped else _order(test_labels)
    per_class = _per_class(y_true, y_pred, order)
    cats = [c for c in CATEGORIES if c in test_labels]
    confidence = probs.max(axis=1)
    correct = np.array(y_true) == np.array(y_pred)
    accepted = confidence >= model.threshold
    predicted: dict[str, int] = {}
    for p in own:
        predicted[p] = predicted.get(p, 0) + 1
    cv = model.cv or {}
    return HeldoutEvaluation(
        labels=order,
        per_class=per_class,
        macro_f1=round(float(f1_score(y_true, y_pred, labels=list(order), average="macro", zero_division=0)), 4),
        category_macro_f1=round(float(np.mean([per_class[c]["f1"] for c in cats])), 4) if cats else None,
        accuracy=round(float(correct.mean()), 4),
        confusion=confusion_matrix(y_true, y_pred, labels=list(order)).tolist(),
        n_examples=len(y_true),
        source=str(test_data.source),
        train_source=train_source,
        n_train=int(model.n_examples),
        mapped_to_five=mapped,
        threshold=float(model.threshold),
        coverage=round(float(accepted.mean()), 4),
        accuracy_above_threshold=round(float(correct[accepted].mean()), 4) if accepted.any() else None,
        mean_confidence=round(float(confidence.mean()), 4),
        expected_calibration_error=round(expected_calibration_error(confidence, correct), 4),
        predicted=dict(sorted(predicted.items(), key=lambda kv: -kv[1])),
        cv_category_macro_f1=cv.get("category_macro_f1"),
    )


def _table(labels: tuple[str, ...], per_class: dict[str, dict[str, float]]) -> list[str]:
    width = max(12, *(len(lab) for lab in labels)) + 2
    lines = [f"{'label':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for lab in labels:
        m = per_class[lab]
        lines.append(f"{lab:<{width}}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{m['support']:>9d}")
    return lines


def _confusion(labels: tuple[str, ...], confusion: list[list[int]]) -> list[str]:
    width = max(12, *(len(lab) for lab in labels)) + 2
    if len(labels) > 20:
        return [f"(confusion matrix omitted for {len(labels)} labels; use --json)"]
    lines = [
        "confusion matrix (rows: true, columns: predicted)",
        " " * width + "".join(f"{lab[:6]:>8}" for lab in labels),
    ]
    for lab, row in zip(labels, confusion, strict=True):
        lines.append(f"{lab:<{width}}" + "".join(f"{v:>8d}" for v in row))
    return lines


def format_heldout(ev: HeldoutEvaluation) -> str:
    mapping = " (the model's dialogue intents counted as `other`)" if ev.mapped_to_five else ""
    lines = [
        f"trained on {ev.train_source} ({ev.n_train} examples); scored on {ev.source} ({ev.n_examples} examples)"
        f"{mapping}",
    ]
    if ev.overlap:
        lines.append(f"WARNING: {ev.overlap} test text(s) are also in the training file (after normalisation)")
    lines += [
        "",
        f"MACRO-F1 ({', '.join(ev.labels)}): {ev.macro_f1:.4f}"
        if len(ev.labels) <= 10
        else f"MACRO-F1: {ev.macro_f1:.4f}",
    ]
    if ev.category_macro_f1 is not None:
        lines.append(f"category macro-F1 (inquiry, complaint, suggestion, consultation): {ev.category_macro_f1:.4f}")
    lines += ["", *_table(ev.labels, ev.per_class), ""]
    acc_above = "–" if ev.accuracy_above_threshold is None else f"{ev.accuracy_above_threshold:.4f}"
    lines += [
        f"accuracy {ev.accuracy:.4f}",
        f"threshold {ev.threshold:.2f}: {ev.coverage:.1%} of messages routed automatically, accuracy {acc_above};"
        f" the rest uncertain",
        f"mean confidence {ev.mean_confidence:.4f} (vs accuracy {ev.accuracy:.4f}),"
        f" expected calibration error {ev.expected_calibration_error:.4f}",
        "model's own intents: " + ", ".join(f"{k} {v}" for k, v in ev.predicted.items()),
    ]
    if ev.cv_category_macro_f1 is not None:
        lines.append(f"(cross-validated category macro-F1 on the training file: {ev.cv_category_macro_f1:.4f})")
    lines += ["", *_confusion(ev.labels, ev.confusion)]
    return "\n".join(lines)


def format_evaluation(ev: Evaluation) -> str:
    lines = [f"{ev.source}: {ev.n_examples} examples, {len(ev.labels)} labels, {ev.folds}-fold stratified CV", ""]
    if ev.category_macro_f1 is not None:
        lines += [f"CATEGORY MACRO-F1 (inquiry, complaint, suggestion, consultation): {ev.category_macro_f1:.4f}", ""]
    width = max(12, *(len(lab) for lab in ev.labels)) + 2
    lines += _table(ev.labels, ev.per_class)
    lines += [
        "",
        f"{'macro-F1 (all labels)':<{width + 20}}{ev.macro_f1:>10.4f}",
        f"{'accuracy':<{width + 20}}{ev.accuracy:>10.4f}",
        "",
        *_confusion(ev.labels, ev.confusion),
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class UrgencyEvaluation:
    """The urgent-safety detector trained on one file, scored on a held-out file."""

    source: str  # the held-out file
    train_source: str
    n_examples: int
    n_train: int
    thresholds: dict[str, float]
    combined: dict[str, Any]  # lexicon + model, as the hub runs it
    model_only: dict[str, Any]
    lexicon_only: dict[str, Any]
    cv: dict[str, Any] | None  # the training file's cross-validation (model alone; with the lexicon)
    overlap: int  # held-out texts also in the training file after normalisation (must be 0)
    lexicon_source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "train_source": self.train_source,
            "n_examples": self.n_examples,
            "n_train": self.n_train,
            "lexicon": self.lexicon_source,
            "thresholds": self.thresholds,
            "combined": self.combined,
            "model_only": self.model_only,
            "lexicon_only": self.lexicon_only,
            "cv": self.cv,
            "overlap": self.overlap,
        }


def score_urgency(model: UrgencyModel | None, lexicon: Lexicon | None, texts: list[str]) -> list[str]:
    """The urgency level the hub would give each text (model and/or lexicon)."""
    items = []
    for t in texts:
        chars = normalize_chars(t)
        items.append((chars, tokens_for_model(chars.text), t))
    return [s.level for s in UrgencyDetector(lexicon, model).detect_many(items)]


def evaluate_urgency(train_data: Dataset, test_data: Dataset, lexicon: Lexicon) -> UrgencyEvaluation:
    """Train on `train_data` as the hub does (thresholds from its own CV), score `test_data` once."""
    unknown = set(test_data.labels) - set(LEVELS)
    if unknown:
        raise EvaluationError(f"{test_data.source}: urgency labels must be {LEVELS}, found {sorted(unknown)}")
    model = trained_urgency(train_data, lexicon)
    texts, truth = list(test_data.texts), list(test_data.labels)
    seen = {normalize(t) for t in train_data.texts}
    return UrgencyEvaluation(
        source=str(test_data.source),
        train_source=str(train_data.source),
        n_examples=len(texts),
        n_train=len(train_data.texts),
        thresholds={
            "urgent": model.urgent_threshold,
            "strict": model.strict_threshold,
            "elevated": model.elevated_threshold,
            "ungated": DEFAULT_UNGATED,
        },
        combined=level_metrics(truth, score_urgency(model, lexicon, texts)),
        model_only=level_metrics(truth, score_urgency(model, None, texts)),
        lexicon_only=level_metrics(truth, score_urgency(None, lexicon, texts)),
        cv=model.cv,
        overlap=sum(normalize(t) in seen for t in texts),
        lexicon_source=lexicon.source,
    )


def ordinary_traffic(train_data: Dataset, traffic: Dataset, lexicon: Lexicon) -> dict[str, Any]:
    """How often ordinary hub messages (any intent label) come out urgent or elevated.

    Not a precision figure: a few of these texts may really be urgent. It is the rate at which the
    protection unit would be called for everyday traffic, which must stay near zero.
    """
    levels = score_urgency(trained_urgency(train_data, lexicon), lexicon, list(traffic.texts))
    n = len(levels)
    urgent = [t for t, lev in zip(traffic.texts, levels, strict=True) if lev == "urgent"]
    return {
        "source": str(traffic.source),
        "n_examples": n,
        "urgent": len(urgent),
        "elevated": levels.count("elevated"),
        "urgent_share": round(len(urgent) / n, 4) if n else None,
        "elevated_share": round(levels.count("elevated") / n, 4) if n else None,
        "urgent_texts": urgent,
    }


def format_ordinary(report: dict[str, Any]) -> str:
    lines = [
        f"ORDINARY TRAFFIC {report['source']} ({report['n_examples']} messages):"
        f" {report['urgent']} urgent ({_fmt(report['urgent_share'])}),"
        f" {report['elevated']} elevated ({_fmt(report['elevated_share'])})"
    ]
    lines += [f"  urgent: {t[:100]}" for t in report["urgent_texts"]]
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.4f}"


def format_urgency(ev: UrgencyEvaluation) -> str:
    c = ev.combined
    th = ev.thresholds
    lines = [
        f"URGENT-SAFETY: trained on {ev.train_source} ({ev.n_train} examples), lexicon {ev.lexicon_source};"
        f" scored on {ev.source} ({ev.n_examples} examples, never trained on)",
    ]
    if ev.overlap:
        lines.append(f"WARNING: {ev.overlap} held-out text(s) are also in the training file (after normalisation)")
    lines += [
        "",
        f"URGENT RECALL {_fmt(c['urgent_recall'])}   URGENT PRECISION {_fmt(c['urgent_precision'])}"
        "   (lexicon + model, as the hub runs it)",
        f"urgent recall counting elevated as caught {_fmt(c['urgent_recall_elevated_counted'])};"
        f" elevated recall {_fmt(c['elevated_recall'])}, precision {_fmt(c['elevated_precision'])};"
        f" none flagged {_fmt(c['none_flagged'])}",
        "",
        f"{'detector':<16}{'urg. recall':>12}{'urg. prec.':>12}{'elev. recall':>14}{'elev. prec.':>13}",
    ]
    for name, m in (("lexicon + model", c), ("model only", ev.model_only), ("lexicon only", ev.lexicon_only)):
        lines.append(
            f"{name:<16}{_fmt(m['urgent_recall']):>12}{_fmt(m['urgent_precision']):>12}"
            f"{_fmt(m['elevated_recall']):>14}{_fmt(m['elevated_precision']):>13}"
        )
    lines += [
        "",
        f"thresholds (from the training file's cross-validation): p(urgent) >= {th['urgent']}"
        f" (>= {th['strict']} when the lexicon cancelled a danger phrase; with no danger cue"
        f" in the message only >= {th.get('ungated', DEFAULT_UNGATED)}),"
        f" p(elevated)+p(urgent) >= {th['elevated']}",
    ]
    cv = ev.cv or {}
    for key, name in (("model_only", "model only"), ("with_lexicon", "lexicon + model")):
        if key in cv:
            m = cv[key]
            lines.append(
                f"(cross-validated on the training file, {name}: urgent recall {_fmt(m['urgent_recall'])},"
                f" precision {_fmt(m['urgent_precision'])})"
            )
    lines += ["", *_confusion(LEVELS, c["confusion"])]
    return "\n".join(lines)
