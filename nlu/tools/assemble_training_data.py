"""Assemble `data/training/nlu.yml` from per-intent part files written by several authors.

Usage: python -m nlu.tools.assemble_training_data PARTS_DIR [--out data/training/nlu.yml]

Reads every `*.yml` in PARTS_DIR (Rasa NLU YAML), keeps one block per intent in a fixed order,
drops exact duplicates after normalisation (`nlu.normalize.normalize`, i.e. what the classifier
sees), drops texts that appear under two different intents (the label would be a coin toss) and
reports both, then checks the issue's minimums: 250 examples per category, 40 per dialogue intent.
Exit status 1 if a minimum is not met.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from nlu.data import load_rasa_yaml
from nlu.normalize import normalize
from nlu.types import CATEGORIES, DIALOGUE_INTENTS, INTENTS

MINIMUM = {**{c: 250 for c in CATEGORIES}, **{d: 40 for d in DIALOGUE_INTENTS}}


def assemble(parts: list[Path]) -> tuple[dict[str, list[str]], list[str]]:
    """Examples per intent after de-duplication, and human-readable notes on what was dropped."""
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
    for key in conflicts:
        intent, text = seen[key]
        by_intent[intent].remove(text)
    return by_intent, notes


def render(by_intent: dict[str, list[str]], sources: list[str]) -> str:
    lines = [
        "# Tawasul Hub NLU training data (Rasa NLU YAML, usable by a Rasa project as is).",
        "# Labelling rules: data/training/GUIDELINES.md. Assembled by nlu/tools/assemble_training_data.py",
        f"# from: {', '.join(sources)}. Edit here directly; re-run `tawasul train` (the hub retrains",
        "# by itself when this file's hash changes).",
        'version: "3.1"',
        "nlu:",
    ]
    for intent in INTENTS:
        examples = by_intent.get(intent, [])
        if not examples:
            continue
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {' '.join(ex.split())}" for ex in examples)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("data/training/nlu.yml"))
    args = parser.parse_args(argv)
    parts = sorted(args.parts_dir.glob("*.yml"))
    if not parts:
        print(f"no *.yml files in {args.parts_dir}", file=sys.stderr)
        return 1
    by_intent, notes = assemble(parts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(by_intent, [p.name for p in parts]), encoding="utf-8")
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
