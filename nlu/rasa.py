"""Optional Rasa backend: ask a Rasa server's `POST /model/parse` for intent and entities.

Rasa runs as a separate service (it needs Python ≤ 3.10 and pins old libraries, so it can never
share the hub's environment). The response shape is Rasa's documented ParseResult:
`{"text", "intent": {"name", "confidence"}, "intent_ranking": [{"name", "confidence"}...],
"entities": [{"entity", "value", "start", "end", ...}]}`. Anything else — HTTP errors, time-outs,
malformed JSON — raises `RasaError`; the engine then falls back to the built-in model.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from nlu.types import INTENTS, Entity

# Rasa's FallbackClassifier answers this when its own threshold is not met.
RASA_FALLBACK_INTENT = "nlu_fallback"


class RasaError(RuntimeError):
    """The Rasa server did not give a usable answer."""


@dataclass(frozen=True)
class RasaParse:
    intent: str
    confidence: float
    ranking: tuple[tuple[str, float], ...]
    entities: tuple[Entity, ...]
    rasa_fallback: bool  # Rasa itself was unsure (nlu_fallback)


def _confidence(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise RasaError(f"confidence is not a number: {value!r}")
    return min(1.0, max(0.0, float(value)))


def _intent_name(name: str) -> str:
    # Intents we do not know (an agency's extra ones, nlu_fallback) are "other" for the router.
    return name if name in INTENTS else "other"


def map_parse_result(text: str, body: Any) -> RasaParse:
    """Turn Rasa's ParseResult JSON into our types; raise RasaError if it is not that shape."""
    if not isinstance(body, dict) or not isinstance(body.get("intent"), dict):
        raise RasaError("response has no 'intent' object")
    raw_name = body["intent"].get("name")
    if not isinstance(raw_name, str) or not raw_name:
        raise RasaError("intent has no name")
    confidence = _confidence(body["intent"].get("confidence"))
    ranking: list[tuple[str, float]] = []
    for item in body.get("intent_ranking") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            name = _intent_name(item["name"])
            if all(name != n for n, _ in ranking):
                ranking.append((name, _confidence(item.get("confidence"))))
    entities: list[Entity] = []
    for item in body.get("entities") or []:
        if not isinstance(item, dict):
            continue
        start, end, kind = item.get("start"), item.get("end"), item.get("entity")
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(kind, str)):
            continue
        if not 0 <= start < end <= len(text):
            continue
        value = item.get("value")
        entities.append(
            Entity(
                type=kind,
                value=str(value if value is not None else text[start:end]),
                text=text[start:end],
                start=start,
                end=end,
            )
        )
    return RasaParse(
        intent=_intent_name(raw_name),
        confidence=confidence,
        ranking=tuple(ranking[:5]) or ((_intent_name(raw_name), confidence),),
        entities=tuple(entities),
        rasa_fallback=raw_name == RASA_FALLBACK_INTENT,
    )


class RasaClient:
    """Blocking HTTP client (the NLU runs in workers, not in the event loop)."""

    def __init__(self, url: str, timeout: float = 2.0, token: str | None = None) -> None:
        self.endpoint = url.rstrip("/") + "/model/parse"
        if token:
            self.endpoint += "?token=" + urllib.parse.quote(token)
        self.timeout = timeout

    def parse(self, text: str) -> RasaParse:
        request = urllib.request.Request(
            self.endpoint,
            data=json.dumps({"text": text}, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise RasaError(f"HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RasaError(f"unreachable: {reason}") from exc
        try:
            body = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RasaError("response is not JSON") from exc
        return map_parse_result(text, body)
