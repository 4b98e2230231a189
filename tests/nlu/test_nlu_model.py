"""The built-in classifier: artifact contents, calibration, threshold choice, cross-validated quality."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn

from nlu.data import load_dataset
from nlu.model import (
    IntentClassifier,
    ModelError,
    ModelSpec,
    choose_threshold,
    compile_model,
    fit_stack,
    fit_temperature,
    load_model,
    nb_scores,
    save_model,
    softmax,
    train,
)
from nlu.normalize import normalize
from nlu.types import CATEGORIES, INTENTS


def test_artifact_records_what_is_needed_to_trust_it(tiny_data: Path, tmp_path: Path) -> None:
    ds = load_dataset(tiny_data)
    model = train(ds)
    path = save_model(model, tmp_path / "sub" / "nlu.joblib")
    loaded = load_model(path)
    assert loaded.data_sha256 == ds.sha256
    assert loaded.sklearn_version == sklearn.__version__
    assert set(loaded.labels) == set(INTENTS)
    assert 0.0 < loaded.threshold < 1.0
    assert loaded.temperature > 0
    assert loaded.trained_at.endswith("+00:00")
    assert loaded.cv is not None and loaded.cv["folds"] >= 2


@pytest.mark.parametrize("spec", [ModelSpec(), ModelSpec(char_ngrams=(2, 5), stemmed_words=False, multi_class="ovr")])
def test_compiled_model_scores_exactly_like_scikit_learn(tiny_data: Path, spec: ModelSpec) -> None:
    ds = load_dataset(tiny_data)
    normalized = [normalize(t) for t in ds.texts]
    feats, clf = spec.features(), spec.classifier()
    clf.fit(feats.fit_transform(normalized), list(ds.labels))
    views, weights, intercept = compile_model(feats, clf)
    compiled = IntentClassifier(views, weights, intercept, tuple(clf.classes_), 1.0, 0.5, "", "", 0, {}, "", "")
    unseen = [
        "",
        "x",
        "ابي",
        "متى تنزل مكافأة ولدي في جامعة الملك سعود؟ xticket xemoneg",
        "Please tell me when admission opens",
        "هههههه 😂",
        "a  b   c",
        "ممم " * 300,
    ]
    texts = normalized + [normalize(t) for t in unseen]
    expected = clf.decision_function(feats.transform(texts))
    assert np.allclose(compiled.scores(texts), expected, atol=1e-4)


def test_stacked_naive_bayes_compiles_into_the_same_single_weight_matrix(tiny_data: Path) -> None:
    ds = load_dataset(tiny_data)
    spec = ModelSpec(nb_alpha=0.1)
    normalized = [normalize(t) for t in ds.texts]
    feats, clf, bayes = spec.features(), spec.classifier(), spec.naive_bayes()
    assert bayes is not None
    x = feats.fit_transform(normalized)
    clf.fit(x, list(ds.labels))
    bayes.fit(x, list(ds.labels))
    views, weights, intercept = compile_model(feats, clf, bayes, nb_weight=0.3)
    compiled = IntentClassifier(views, weights, intercept, tuple(clf.classes_), 1.0, 0.5, "", "", 0, {}, "", "")
    texts = [*normalized, normalize("متى تنزل مكافأة ولدي؟ 😡"), normalize("please help"), ""]
    xt = feats.transform(texts)
    expected = clf.decision_function(xt) + 0.3 * nb_scores(bayes, xt)
    assert np.allclose(compiled.scores(texts), expected, atol=1e-3)


def test_stack_weight_follows_the_informative_member() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 800)
    signal = rng.normal(0, 1, (800, 4))
    signal[np.arange(800), y] += 2.0
    noise = rng.normal(0, 1, (800, 4)) * 5
    # Naive Bayes pure noise: weight about zero, and the temperature that of the SVM alone.
    t, w = fit_stack(signal, noise, y)
    assert w < 0.02
    assert t == pytest.approx(fit_temperature(signal, y), rel=0.1)
    # Naive Bayes carrying the signal and the SVM the noise: the weight grows.
    _, w_informative = fit_stack(noise, signal, y)
    assert w_informative > 1.0


def test_training_with_the_stack_records_its_weight_and_calibration(tiny_data: Path) -> None:
    model = train(load_dataset(tiny_data), spec=ModelSpec(nb_alpha=0.1), folds=3)
    assert model.cv is not None
    assert model.cv["nb_weight"] >= 0.0
    assert model.cv["temperature"] == pytest.approx(model.temperature, abs=1e-4)
    assert model.spec["nb_alpha"] == 0.1
    probs = model.predict_proba([normalize("أبي أكلم موظف")])
    assert np.allclose(probs.sum(axis=1), 1.0)


def test_default_pipeline_is_the_svm_alone(tiny_data: Path) -> None:
    assert ModelSpec().naive_bayes() is None
    model = train(load_dataset(tiny_data), folds=3)
    assert model.cv is not None and model.cv["nb_weight"] == 0.0


def test_loading_a_model_does_not_import_scikit_learn(real_model: tuple[IntentClassifier, Path, Path]) -> None:
    import subprocess
    import sys

    from .conftest import REPO

    code = (
        "import sys, nlu; from nlu.classifier import load_model; m = load_model(sys.argv[1]); "
        "m.predict_proba(['متي']); print('sklearn' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(real_model[1])], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


def test_probabilities_sum_to_one_and_rank_the_right_intent(tiny_data: Path) -> None:
    model = train(load_dataset(tiny_data))
    probs = model.predict_proba([normalize("أبي أكلم موظف"), normalize("شكرا")])
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert model.labels[int(probs[0].argmax())] == "handoff"


def test_foreign_or_damaged_files_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.joblib"
    joblib.dump({"hello": "world"}, foreign)
    with pytest.raises(ModelError, match="not a Tawasul NLU artifact"):
        load_model(foreign)
    damaged = tmp_path / "damaged.joblib"
    damaged.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="cannot read"):
        load_model(damaged)
    with pytest.raises(ModelError, match="no model artifact"):
        load_model(tmp_path / "missing.joblib")


def test_temperature_scaling_improves_held_out_likelihood() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    scores = rng.normal(0, 1, (500, 3))
    scores[np.arange(500), y] += 1.0
    scores *= 10  # badly over-confident scores
    t = fit_temperature(scores, y)

    def nll(temp: float) -> float:
        return float(-np.log(softmax(scores, temp)[np.arange(500), y]).mean())

    assert t > 1.0
    assert nll(t) < nll(1.0)


def test_threshold_is_the_lowest_that_reaches_the_target_accuracy() -> None:
    confidence = np.array([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    correct = np.array([False, False, True, False, True, True, True, True])
    assert choose_threshold(confidence, correct, target=0.8) == 0.41  # accepts 0.5 and up: 5 of 6 right
    assert choose_threshold(confidence, correct, target=1.0) == 0.61


@pytest.mark.slow
def test_cross_validated_category_macro_f1_meets_the_target(real_model: tuple[IntentClassifier, Path, Path]) -> None:
    model, _, _ = real_model
    assert model.cv is not None
    assert model.cv["category_macro_f1"] >= 0.90
    assert all(model.cv["per_class"][c]["f1"] >= 0.85 for c in CATEGORIES)
