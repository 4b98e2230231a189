"""The NLU package's boundary types: what `nlu.analyse` returns to the rest of the hub.

Plain frozen dataclasses so that router, bots and the CLI can rely on them without importing any
model code. New signals (such as the urgent-safety `urgency`) are added as fields with defaults,
so existing constructors and `to_json` consumers keep working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CATEGORIES: tuple[str, ...] = ("inquiry", "complaint", "suggestion", "consultation")
DIALOGUE_INTENTS: tuple[str, ...] = ("greeting", "thanks", "ticket_status", "objection", "handoff", "other")
INTENTS: tuple[str, ...] = CATEGORIES + DIALOGUE_INTENTS

ENTITY_TYPES: tuple[str, ...] = (
    "ticket_number",
    "national_id",
    "phone",
    "email",
    "date",
    "university",
    "region",
    "governorate",
    "education_department",
)


@dataclass(frozen=True)
class Entity:
    """One entity found in a message; `start`/`end` index the original text, `value` is canonical."""

    type: str
    value: str
    text: str
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value, "text": self.text, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Analysis:
    """Everything the NLU says about one message. `text` is the original, never modified."""

    text: str
    normalized: str
    language: str
    intent: str
    confidence: float
    uncertain: bool
    entities: tuple[Entity, ...] = ()
    ranking: tuple[tuple[str, float], ...] = ()
    backend: str = "builtin"
    # Set when the requested backend failed and another answered (e.g. "rasa: timeout").
    fallback_reason: str | None = field(default=None, compare=False)
    # Urgent-safety signal (nlu/urgency.py): "none", "elevated" (concerning, not immediate) or
    # "urgent" (danger to a person now or soon), with a short human-readable reason when not none,
    # e.g. "self-harm or suicidal intent (lexicon: أبغى أموت)" or "model p(urgent)=0.91".
    urgency: str = "none"
    urgency_reason: str | None = None

    @property
    def is_category(self) -> bool:
        """True when the intent is one of the four ticket categories."""
        return self.intent in CATEGORIES

    def entities_of(self, type_: str) -> tuple[Entity, ...]:
        return tuple(e for e in self.entities if e.type == type_)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": self.text,
            "language": self.language,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "entities": [e.to_json() for e in self.entities],
            "uncertain": self.uncertain,
            "ranking": [[name, round(p, 4)] for name, p in self.ranking],
            "normalized": self.normalized,
            "backend": self.backend,
            "urgency": self.urgency,
            "urgency_reason": self.urgency_reason,
        }
        if self.fallback_reason:
            out["fallback_reason"] = self.fallback_reason
        return out
