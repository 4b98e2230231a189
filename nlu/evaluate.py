"""Cross-validated evaluation of the built-in pipeline on any labelled file (Rasa YAML or CSV).

Used by `tawasul nlu-eval` and the benchmarks. Stratified k-fold; every fold trains the same
pipeline `tawasul train` builds; the report gives per-class precision/recall/F1, the confusion
matrix and, when the file has them, the macro-F1 over the four ticket categories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from nlu.data import Dataset
from nlu.model import ModelSpec, cross_validate
from nlu.types import CATEGORIES, INTENTS


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


def evaluate(dataset: Dataset, *, folds: int = 5, seed: int = 0, spec: ModelSpec | None = None) -> Evaluation:
    cv = cross_validate(dataset.texts, dataset.labels, spec or ModelSpec(), folds=folds, seed=seed)
    if cv is None:
        raise EvaluationError(f"{dataset.source}: every label needs at least two examples for cross-validation")
    order = _order(set(cv.labels))
    y_true = [cv.labels[i] for i in cv.y]
    y_pred = [cv.labels[i] for i in cv.scores.argmax(axis=1)]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(order), zero_division=0)
    per_class = {
        lab: {
            "precision": round(float(p[i]), 4),
            "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4),
            "support": int(s[i]),
        }
        for i, lab in enumerate(order)
    }
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


def format_evaluation(ev: Evaluation) -> str:
    lines = [f"{ev.source}: {ev.n_examples} examples, {len(ev.labels)} labels, {ev.folds}-fold stratified CV", ""]
    if ev.category_macro_f1 is not None:
        lines += [f"CATEGORY MACRO-F1 (inquiry, complaint, suggestion, consultation): {ev.category_macro_f1:.4f}", ""]
    width = max(12, *(len(lab) for lab in ev.labels)) + 2
    lines.append(f"{'label':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for lab in ev.labels:
        m = ev.per_class[lab]
        lines.append(f"{lab:<{width}}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{m['support']:>9d}")
    lines += [
        "",
        f"{'macro-F1 (all labels)':<{width + 20}}{ev.macro_f1:>10.4f}",
        f"{'accuracy':<{width + 20}}{ev.accuracy:>10.4f}",
        "",
    ]
    if len(ev.labels) <= 20:
        short = [lab[:6] for lab in ev.labels]
        lines.append("confusion matrix (rows: true, columns: predicted)")
        lines.append(" " * width + "".join(f"{s:>8}" for s in short))
        for lab, row in zip(ev.labels, ev.confusion, strict=True):
            lines.append(f"{lab:<{width}}" + "".join(f"{v:>8d}" for v in row))
    else:
        lines.append(f"(confusion matrix omitted for {len(ev.labels)} labels; use --json)")
    return "\n".join(lines)
