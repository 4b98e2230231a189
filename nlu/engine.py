"""The process-wide NLU engine behind `nlu.analyse`: settings, lazy thread-safe loading, fallbacks.

One engine per process, built on first use under a lock. Building loads the model artifact; if
it is missing, unreadable, made by another scikit-learn, or its recorded training-data hash
differs from the current training file, the engine retrains in-process (a few seconds), saves
the artifact atomically and logs one warning — so a fresh clone works with no extra step.

`analyse` never raises: any failure yields an `other`/uncertain Analysis and a logged error, so
one odd message cannot stop the intake pipeline.

Every Analysis also carries the urgent-safety signal (`nlu.urgency`). It fails safe: without a
usable urgency model (or if it fails on a message) the lexicon alone decides, and even when the
whole engine is unavailable the degraded Analysis is still checked against the lexicon.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nlu.classifier import IntentClassifier, ModelError, load_model, save_model
from nlu.data import default_gazetteer, default_training_data, file_sha256, load_dataset
from nlu.entities import extract_entities
from nlu.gazetteer import Gazetteer, GazetteerError, load_gazetteer
from nlu.langid import LanguageIdentifier
from nlu.normalize import CharNormalized, normalize_chars, tokens_for_model
from nlu.rasa import RasaClient, RasaError
from nlu.types import Analysis, Entity
from nlu.urgency import (
    NONE,
    LexiconError,
    UrgencyDetector,
    UrgencySignal,
    default_lexicon,
    default_urgency_data,
    lexicon_only,
    load_lexicon,
    load_or_train_urgency,
    urgency_model_path,
)

log = logging.getLogger("nlu")

DEFAULT_MODEL_PATH = Path("var") / "models" / "nlu.joblib"
MAX_MODEL_CHARS = 5000  # the classifier reads the first 5,000 normalised characters of a message


class NLUUnavailable(RuntimeError):
    """Neither a usable artifact nor training data to build one."""


@dataclass(frozen=True)
class Settings:
    model_path: Path = DEFAULT_MODEL_PATH
    backend: str = "builtin"
    rasa_url: str | None = None
    rasa_timeout: float = 2.0
    threshold: float | None = None
    training_data: Path | None = None
    langid_backend: str = "lingua"
    gazetteer: Path | None = None
    urgency_data: Path | None = None  # default: data/training/urgency.yml ($TAWASUL_URGENCY_TRAINING_DATA)
    urgency_lexicon: Path | None = None  # default: data/urgency_lexicon.yml ($TAWASUL_URGENCY_LEXICON)

    @classmethod
    def from_env(cls) -> Settings:
        """Defaults for a process that never called `configure` (scripts, a bare worker).

        Same variable names as the hub's settings (TAWASUL_NLU_BACKEND, TAWASUL_RASA_URL,
        TAWASUL_RASA_TIMEOUT_S, TAWASUL_NLU_MODEL_PATH, TAWASUL_VAR_DIR, TAWASUL_NLU_THRESHOLD,
        TAWASUL_LANGID_BACKEND), plus TAWASUL_NLU_TRAINING_DATA and TAWASUL_NLU_GAZETTEER.
        """
        env = os.environ
        threshold = env.get("TAWASUL_NLU_THRESHOLD")
        data = env.get("TAWASUL_NLU_TRAINING_DATA")
        gaz = env.get("TAWASUL_NLU_GAZETTEER")
        model = env.get("TAWASUL_NLU_MODEL_PATH")
        var_dir = env.get("TAWASUL_VAR_DIR")
        if model:
            model_path = Path(model)
        elif var_dir:
            model_path = Path(var_dir) / "models" / "nlu.joblib"
        else:
            model_path = DEFAULT_MODEL_PATH
        return cls(
            model_path=model_path,
            backend=env.get("TAWASUL_NLU_BACKEND", "builtin"),
            rasa_url=env.get("TAWASUL_RASA_URL") or None,
            rasa_timeout=float(env.get("TAWASUL_RASA_TIMEOUT_S", "2.0")),
            threshold=float(threshold) if threshold else None,
            training_data=Path(data) if data else None,
            langid_backend=env.get("TAWASUL_LANGID_BACKEND", "lingua"),
            gazetteer=Path(gaz) if gaz else None,
        )


def load_or_train(model_path: Path, training_data: Path) -> IntentClassifier:
    """The artifact if it matches the training data; otherwise train, save and warn once."""
    current = file_sha256(training_data) if training_data.is_file() else None
    reason = "missing"
    if model_path.is_file():
        try:
            model = load_model(model_path)
        except ModelError as exc:
            reason = f"unreadable ({exc})"
        else:
            if current is not None and model.data_sha256 != current:
                reason = "training data changed"
            else:
                return model
            if current is None:
                log.warning("nlu.model stale=%r but no training data at %s; using it anyway", reason, training_data)
                return model
    if current is None:
        raise NLUUnavailable(f"no usable model at {model_path} and no training data at {training_data}")
    log.warning("nlu.model %s at %s: training from %s in-process", reason, model_path, training_data)
    from nlu.model import train  # scikit-learn is imported only when a model must be trained

    model = train(load_dataset(training_data))
    try:
        save_model(model, model_path)
    except OSError as exc:
        log.warning("nlu.model cannot save artifact to %s (%s); keeping it in memory", model_path, exc)
    return model


class Engine:
    """Normalise → language → intent (+confidence) → entities, for one process."""

    def __init__(self, settings: Settings) -> None:
        if settings.backend not in ("builtin", "rasa"):
            raise ValueError(f"unknown NLU backend {settings.backend!r} (use 'builtin' or 'rasa')")
        if settings.backend == "rasa" and not settings.rasa_url:
            raise ValueError("the rasa backend needs rasa_url (TAWASUL_RASA_URL)")
        self.settings = settings
        self.langid = LanguageIdentifier(settings.langid_backend)
        self.gazetteer = self._load_gazetteer(settings.gazetteer or default_gazetteer())
        self.rasa = RasaClient(settings.rasa_url, settings.rasa_timeout) if settings.rasa_url else None
        self._model: IntentClassifier | None = None
        self._model_lock = threading.Lock()
        if settings.backend == "builtin":
            self.model()  # load now, so the first message does not pay for it
        self.urgency = self._load_urgency()

    def _load_urgency(self) -> UrgencyDetector:
        """Lexicon and urgency model; either may fail alone (logged), the other then decides."""
        lexicon = None
        try:
            lexicon = load_lexicon(self.settings.urgency_lexicon or default_lexicon())
        except LexiconError as exc:
            log.error("nlu.urgency lexicon disabled: %s", exc)
        model = None
        try:
            model = load_or_train_urgency(
                urgency_model_path(self.settings.model_path), self.settings.urgency_data or default_urgency_data()
            )
        except Exception as exc:  # fail safe: any trouble with the model leaves the lexicon in charge
            log.error("nlu.urgency model unavailable, lexicon only: %s", exc)
        return UrgencyDetector(lexicon, model)

    def _urgency(self, items: list[tuple[CharNormalized, str, str]]) -> list[UrgencySignal]:
        try:
            return self.urgency.detect_many(items)
        except Exception:
            log.exception("nlu.urgency failed; lexicon only")
        try:
            return UrgencyDetector(self.urgency.lexicon, None).detect_many(items)
        except Exception:
            log.exception("nlu.urgency lexicon failed too")
            return [NONE] * len(items)

    @staticmethod
    def _with_urgency(analysis: Analysis, signal: UrgencySignal) -> Analysis:
        return replace(analysis, urgency=signal.level, urgency_reason=signal.reason)

    @staticmethod
    def _load_gazetteer(path: Path) -> Gazetteer | None:
        try:
            return load_gazetteer(path)
        except GazetteerError as exc:
            log.error("nlu.gazetteer disabled: %s", exc)
            return None

    def model(self) -> IntentClassifier:
        if self._model is None:
            with self._model_lock:
                if self._model is None:
                    data = self.settings.training_data or default_training_data()
                    self._model = load_or_train(self.settings.model_path, data)
        return self._model

    @property
    def threshold(self) -> float:
        if self.settings.threshold is not None:
            return self.settings.threshold
        return self.model().threshold

    def analyse(self, text: str) -> Analysis:
        chars = normalize_chars(text)
        normalized = tokens_for_model(chars.text)
        language = self.langid.detect(text)
        entities = extract_entities(text, self.gazetteer, chars)
        [signal] = self._urgency([(chars, normalized, text)])
        if self.settings.backend == "rasa" and self.rasa is not None:
            try:
                return self._with_urgency(self._rasa(text, normalized, language, entities), signal)
            except RasaError as exc:
                log.warning("nlu.rasa fallback=builtin reason=%r", str(exc))
                analysis = replace(self._builtin(text, normalized, language, entities), fallback_reason=f"rasa: {exc}")
                return self._with_urgency(analysis, signal)
        return self._with_urgency(self._builtin(text, normalized, language, entities), signal)

    def analyse_many(self, texts: list[str]) -> list[Analysis]:
        """Like `analyse` for each text, with one classifier call for the batch (built-in backend)."""
        if self.settings.backend == "rasa":
            return [self.analyse(t) for t in texts]
        prepared = []
        urgency_items: list[tuple[CharNormalized, str, str]] = []
        for text in texts:
            chars = normalize_chars(text)
            normalized = tokens_for_model(chars.text)
            prepared.append((text, normalized, self.langid.detect(text), extract_entities(text, self.gazetteer, chars)))
            urgency_items.append((chars, normalized, text))
        signals = self._urgency(urgency_items)
        readable = [norm[:MAX_MODEL_CHARS] for _, norm, _, _ in prepared if norm]
        rows = iter(self.model().predict_proba(readable)) if readable else iter(())
        return [
            self._with_urgency(self._classified(text, norm, lang, ents, next(rows) if norm else None), signal)
            for (text, norm, lang, ents), signal in zip(prepared, signals, strict=True)
        ]

    def _builtin(self, text: str, normalized: str, language: str, entities: tuple[Entity, ...]) -> Analysis:
        probs = self.model().predict_proba([normalized[:MAX_MODEL_CHARS]])[0] if normalized else None
        return self._classified(text, normalized, language, entities, probs)

    def _classified(
        self, text: str, normalized: str, language: str, entities: tuple[Entity, ...], probs: np.ndarray | None
    ) -> Analysis:
        if probs is None:
            # Nothing to read (empty, or only invisible characters): not a request.
            return Analysis(text, normalized, language, "other", 1.0, False, entities, (("other", 1.0),), "builtin")
        labels = self.model().labels
        ranking = tuple((labels[i], round(float(probs[i]), 6)) for i in probs.argsort()[::-1][:5])
        intent, confidence = ranking[0]
        return Analysis(
            text, normalized, language, intent, confidence, confidence < self.threshold, entities, ranking, "builtin"
        )

    def _rasa(self, text: str, normalized: str, language: str, entities: tuple[Entity, ...]) -> Analysis:
        assert self.rasa is not None
        parsed = self.rasa.parse(text)
        threshold = self.settings.threshold if self.settings.threshold is not None else 0.5
        # Ours first (canonical values); Rasa's entities where they do not overlap ours.
        merged = list(entities)
        for e in parsed.entities:
            if all(e.end <= o.start or e.start >= o.end for o in entities):
                merged.append(e)
        merged.sort(key=lambda e: e.start)
        uncertain = parsed.rasa_fallback or parsed.confidence < threshold
        return Analysis(
            text,
            normalized,
            language,
            parsed.intent,
            parsed.confidence,
            uncertain,
            tuple(merged),
            parsed.ranking,
            "rasa",
        )


# --- process-wide state ---------------------------------------------------------------------

_lock = threading.Lock()
_settings: Settings | None = None
_engine: Engine | None = None
_failed: str | None = None


def configure(
    *,
    model_path: str | Path | None = None,
    backend: str = "builtin",
    rasa_url: str | None = None,
    rasa_timeout: float = 2.0,
    threshold: float | None = None,
    training_data: str | Path | None = None,
    langid_backend: str = "lingua",
    urgency_data: str | Path | None = None,
    urgency_lexicon: str | Path | None = None,
) -> None:
    """Set the engine's settings; the engine is (re)built lazily on the next `analyse`."""
    if backend not in ("builtin", "rasa"):
        raise ValueError(f"unknown NLU backend {backend!r} (use 'builtin' or 'rasa')")
    if backend == "rasa" and not rasa_url:
        raise ValueError("the rasa backend needs rasa_url")
    if langid_backend not in ("lingua", "langdetect"):
        raise ValueError(f"unknown language-id backend {langid_backend!r}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must be between 0 and 1")
    global _settings, _engine, _failed
    with _lock:
        _settings = Settings(
            model_path=Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH,
            backend=backend,
            rasa_url=rasa_url,
            rasa_timeout=rasa_timeout,
            threshold=threshold,
            training_data=Path(training_data) if training_data is not None else None,
            langid_backend=langid_backend,
            gazetteer=Settings.from_env().gazetteer,
            urgency_data=Path(urgency_data) if urgency_data is not None else None,
            urgency_lexicon=Path(urgency_lexicon) if urgency_lexicon is not None else None,
        )
        _engine = None
        _failed = None


