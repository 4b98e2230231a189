"""What the urgent-safety signal costs per message: `nlu.analyse` with and without it.

    python bench/urgency.py [--calls 6000]

One core (BLAS/OpenMP threads off, the process pinned to one CPU). The baseline is the same
engine in the same run with its urgency detector replaced by one that has neither lexicon nor
model (it answers `none` at once), so the ratio is the detector's own cost. Messages: ordinary
traffic (data/evaluation/nlu_heldout.yml) and the blind urgency set, interleaved, so both the
lexicon's misses and its hits are timed. Prints figures only; results go to docs/benchmarks.md.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

_HERE = Path(__file__).resolve().parent
REPO = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(REPO))

import nlu.engine  # noqa: E402
from nlu.data import load_dataset  # noqa: E402
from nlu.urgency import BLIND10_RELATIVE, ORDINARY_RELATIVE, UrgencyDetector  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _time(engine: nlu.engine.Engine, texts: list[str], calls: int) -> list[float]:
    out = []
    for i in range(calls):
        text = texts[i % len(texts)]
        started = time.perf_counter()
        engine.analyse(text)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6000, help="calls per variant (after 300 warm-up calls)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    ordinary = list(load_dataset(REPO / ORDINARY_RELATIVE).texts)
    blind = list(load_dataset(REPO / BLIND10_RELATIVE).texts)
    texts = [t for pair in zip(ordinary, blind, strict=False) for t in pair] + ordinary[len(blind) :]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        engine = nlu.engine.Engine(replace(nlu.engine.Settings.from_env(), model_path=Path(tmp) / "nlu.joblib"))
        print(f"engine built (both models trained in-process) in {time.perf_counter() - started:.1f} s")
        real = engine.urgency
        variants = {"baseline (no urgency)": UrgencyDetector(None, None), "with urgency": real}
        timings: dict[str, list[float]] = {}
        for _round in range(2):  # alternate, so drift in the machine's load hits both alike
            for name, detector in variants.items():
                engine.urgency = detector
                _time(engine, texts, 300)
                timings.setdefault(name, []).extend(_time(engine, texts, args.calls // 2))
        engine.urgency = real
    base = timings["baseline (no urgency)"]
    print(f"{len(texts)} messages, {args.calls} calls per variant, one core; load average {os.getloadavg()[0]:.1f}")
    print("| variant | p50 ms | p95 ms | p99 ms | p50 ratio |")
    print("|---|---|---|---|---|")
    for name, values in timings.items():
        p50 = statistics.median(values)
        print(
            f"| {name} | {p50:.3f} | {_percentile(values, 0.95):.3f} | {_percentile(values, 0.99):.3f}"
            f" | {p50 / statistics.median(base):.2f}x |"
        )


if __name__ == "__main__":
    main()
