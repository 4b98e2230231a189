"""Assemble `data/training/nlu.yml` from per-intent part files written by several authors.

Usage:
    python -m nlu.tools.assemble_training_data SOURCE [SOURCE ...] [--out data/training/nlu.yml]
        [--heldout data/evaluation/nlu_heldout.yml ...]

Each SOURCE is a directory (every `*.yml` in it is read) or one Rasa NLU YAML file. The tool keeps
one block per intent in a fixed order, drops exact duplicates after normalisation
(`nlu.normalize.normalize`, i.e. what the classifier sees), drops texts that appear under two
different intents (the label would be a coin toss) and reports both, then checks the issue's
minimums: 250 examples per category, 40 per dialogue intent.

`--heldout FILE` names an evaluation set that must never be trained on: the file itself is skipped
if it sits in a SOURCE directory, and every training text whose normalised form equals a held-out
text is dropped and reported. Exit status 1 if a minimum is not met.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from nlu.data import load_dataset, load_rasa_yaml
from nlu.normalize import normalize
from nlu.types import CATEGORIES, DIALOGUE_INTENTS, INTENTS

MINIMUM = {**{c: 250 for c in CATEGORIES}, **{d: 40 for d in DIALOGUE_INTENTS}}


def heldout_keys(paths: Iterable[Path]) -> set[str]:
    """Normalised texts of the held-out evaluation files (Rasa YAML or CSV)."""
    keys: set[str] = set()
    for path in paths:
        keys.update(normalize(t) for t in load_dataset(path).texts)
    return keys


def assemble(parts: list[Path], exclude: set[str] | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """Examples per intent after de-duplication, and human-readable notes on what was dropped.

    `exclude` holds normalised texts that must not be trained on (a held-out evaluation set).
    """
    exclude = exclude or set()
    notes: list[str] = []
    seen: dict[str, tuple[str, str]] = {}  # normalised text -> (intent, original)
    by_intent: dict[str, list[str]] = defaultdict(list)
    conflicts: set[str] = set()
    for part in parts:
        ds = load_rasa_yaml(part)
        dup = 0
        for text, intent in zip(ds.texts, ds.labels, strict=True):
            if intent not in INTENTS:
                notes.append(f"{part.name}: unknown intent {intent!r} for {text!r}: skipped")
                continue
            key = normalize(text)
            if key in exclude:
                notes.append(f"{part.name}: {text!r} ({intent}) is in the held-out set: dropped")
                continue
            if key in seen:
                if seen[key][0] != intent:
                    conflicts.add(key)
                    notes.append(f"conflict: {text!r} is {intent} in {part.name} but {seen[key][0]} elsewhere")
                else:
                    dup += 1
                continue
            seen[key] = (intent, text)
            by_intent[intent].append(text)
        if dup:
            notes.append(f"{part.name}: {dup} duplicate(s) after normalisation dropped")
    for key in sorted(conflicts):
        intent, text = seen[key]
        by_intent[intent].remove(text)
    return by_intent, notes


def part_files(sources: Iterable[Path], heldout: Iterable[Path] = (), exclude: set[str] | None = None) -> list[Path]:
    """The part files of the sources (directories give their `*.yml`), held-out files left out.

    A file is held-out when it is one of `heldout` or when every one of its texts is in `exclude`
    (a copy of the held-out set lying next to the training parts).
    """
    skip = {p.resolve() for p in heldout}
    files: list[Path] = []
    for source in sources:
        found = sorted(source.glob("*.yml")) if source.is_dir() else [source]
        for f in found:
            if f.resolve() in skip or f.resolve() in {x.resolve() for x in files}:
                continue
            if exclude and all(normalize(t) in exclude for t in load_rasa_yaml(f).texts):
                print(f"{f}: every text is in the held-out set (a copy of it): skipped")
                continue
            files.append(f)
    return files


def render(by_intent: dict[str, list[str]], sources: list[str], heldout: list[str] | None = None) -> str:
    lines = [
        "# Tawasul Hub NLU training data (Rasa NLU YAML, usable by a Rasa project as is).",
        "# Labelling rules: data/training/GUIDELINES.md. Assembled by nlu/tools/assemble_training_data.py from:",
        *(f"#   {s}" for s in sources),
        "# Edit here directly; re-run `tawasul train` (the hub retrains by itself when this file's hash changes).",
    ]
    if heldout:
        lines.append(f"# Never add texts of the held-out evaluation set ({', '.join(heldout)}): tests/nlu checks it.")
    lines += ['version: "3.1"', "nlu:"]
    for intent in INTENTS:
        examples = by_intent.get(intent, [])
        if not examples:
            continue
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {' '.join(ex.split())}" for ex in examples)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("sources", type=Path, nargs="+", help="directories of *.yml parts, or part files")
    parser.add_argument("--out", type=Path, default=Path("data/training/nlu.yml"))
    parser.add_argument(
        "--heldout",
        type=Path,
        action="append",
        default=[],
        help="an evaluation file never to train on (repeatable); overlapping texts are dropped",
    )
    args = parser.parse_args(argv)
    exclude = heldout_keys(args.heldout)
    parts = part_files(args.sources, args.heldout, exclude)
    if not parts:
        print(f"no *.yml files in {', '.join(map(str, args.sources))}", file=sys.stderr)
        return 1
    by_intent, notes = assemble(parts, exclude)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    names = [f"{p.parent.name}/{p.name}" for p in parts]
    args.out.write_text(render(by_intent, names, [str(h) for h in args.heldout]), encoding="utf-8")
    for note in notes:
        print(note)
    short = False
    print(f"\n{'intent':<15}{'examples':>9}{'minimum':>9}")
    for intent in INTENTS:
        n = len(by_intent.get(intent, []))
        flag = "" if n >= MINIMUM[intent] else "  SHORT"
        short = short or bool(flag)
        print(f"{intent:<15}{n:>9}{MINIMUM[intent]:>9}{flag}")
    print(f"{'total':<15}{sum(len(v) for v in by_intent.values()):>9}")
    print(f"written to {args.out}")
    return 1 if short else 0


if __name__ == "__main__":
    raise SystemExit(main())
