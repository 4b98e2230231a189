"""The conversation timeline: every message in or out, with its original text, kept for audit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from connectors.base import InboundEvent
from ticket_core import deferred
from ticket_core.models import Author, Direction, Message, table

# Built once (see audit.py). Inbound and outbound rows share this one statement, so rows written
# at the end of a chunk (ticket_core/deferred.py) keep the order they were recorded in.
INSERT = insert(table(Message))


def record_inbound(
    session: Session,
    conversation_id: int,
    event: InboundEvent,
    *,
    inbox_id: int,
    ticket_id: int | None,
    language: str | None,
    intent: str | None,
    confidence: float | None,
    entities: Sequence[dict[str, Any]],
    at: datetime,
) -> None:
    """Store a citizen's message (unique per inbox row, so a replay cannot store it twice)."""
    deferred.insert(
        session,
        INSERT,
        {
            "conversation_id": conversation_id,
            "ticket_id": ticket_id,
            "direction": Direction.IN.value,
            "author": Author.CITIZEN.value,
            "text": event.text or (event.postback or ""),
            "language": language,
            "intent": intent,
            "confidence": confidence,
            "entities": list(entities),
            "attachments": [{"type": a.type, "ref": a.ref, "mime": a.mime, "name": a.name} for a in event.attachments],
            "inbox_id": inbox_id,
            "reply_to_ref": event.reply_to_ref,
            "created_at": at,
        },
    )
