"""CLI commands of the NLU: `tawasul train`, `tawasul classify`, `tawasul nlu-eval`.

`train` and `nlu-eval` cover the intent model and the urgent-safety detector (`nlu.urgency`).

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
from nlu.evaluate import (
    EvaluationError,
    evaluate,
    evaluate_heldout,
    evaluate_urgency,
    format_evaluation,
    format_heldout,
    format_ordinary,
    format_urgency,
    ordinary_traffic,
)
from nlu.model import save_model, train
from nlu.types import CATEGORIES
from nlu.urgency import (
    LexiconError,
    default_lexicon,
    default_ordinary_traffic,
    default_urgency_data,
    default_urgency_tests,
    load_lexicon,
    save_urgency_model,
    train_urgency,
    urgency_model_path,
)


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
@click.option(
    "--urgency-data",
    type=click.Path(path_type=Path),
    default=None,
    help="Urgent-safety training file (labels urgent/elevated/none). Default: data/training/urgency.yml.",
)
def train_command(
    data_path: Path | None, out_path: Path | None, folds: int, threshold: float | None, urgency_data: Path | None
) -> None:
    """Train the built-in intent classifier and the urgent-safety model; save versioned artifacts.

    The urgency artifact sits next to the intent artifact (nlu.joblib → nlu-urgency.joblib).
    """
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
    _train_urgency(urgency_data or default_urgency_data(), urgency_model_path(out_path), folds)


def _train_urgency(path: Path, out_path: Path, folds: int) -> None:
    try:
        dataset = load_dataset(path)
        lexicon = load_lexicon(default_lexicon())
    except (TrainingDataError, LexiconError) as exc:
        raise click.ClickException(str(exc)) from exc
    started = time.perf_counter()
    try:
        model = train_urgency(dataset, folds=folds, lexicon=lexicon)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    save_urgency_model(model, out_path)
    counts = dataset.counts()
    click.echo(
        f"urgency: trained on {dataset.source} ({len(dataset.texts)} examples: "
        + ", ".join(f"{k}={counts.get(k, 0)}" for k in ("urgent", "elevated", "none"))
        + f") in {time.perf_counter() - started:.1f}s"
    )
    cv = (model.cv or {}).get("model_only")
    if cv:
        click.echo(
            f"  cross-validated, model alone: urgent recall {cv['urgent_recall']}, precision {cv['urgent_precision']}"
        )
    click.echo(
        f"  thresholds: p(urgent) >= {model.urgent_threshold} (>= {model.strict_threshold} when the lexicon"
        f" cancelled a danger phrase), p(elevated)+p(urgent) >= {model.elevated_threshold}"
    )
    click.echo(f"urgency artifact written to {out_path}")


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
@click.option(
    "--urgency/--no-urgency",
    default=True,
    show_default=True,
    help="Also report the urgent-safety detector on its held-out set (recall and precision of urgent).",
)
@click.option(
    "--urgency-data",
    type=click.Path(path_type=Path),
    default=None,
    help="Urgent-safety training file. Default: data/training/urgency.yml.",
)
@click.option(
    "--urgency-test",
    "urgency_tests",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Urgent-safety held-out file (never trained on); repeatable. Default: the blind sets "
    "data/evaluation/urgency_blind10.yml and urgency_blind11.yml.",
)
def nlu_eval_command(
    path: Path | None,
    test_path: Path | None,
    folds: int,
    seed: int,
    as_json: bool,
    urgency: bool,
    urgency_data: Path | None,
    urgency_tests: tuple[Path, ...],
) -> None:
    """Cross-validated per-class report and confusion matrix for a Rasa-YAML or CSV (text,label) file.

    With --test TESTPATH: train on PATH exactly as `tawasul train` does and report on TESTPATH
    (per-class P/R/F1, macro-F1, accuracy, confusion matrix, share routed automatically and its
    accuracy at the model's uncertainty threshold).

    Then, unless --no-urgency: the urgent-safety detector trained on its training file and scored
    on each held-out file — urgent recall and precision (lexicon + model, and each alone), elevated
    recall and precision, urgent recall counting elevated as caught, and the confusion matrix —
    and the share of ordinary traffic (data/evaluation/nlu_heldout.yml) it flags. With --json:
    the keys "urgency" (first set), "urgency_sets" (all) and "urgency_ordinary".
    """
    _utf8_stdout()
    try:
        dataset = load_dataset(path or default_training_data())
        if test_path is not None:
            report: Any = evaluate_heldout(dataset, load_dataset(test_path), folds=folds, seed=seed)
            text = format_heldout(report)
        else:
            report = evaluate(dataset, folds=folds, seed=seed)
            text = format_evaluation(report)
        out = report.to_json()
        if urgency:
            lexicon = load_lexicon(default_lexicon())
            train_urgency_data = load_dataset(urgency_data or default_urgency_data())
            reports = [
                evaluate_urgency(train_urgency_data, load_dataset(p), lexicon)
                for p in (urgency_tests or default_urgency_tests())
            ]
            out["urgency"] = reports[0].to_json() if reports else None
            out["urgency_sets"] = [r.to_json() for r in reports]
            text += "".join("\n\n" + format_urgency(r) for r in reports)
            if default_ordinary_traffic().is_file():
                ordinary = ordinary_traffic(train_urgency_data, load_dataset(default_ordinary_traffic()), lexicon)
                out["urgency_ordinary"] = ordinary
                text += "\n\n" + format_ordinary(ordinary)
    except (TrainingDataError, EvaluationError, LexiconError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_dumps(out) if as_json else text)


__all__ = ["classify_command", "nlu_eval_command", "train_command"]
