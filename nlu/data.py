"""Training data: reading Rasa NLU YAML and CSV (text,label), hashing, and finding the default file.

The hub's own examples live in `data/training/nlu.yml` in Rasa's format, so a Rasa project can
train on the same file. Only `intent` blocks are read; Rasa entity annotations in examples
(`[KSU](university)`, `[x]{"entity": ...}`) are reduced to their text.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

TRAINING_DATA_ENV = "TAWASUL_NLU_TRAINING_DATA"
_RELATIVE = Path("data") / "training" / "nlu.yml"
_ANNOTATION = re.compile(r"\[([^\]\n]+)\](?:\([^)\n]+\)|\{[^}\n]+\})")


class TrainingDataError(ValueError):
    """The training file is malformed; the message names the file and where."""


@dataclass(frozen=True)
class Dataset:
    texts: tuple[str, ...]
    labels: tuple[str, ...]
    source: Path
    sha256: str

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for label in self.labels:
            out[label] = out.get(label, 0) + 1
        return out


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def strip_annotations(example: str) -> str:
    return _ANNOTATION.sub(r"\1", example)


def parse_examples(block: str) -> list[str]:
    """The `- example` lines of a Rasa `examples: |` block."""
    out = []
    for line in block.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("- "):
            line = line[2:]
        elif line == "-":
            continue
        out.append(strip_annotations(line).strip())
    return [x for x in out if x]


def load_rasa_yaml(path: str | Path) -> Dataset:
    path = Path(path)
    raw = path.read_bytes()
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TrainingDataError(f"{path}: not valid UTF-8 YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("nlu"), list):
        raise TrainingDataError(f"{path}: expected a Rasa NLU file with a top-level 'nlu:' list")
    texts: list[str] = []
    labels: list[str] = []
    for i, block in enumerate(doc["nlu"], start=1):
        if not isinstance(block, dict) or "intent" not in block:
            continue  # synonyms, regexes and lookup tables are Rasa's business, not ours
        intent = block["intent"]
        examples = block.get("examples")
        if not isinstance(intent, str) or not isinstance(examples, str):
            raise TrainingDataError(f"{path}: nlu block {i} (intent {intent!r}) needs 'examples: |' text")
        for ex in parse_examples(examples):
            texts.append(ex)
            labels.append(intent)
    if not texts:
        raise TrainingDataError(f"{path}: no intent examples found")
    return Dataset(tuple(texts), tuple(labels), path, hashlib.sha256(raw).hexdigest())


def load_csv(path: str | Path) -> Dataset:
    """CSV with a header naming `text` and `label` columns (any order), or two columns text,label."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TrainingDataError(f"{path}: not a UTF-8 CSV file: {exc}") from exc
    if not rows:
        raise TrainingDataError(f"{path}: empty file")
    header = [h.strip().lower() for h in rows[0]]
    if "text" in header and "label" in header:
        ti, li = header.index("text"), header.index("label")
        body = rows[1:]
        first_line = 2
    else:
        ti, li = 0, 1
        body = rows
        first_line = 1
    texts: list[str] = []
    labels: list[str] = []
    for n, row in enumerate(body, start=first_line):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) <= max(ti, li):
            raise TrainingDataError(f"{path}: line {n}: expected columns text and label")
        if row[ti].strip() and row[li].strip():
            texts.append(row[ti].strip())
            labels.append(row[li].strip())
    if not texts:
        raise TrainingDataError(f"{path}: no rows with text and label")
    return Dataset(tuple(texts), tuple(labels), path, hashlib.sha256(raw).hexdigest())


def load_dataset(path: str | Path) -> Dataset:
    path = Path(path)
    if not path.is_file():
        raise TrainingDataError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        return load_csv(path)
    return load_rasa_yaml(path)


def default_training_data() -> Path:
    """`data/training/nlu.yml` of the repository this package belongs to.

    Looked up in order: $TAWASUL_NLU_TRAINING_DATA; the package's parent directory (a source
    checkout); the current directory and its parents (an installed package run from the repo).
    The first candidate is returned even if missing, so the error message names a real place.
    """
    env = os.environ.get(TRAINING_DATA_ENV)
    if env:
        return Path(env)
    return repo_file(_RELATIVE)


def repo_file(relative: str | Path) -> Path:
    """`relative` (e.g. data/urgency_lexicon.yml) in the repository this package belongs to.

    Same search as `default_training_data` without the environment variable: the package's
    parent directory, then the current directory and its parents; the first candidate if none exists.
    """
    candidates = [Path(__file__).resolve().parent.parent / relative]
    cwd = Path.cwd().resolve()
    candidates += [d / relative for d in (cwd, *cwd.parents)]
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0]


def default_gazetteer() -> Path:
    training = default_training_data()
    near = training.parent.parent / "gazetteer.yml"
    if near.is_file():
        return near
    return Path(__file__).resolve().parent.parent / "data" / "gazetteer.yml"