def get_engine() -> Engine:
    """The process's engine, built on first call (thread-safe). Raises if it cannot be built."""
    global _engine, _settings, _failed
    engine = _engine
    if engine is not None:
        return engine
    with _lock:
        if _engine is None:
            if _settings is None:
                _settings = Settings.from_env()
            try:
                _engine = Engine(_settings)
            except Exception as exc:
                _failed = str(exc)
                raise
        return _engine


def reset() -> None:
    """Forget the engine and settings (tests, or after replacing the artifact on disk)."""
    global _settings, _engine, _failed
    with _lock:
        _settings = None
        _engine = None
        _failed = None


def _degraded(text: str, reason: str) -> Analysis:
    try:
        normalized = tokens_for_model(normalize_chars(text).text)
    except Exception:
        normalized = ""
    try:
        signal = lexicon_only(text)  # fail safe: danger phrases still fire without any model
    except Exception:
        log.exception("nlu.urgency lexicon failed on a degraded analysis")
        signal = NONE
    return Analysis(
        text,
        normalized,
        "und",
        "other",
        0.0,
        True,
        (),
        (),
        "none",
        fallback_reason=reason,
        urgency=signal.level,
        urgency_reason=signal.reason,
    )


def analyse_many(texts: list[str]) -> list[Analysis]:
    """Analyse a batch (faster per message than `analyse` in a loop); never raises."""
    clean = [t if isinstance(t, str) else ("" if t is None else str(t)) for t in texts]
    try:
        return get_engine().analyse_many(clean)
    except Exception as exc:
        log.error("nlu.analyse_many failed, analysing one by one: %s", exc)
        return [analyse(t) for t in clean]


def analyse(text: str) -> Analysis:
    """Analyse one message. Never raises: failures give an uncertain `other` (see module doc)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    try:
        engine = get_engine()
    except Exception as exc:
        log.error("nlu.engine unavailable: %s", exc)
        return _degraded(text, f"engine unavailable: {exc}")
    try:
        return engine.analyse(text)
    except Exception as exc:
        log.exception("nlu.analyse failed chars=%d", len(text))
        return _degraded(text, f"analysis failed: {type(exc).__name__}")
