"""`tawasul train`, `tawasul classify` and `tawasul nlu-eval` as a user (or another tool) runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli.nlu_commands import classify_command, nlu_eval_command, train_command
from nlu.model import load_model
from nlu.urgency import load_urgency_model, urgency_model_path

from .conftest import TINY, write_rasa_yaml


@pytest.fixture
def model_args(real_model: tuple) -> list[str]:
    return ["--model", str(real_model[1])]


@pytest.fixture(autouse=True)
def _training_data(real_model: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAWASUL_NLU_TRAINING_DATA", str(real_model[2]))


def test_classify_prints_one_utf8_json_object_per_argument(model_args: list[str]) -> None:
    result = CliRunner().invoke(classify_command, [*model_args, "أبي أكلم موظف", "وش صار على بلاغي ٢٠٢٦-٠٠٠١٢٣"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "أبي أكلم موظف" in lines[0]  # not \\u-escaped
    first, second = (json.loads(line) for line in lines)
    assert {"text", "language", "intent", "confidence", "entities"} <= first.keys()
    assert first["intent"] == "handoff"
    assert second["entities"][0]["value"] == "2026-000123"


def test_classify_reads_stdin_and_answers_every_line_including_empty_ones(model_args: list[str]) -> None:
    stdin = "السلام عليكم\n\n😂\r\nthanks a lot\n"
    result = CliRunner().invoke(classify_command, model_args, input=stdin.encode("utf-8"))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["text"] for r in rows] == ["السلام عليكم", "", "😂", "thanks a lot"]
    assert rows[1]["intent"] == "other"


def test_classify_survives_undecodable_input(model_args: list[str]) -> None:
    result = CliRunner().invoke(classify_command, model_args, input=b"\xff\xfe broken \xc3\n")
    assert result.exit_code == 0
    assert json.loads(result.output)["intent"]


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    data = tmp_path / "d.csv"
    data.write_text(
        "text,label\n" + "".join(f'"{t}",{label}\n' for label, ts in TINY.items() for t in ts), encoding="utf-8"
    )
    return data


def test_train_writes_the_artifact_and_reports_the_data_hash(tiny_csv: Path, tmp_path: Path) -> None:
    data = tiny_csv
    out = tmp_path / "m.joblib"
    # A small urgency file keeps this test fast; the real one is trained by the session fixture.
    urgency = write_rasa_yaml(
        tmp_path / "urgency.yml",
        {
            "urgent": [
                "ابي اموت الليلة",
                "ولدي ما رجع من المدرسة وجواله مقفل",
                "I want to kill myself",
                "معه سكين بالفصل",
            ],
            "elevated": [
                "ولدي يتنمرون عليه كل يوم",
                "أحس بحزن من أسابيع",
                "I feel low since the exams",
                "بنتي تخاف من المعلمة",
            ],
            "none": ["متى تنزل النتائج", "الاختبار قاتلني 😂", "how do I reset my password", "بموت من الضحك"],
        },
    )
    result = CliRunner().invoke(
        train_command, ["--data", str(data), "--out", str(out), "--folds", "3", "--urgency-data", str(urgency)]
    )
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.data_sha256 in result.output
    assert "category macro-F1" in result.output
    assert load_urgency_model(urgency_model_path(out)).n_examples == 12


def test_train_names_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("nlu: [", encoding="utf-8")
    result = CliRunner().invoke(train_command, ["--data", str(bad), "--out", str(tmp_path / "m.joblib")])
    assert result.exit_code != 0
    assert "bad.yml" in result.output


def test_nlu_eval_prints_per_class_report_and_confusion_matrix(tiny_csv: Path) -> None:
    data = tiny_csv
    result = CliRunner().invoke(nlu_eval_command, [str(data), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert "CATEGORY MACRO-F1" in result.output
    assert "confusion matrix" in result.output
    for label in TINY:
        assert label in result.output


def test_nlu_eval_json_output(tiny_csv: Path) -> None:
    data = tiny_csv
    result = CliRunner().invoke(nlu_eval_command, [str(data), "--folds", "2", "--json"])
    report = json.loads(result.output)
    assert set(report["labels"]) == set(TINY)
    assert len(report["confusion"]) == len(TINY)
    assert 0.0 <= report["category_macro_f1"] <= 1.0


@pytest.fixture
def five_label_test(tmp_path: Path) -> Path:
    texts = {
        "inquiry": ["متى يفتح القبول", "how do I register"],
        "complaint": ["الباص ما جا اليوم", "my bonus was not paid"],
        "suggestion": ["نقترح حفظ تلقائي"],
        "consultation": ["تنصحوني بتخصص"],
        "other": ["شكرا جزيلا", "مبروك للخريجين"],
    }
    path = tmp_path / "heldout.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",{lab}\n' for lab, ts in texts.items() for t in ts), "utf-8")
    return path


def test_nlu_eval_test_scores_a_heldout_file_with_dialogue_intents_counted_as_other(
    tiny_csv: Path, five_label_test: Path
) -> None:
    result = CliRunner().invoke(nlu_eval_command, [str(tiny_csv), "--test", str(five_label_test), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert "MACRO-F1 (inquiry, complaint, suggestion, consultation, other)" in result.output
    assert "counted as `other`" in result.output
    assert "routed automatically" in result.output
    assert "confusion matrix" in result.output


def test_nlu_eval_test_json_has_per_class_scores_coverage_and_confusion(tiny_csv: Path, five_label_test: Path) -> None:
    result = CliRunner().invoke(
        nlu_eval_command, [str(tiny_csv), "--test", str(five_label_test), "--folds", "3", "--json"]
    )
    report = json.loads(result.output)
    assert report["mapped_to_five"] is True
    assert report["labels"] == ["inquiry", "complaint", "suggestion", "consultation", "other"]
    assert report["per_class"]["other"]["support"] == 2
    assert len(report["confusion"]) == 5 and sum(map(sum, report["confusion"])) == 8
    assert 0.0 <= report["coverage"] <= 1.0
    assert 0.0 <= report["macro_f1"] <= 1.0
    # None of these texts is in the training file.
    assert report["overlap"] == 0


def test_nlu_eval_test_warns_when_test_texts_are_in_the_training_file(tiny_csv: Path) -> None:
    result = CliRunner().invoke(nlu_eval_command, [str(tiny_csv), "--test", str(tiny_csv), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert f"WARNING: {sum(len(v) for v in TINY.values())} test text(s) are also in the training file" in result.output
    assert "counted as `other`" not in result.output  # ten labels: compared as they are


def test_nlu_eval_refuses_a_class_with_one_example(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\na,x\nb,x\nc,y\n", encoding="utf-8")
    result = CliRunner().invoke(nlu_eval_command, [str(data)])
    assert result.exit_code != 0
    assert "at least two examples" in result.output
