"""Held-out evaluation: the 10 → 5 label mapping, scores, coverage at the threshold, and the real held-out set."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.data import load_dataset
from nlu.evaluate import FIVE_LABELS, evaluate_heldout, map_to_five, score_heldout
from nlu.model import IntentClassifier
from nlu.types import CATEGORIES, DIALOGUE_INTENTS

from .conftest import REPO, TINY, write_rasa_yaml

HELDOUT = REPO / "data" / "evaluation" / "nlu_heldout.yml"


def test_dialogue_intents_map_to_other_and_categories_to_themselves() -> None:
    assert {map_to_five(d) for d in DIALOGUE_INTENTS} == {"other"}
    assert [map_to_five(c) for c in CATEGORIES] == list(CATEGORIES)
    assert (*CATEGORIES, "other") == FIVE_LABELS


def test_heldout_report_counts_mapped_predictions_and_routing(tiny_data: Path, tmp_path: Path) -> None:
    # The test file reuses training texts on purpose: the model must then get them right, and
    # greetings and thanks must count as correct `other`.
    five = {c: TINY[c] for c in CATEGORIES} | {"other": TINY["greeting"] + TINY["thanks"] + TINY["other"]}
    test = write_rasa_yaml(tmp_path / "five.yml", five)
    ev = evaluate_heldout(load_dataset(tiny_data), load_dataset(test), folds=3)
    assert ev.mapped_to_five
    assert ev.labels == FIVE_LABELS
    assert ev.accuracy == 1.0 and ev.macro_f1 == 1.0
    assert ev.per_class["other"]["support"] == 18
    assert sum(ev.predicted.values()) == ev.n_examples == 42
    assert {"greeting", "thanks"} <= ev.predicted.keys()  # the model's own intents, before mapping
    assert ev.overlap == 42
    assert 0.0 < ev.coverage <= 1.0
    assert ev.accuracy_above_threshold in (None, 1.0)


def test_labels_outside_the_five_are_compared_as_they_are(tiny_data: Path) -> None:
    ds = load_dataset(tiny_data)
    ev = evaluate_heldout(ds, ds, folds=3)
    assert not ev.mapped_to_five
    assert set(ev.labels) == set(TINY)
    assert len(ev.confusion) == len(TINY)


@pytest.mark.slow
def test_shipped_model_on_the_heldout_set_stays_above_a_floor(real_model: tuple[IntentClassifier, Path, Path]) -> None:
    """A regression floor well below the measured score (docs/benchmarks.md), not a target to tune to."""
    model, _, _ = real_model
    ev = score_heldout(model, load_dataset(HELDOUT))
    assert ev.mapped_to_five
    assert ev.macro_f1 >= 0.80
    assert ev.coverage >= 0.6
    assert ev.accuracy_above_threshold is not None and ev.accuracy_above_threshold >= 0.9
