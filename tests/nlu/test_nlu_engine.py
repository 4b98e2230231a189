"""`nlu.analyse`: the contract other packages rely on, self-training on a fresh clone, robustness."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

import nlu
import nlu.engine
from nlu import CATEGORIES, DIALOGUE_INTENTS, Analysis, Entity
from nlu.model import load_model

from .conftest import TINY, write_rasa_yaml


def test_public_api_is_reexported() -> None:
    assert CATEGORIES == ("inquiry", "complaint", "suggestion", "consultation")
    assert DIALOGUE_INTENTS == ("greeting", "thanks", "ticket_status", "objection", "handoff", "other")
    assert callable(nlu.analyse) and callable(nlu.configure) and callable(nlu.mask_pii)


@pytest.mark.usefixtures("engine_with_real_model")
def test_analysis_carries_intent_language_entities_and_original_text() -> None:
    text = "السلام عليكم، وش صار على بلاغي رقم ٢٠٢٦-٠٠٠١٢٣؟ صار له أسبوعين"
    a = nlu.analyse(text)
    assert isinstance(a, Analysis)
    assert a.text == text
    assert a.language == "ar"
    assert a.intent == "ticket_status"
    assert a.backend == "builtin"
    assert a.entities == (Entity("ticket_number", "2026-000123", "٢٠٢٦-٠٠٠١٢٣", 35, 46),)
    assert a.ranking[0] == (a.intent, a.confidence)
    assert abs(sum(p for _, p in a.ranking) - 1.0) < 0.05 or len(a.ranking) == 5


@pytest.mark.usefixtures("engine_with_real_model")
@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("أبي أكلم موظف الله يخليكم", "handoff"),
        ("السلام عليكم", "greeting"),
        ("I would like to suggest adding an option to download certificates as PDF", "suggestion"),
        # Short implicit complaints: no complaint word, just what went wrong.
        ("الحافلة ما جات اليوم لبنتي", "complaint"),
        ("المكيف خربان بالفصل", "complaint"),
    ],
)
def test_clear_messages_get_their_intent(text: str, intent: str) -> None:
    assert nlu.analyse(text).intent == intent


@pytest.mark.usefixtures("engine_with_real_model")
def test_to_json_has_the_cli_contract_keys_and_is_serialisable() -> None:
    out = nlu.analyse("جوالي 0551234567 وأنا من جامعة الملك سعود").to_json()
    assert {"text", "language", "intent", "confidence", "entities", "uncertain"} <= out.keys()
    assert {"type", "value", "text", "start", "end"} == out["entities"][0].keys()
    assert json.loads(json.dumps(out, ensure_ascii=False)) == out


@pytest.mark.usefixtures("engine_with_real_model")
@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😂",
        "🙏🏼🙏🏼🙏🏼",
        "\x00",
        "\ud800",
        "‏‎",
        "ok",
        "a" * 100_000,
        "ابي " * 25_000,
        "مرحبا hello привет 你好 שלום",
        "<script>alert(1)</script>",
        "2026-000042",
    ],
)
def test_analyse_never_raises(text: str) -> None:
    a = nlu.analyse(text)
    assert a.intent in CATEGORIES + DIALOGUE_INTENTS
    assert 0.0 <= a.confidence <= 1.0
    assert a.text == text


@pytest.mark.usefixtures("engine_with_real_model")
def test_empty_message_is_other_and_undetermined() -> None:
    a = nlu.analyse("")
    assert (a.intent, a.language) == ("other", "und")


@pytest.mark.usefixtures("engine_with_real_model")
def test_non_string_input_is_tolerated() -> None:
    assert nlu.analyse(None).text == ""  # type: ignore[arg-type]


def test_threshold_decides_uncertainty(real_model: tuple, tmp_path: Path) -> None:
    _, path, data = real_model
    nlu.configure(model_path=path, training_data=data, threshold=1.0)
    assert nlu.analyse("متى تنزل المكافأة").uncertain
    nlu.configure(model_path=path, training_data=data, threshold=0.0)
    assert not nlu.analyse("متى تنزل المكافأة").uncertain


def test_missing_artifact_is_trained_saved_and_warned_once(
    tiny_data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model_path = tmp_path / "var" / "models" / "nlu.joblib"
    nlu.configure(model_path=model_path, training_data=tiny_data)
    with caplog.at_level(logging.WARNING, logger="nlu"):
        nlu.analyse("متى تنزل المكافأة")
        nlu.analyse("شكرا")
    assert model_path.is_file()
    warnings = [r for r in caplog.records if "training from" in r.getMessage()]
    assert len(warnings) == 1
    caplog.clear()
    nlu.configure(model_path=model_path, training_data=tiny_data)
    with caplog.at_level(logging.WARNING, logger="nlu"):
        nlu.analyse("شكرا")
    assert not [r for r in caplog.records if "training from" in r.getMessage()]


def test_changed_training_data_triggers_retraining(tiny_data: Path, tmp_path: Path) -> None:
    model_path = tmp_path / "nlu.joblib"
    nlu.configure(model_path=model_path, training_data=tiny_data)
    nlu.analyse("شكرا")
    first = load_model(model_path).data_sha256
    write_rasa_yaml(tiny_data, {**TINY, "thanks": [*TINY["thanks"], "يعطيكم العافية على سرعة الرد"]})
    nlu.configure(model_path=model_path, training_data=tiny_data)
    nlu.analyse("شكرا")
    assert load_model(model_path).data_sha256 != first


def test_damaged_artifact_is_replaced(tiny_data: Path, tmp_path: Path) -> None:
    model_path = tmp_path / "nlu.joblib"
    model_path.write_bytes(b"not a model")
    nlu.configure(model_path=model_path, training_data=tiny_data)
    assert nlu.analyse("أبي أكلم موظف").backend == "builtin"
    assert load_model(model_path).n_examples == sum(len(v) for v in TINY.values())


def test_no_model_and_no_data_degrades_instead_of_raising(tmp_path: Path) -> None:
    nlu.configure(model_path=tmp_path / "none.joblib", training_data=tmp_path / "none.yml")
    a = nlu.analyse("متى تنزل المكافأة")
    assert (a.intent, a.uncertain, a.backend) == ("other", True, "none")


def test_engine_is_built_once_under_concurrency(tiny_data: Path, tmp_path: Path) -> None:
    nlu.configure(model_path=tmp_path / "nlu.joblib", training_data=tiny_data)
    results: list[Analysis] = []
    engines: set[int] = set()

    def work() -> None:
        results.append(nlu.analyse("وش صار على بلاغي"))
        engines.add(id(nlu.engine.get_engine()))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(engines) == 1
    assert len({(r.intent, r.confidence) for r in results}) == 1


def test_configure_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="backend"):
        nlu.configure(backend="watson")
    with pytest.raises(ValueError, match="rasa_url"):
        nlu.configure(backend="rasa")
    with pytest.raises(ValueError, match="threshold"):
        nlu.configure(threshold=1.5)


def test_unconfigured_process_reads_the_environment(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_path = tmp_path / "env.joblib"
    monkeypatch.setenv("TAWASUL_NLU_MODEL_PATH", str(model_path))
    monkeypatch.setenv("TAWASUL_NLU_TRAINING_DATA", str(tiny_data))
    monkeypatch.setenv("TAWASUL_NLU_THRESHOLD", "0.99")
    a = nlu.analyse("هلا")
    assert model_path.is_file()
    assert nlu.engine.get_engine().threshold == 0.99
    assert a.uncertain == (a.confidence < 0.99)


@pytest.mark.usefixtures("engine_with_real_model")
def test_batch_analysis_agrees_with_single_analysis() -> None:
    texts = ["أبي أكلم موظف", "", "متى تنزل المكافأة؟", "😂", "رقم بلاغي 2026-000042 وش صار عليه"]
    batch = nlu.analyse_many(texts)
    singles = [nlu.analyse(t) for t in texts]
    assert [(a.intent, a.entities, a.language) for a in batch] == [(a.intent, a.entities, a.language) for a in singles]
    assert all(abs(a.confidence - b.confidence) < 1e-6 for a, b in zip(batch, singles, strict=True))
