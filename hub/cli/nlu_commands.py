"""CLI commands of the NLU: `tawasul train`, `tawasul classify`, `tawasul nlu-eval`.

Thin click wrappers around `nlu`; the main group in `hub/cli/__init__.py` adds them with
`main.add_command(...)`. `classify` is a contract other tools parse: one JSON object per input
line, UTF-8 (not \\u-escaped), with at least text, language, intent, confidence, entities.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

import nlu
from hub.config import Settings
from nlu.data import TrainingDataError, default_training_data, load_dataset
from nlu.evaluate import EvaluationError, evaluate, evaluate_heldout, format_evaluation, format_heldout
from nlu.model import save_model, train
from nlu.types import CATEGORIES


def _hub_settings() -> Settings:
    # Imported here: the hub's settings module is only needed when a command runs.
    from hub.cli.common import settings_or_exit

    return settings_or_exit()


def _utf8_stdout() -> None:
    # Arabic must reach pipes and files as UTF-8 whatever the locale says.
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]


def _dumps(obj: dict[str, Any]) -> str:
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (undecodable bytes in argv) cannot be written as UTF-8: escape this line.
        line = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return line


@click.command("train")
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Training file (Rasa NLU YAML or CSV text,label). Default: data/training/nlu.yml.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the model artifact. Default: the hub's TAWASUL_NLU_MODEL_PATH (var/models/nlu.joblib).",
)
@click.option("--folds", default=5, show_default=True, help="Cross-validation folds (for calibration and report).")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Fix the uncertainty threshold instead of choosing it from cross-validation.",
)
def train_command(data_path: Path | None, out_path: Path | None, folds: int, threshold: float | None) -> None:
    """Train the built-in intent classifier and save a versioned artifact."""
    _utf8_stdout()
    if out_path is None:
        out_path = _hub_settings().nlu_model_path or Path("var/models/nlu.joblib")
    path = data_path or default_training_data()
    try:
        dataset = load_dataset(path)
    except TrainingDataError as exc:
        raise click.ClickException(str(exc)) from exc
    started = time.perf_counter()
    model = train(dataset, folds=folds, threshold=threshold)
    save_model(model, out_path)
    seconds = time.perf_counter() - started
    click.echo(f"trained on {dataset.source} ({len(dataset.texts)} examples) in {seconds:.1f}s")
    click.echo(f"training data sha256 {dataset.sha256}")
    counts = dataset.counts()
    click.echo("examples per intent: " + ", ".join(f"{k}={counts[k]}" for k in model.labels))
    nb_weight = (model.cv or {}).get("nb_weight")
    stack = f", naive-Bayes weight {nb_weight}" if nb_weight else ""
    if model.cv:
        cv = model.cv
        click.echo(
            f"cross-validated ({cv['folds']}-fold): category macro-F1 {cv['category_macro_f1']}, "
            f"macro-F1 {cv['macro_f1']}, accuracy {cv['accuracy']}"
        )
        click.echo("  " + ", ".join(f"{c}={cv['per_class'][c]['f1']}" for c in CATEGORIES if c in cv["per_class"]))
        click.echo(
            f"  calibration error (ECE) {cv['expected_calibration_error']}; at threshold {model.threshold} "
            f"{cv['auto_routed_share']:.0%} auto-routed with accuracy {cv['auto_routed_accuracy']}"
        )
    click.echo(
        f"threshold {model.threshold}, temperature {model.temperature:.3f}{stack}, scikit-learn {model.sklearn_version}"
    )
    click.echo(f"artifact written to {out_path}")


def _classify_line(text: str) -> str:
    try:
        return _dumps(nlu.analyse(text).to_json())
    except Exception as exc:  # analyse never raises; this guards the JSON encoding of odd input
        return _dumps(
            {
                "text": text,
                "language": "und",
                "intent": "other",
                "confidence": 0.0,
                "entities": [],
                "uncertain": True,
                "error": f"{type(exc).__name__}: {exc}",
            }
        )


@click.command("classify")
@click.argument("texts", nargs=-1)
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Model artifact (default: the hub's configuration, else var/models/nlu.joblib).",
)
@click.option("--backend", type=click.Choice(["builtin", "rasa"]), default=None)
@click.option("--rasa-url", default=None, help="Rasa server for --backend rasa.")
def classify_command(
    texts: tuple[str, ...], model_path: Path | None, backend: str | None, rasa_url: str | None
) -> None:
    """Classify TEXTS, or each line of standard input; print one JSON object per line."""
    _utf8_stdout()
    settings = _hub_settings()
    try:
        nlu.configure(
            model_path=model_path or settings.nlu_model_path,
            backend=backend or ("rasa" if rasa_url else settings.nlu_backend),
            rasa_url=rasa_url or settings.rasa_url,
            rasa_timeout=settings.rasa_timeout_s,
            threshold=settings.nlu_threshold,
            langid_backend=settings.langid_backend,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if texts:
        for text in texts:
            click.echo(_classify_line(text))
        return
    for raw in sys.stdin.buffer:
        # Every input line gets an output line (an empty one is intent "other"), so the
        # output can be zipped with the input; bytes that are not UTF-8 become U+FFFD.
        click.echo(_classify_line(raw.decode("utf-8", errors="replace").rstrip("\r\n")))


@click.command("nlu-eval")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--test",
    "test_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Train on PATH and score this held-out file (Rasa YAML or CSV) instead of cross-validating. "
    "With the five labels inquiry/complaint/suggestion/consultation/other, dialogue intents count as other.",
)
@click.option("--folds", default=5, show_default=True, help="Cross-validation folds (with --test: for calibration).")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def nlu_eval_command(path: Path | None, test_path: Path | None, folds: int, seed: int, as_json: bool) -> None:
    """Cross-validated per-class report and confusion matrix for a Rasa-YAML or CSV (text,label) file.

    With --test TESTPATH: train on PATH exactly as `tawasul train` does and report on TESTPATH
    (per-class P/R/F1, macro-F1, accuracy, confusion matrix, share routed automatically and its
    accuracy at the model's uncertainty threshold).
    """
    _utf8_stdout()
    try:
        dataset = load_dataset(path or default_training_data())
        if test_path is not None:
            held = evaluate_heldout(dataset, load_dataset(test_path), folds=folds, seed=seed)
            click.echo(_dumps(held.to_json()) if as_json else format_heldout(held))
            return
        ev = evaluate(dataset, folds=folds, seed=seed)
    except (TrainingDataError, EvaluationError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_dumps(ev.to_json()) if as_json else format_evaluation(ev))


__all__ = ["classify_command", "nlu_eval_command", "train_command"]
