"""Training data files: Rasa YAML and CSV reading, clear errors, the repository's own data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlu.data import TrainingDataError, default_training_data, load_dataset
from nlu.normalize import normalize
from nlu.tools.assemble_training_data import MINIMUM, assemble, main, part_files, render
from nlu.types import CATEGORIES, DIALOGUE_INTENTS, INTENTS

from .conftest import REPO, write_rasa_yaml


def test_rasa_yaml_examples_and_intents_are_read(tmp_path: Path) -> None:
    path = write_rasa_yaml(tmp_path / "nlu.yml", {"inquiry": ["متى؟", "كيف"], "thanks": ["شكرا"]})
    ds = load_dataset(path)
    assert ds.texts == ("متى؟", "كيف", "شكرا")
    assert ds.labels == ("inquiry", "inquiry", "thanks")
    assert len(ds.sha256) == 64


def test_rasa_entity_annotations_are_reduced_to_their_text(tmp_path: Path) -> None:
    path = tmp_path / "nlu.yml"
    path.write_text(
        'version: "3.1"\nnlu:\n- intent: inquiry\n  examples: |\n'
        "    - متى القبول في [جامعة الملك سعود](university)\n"
        '    - وش صار على [2026-000042]{"entity": "ticket_number"}\n'
        "- synonym: ksu\n  examples: |\n    - KSU\n",
        encoding="utf-8",
    )
    assert load_dataset(path).texts == ("متى القبول في جامعة الملك سعود", "وش صار على 2026-000042")


def test_csv_with_header_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('label,text\ninquiry,"متى, بالضبط"\ncomplaint,ما نزل\n', encoding="utf-8")
    ds = load_dataset(path)
    assert ds.texts == ("متى, بالضبط", "ما نزل")
    assert ds.labels == ("inquiry", "complaint")


def test_csv_without_header_is_text_then_label(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("متى,inquiry\nما نزل,complaint\n", encoding="utf-8")
    assert load_dataset(path).labels == ("inquiry", "complaint")


def test_malformed_files_are_named_in_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("nlu: [oops", encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"bad\.yml"):
        load_dataset(bad)
    with pytest.raises(TrainingDataError, match="no such file"):
        load_dataset(tmp_path / "missing.yml")
    short = tmp_path / "short.csv"
    short.write_text("text,label\nonly-text\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match="line 2"):
        load_dataset(short)


def test_default_training_data_is_found_from_any_directory(tmp_path: Path) -> None:
    code = "from nlu.data import default_training_data as d; print(d())"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TAWASUL_NLU_TRAINING_DATA", None)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert Path(out.stdout.strip()) == REPO / "data" / "training" / "nlu.yml"


def test_repository_training_data_meets_the_issue_minimums() -> None:
    counts = load_dataset(default_training_data()).counts()
    for category in CATEGORIES:
        assert counts[category] >= 250, category
    for intent in DIALOGUE_INTENTS:
        assert counts[intent] >= 40, intent


def test_assembly_drops_duplicates_after_normalisation_and_conflicting_labels(tmp_path: Path) -> None:
    a = write_rasa_yaml(tmp_path / "a.yml", {"inquiry": ["متى تنزل المكافأة؟", "متي تنزل المكافاه؟", "كيف أسجل"]})
    b = write_rasa_yaml(tmp_path / "b.yml", {"complaint": ["كيف أسجل", "ما نزلت"]})
    by_intent, notes = assemble([a, b])
    assert by_intent["inquiry"] == ["متى تنزل المكافأة؟"]
    assert by_intent["complaint"] == ["ما نزلت"]
    assert any("conflict" in n for n in notes)
    out = tmp_path / "nlu.yml"
    out.write_text(render(by_intent, ["a.yml", "b.yml"]), encoding="utf-8")
    assert load_dataset(out).labels == ("inquiry", "complaint")
    assert MINIMUM["inquiry"] == 250 and MINIMUM["handoff"] == 40


HELDOUT = REPO / "data" / "evaluation" / "nlu_heldout.yml"


def test_assembly_drops_texts_of_the_heldout_set_after_normalisation(tmp_path: Path) -> None:
    part = write_rasa_yaml(tmp_path / "a.yml", {"complaint": ["الباص ما جا اليوم", "نور معلق"]})
    # The held-out text differs in tatweel only: the same message once normalised.
    by_intent, notes = assemble([part], exclude={normalize("البـــاص ما جا اليوم")})
    assert by_intent["complaint"] == ["نور معلق"]
    assert any("held-out" in n for n in notes)


def test_part_files_leave_out_the_heldout_file_and_any_copy_of_it(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    train = write_rasa_yaml(parts / "a.yml", {"inquiry": ["متى الاختبارات", "كيف أسجل"]})
    heldout = write_rasa_yaml(parts / "heldout.yml", {"complaint": ["الباص ما جا"], "other": ["هههه"]})
    copy = write_rasa_yaml(tmp_path / "copy.yml", {"complaint": ["الباص ما جا"], "other": ["هههه"]})
    exclude = {normalize("الباص ما جا"), normalize("هههه")}
    assert part_files([parts], [heldout], exclude) == [train]
    assert part_files([parts, copy], [], exclude) == [train]


def test_assembly_tool_reads_several_sources_and_never_writes_heldout_texts(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    write_rasa_yaml(one / "inquiry.yml", {"inquiry": ["متى الاختبارات", "كيف أسجل"]})
    write_rasa_yaml(two / "short.yml", {"complaint": ["الباص ما جا", "نور معلق"], "other": ["هههه"]})
    heldout = write_rasa_yaml(tmp_path / "heldout.yml", {"complaint": ["الباص ما جاااااا"], "other": ["😂"]})
    out = tmp_path / "nlu.yml"
    status = main([str(one), str(two), "--heldout", str(heldout), "--out", str(out)])
    assert status == 1  # far below the issue's minimums: reported, file still written
    ds = load_dataset(out)
    assert set(ds.texts) == {"متى الاختبارات", "كيف أسجل", "نور معلق", "هههه"}
    text = out.read_text(encoding="utf-8")
    assert "one/inquiry.yml" in text and "two/short.yml" in text and "heldout.yml" in text


def test_repository_training_data_shares_no_text_with_the_heldout_set() -> None:
    train = {normalize(t) for t in load_dataset(default_training_data()).texts}
    shared = [t for t in load_dataset(HELDOUT).texts if normalize(t) in train]
    assert shared == []


def test_heldout_set_has_the_five_labels_of_the_hidden_set() -> None:
    ds = load_dataset(HELDOUT)
    counts = ds.counts()
    assert set(counts) == {*CATEGORIES, "other"}
    assert all(n >= 30 for n in counts.values())
    assert len(set(ds.texts)) == len(ds.texts) == 300
    assert "never" in HELDOUT.read_text(encoding="utf-8").split("version:")[0].lower()


def test_repository_training_data_has_every_intent_once_in_a_fixed_order() -> None:
    import yaml

    doc = yaml.safe_load(default_training_data().read_text(encoding="utf-8"))
    assert [block["intent"] for block in doc["nlu"]] == list(INTENTS)


def test_rasa_project_lists_exactly_our_intents() -> None:
    import yaml

    from nlu.types import INTENTS

    domain = yaml.safe_load((REPO / "data" / "rasa" / "domain.yml").read_text(encoding="utf-8"))
    config = yaml.safe_load((REPO / "data" / "rasa" / "config.yml").read_text(encoding="utf-8"))
    assert tuple(domain["intents"]) == INTENTS
    assert config["language"] == "ar"
    assert any(c["name"] == "FallbackClassifier" for c in config["pipeline"])


def test_training_examples_carry_no_accidental_rasa_entity_markup() -> None:
    import re

    text = default_training_data().read_text(encoding="utf-8")
    assert not re.search(r"\[[^\]\n]+\](\([^)\n]+\)|\{[^}\n]+\})", text)
