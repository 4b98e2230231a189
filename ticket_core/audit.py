"""The audit trail: one row per action on a ticket or conversation, with actor, time and reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from ticket_core import deferred
from ticket_core.models import AuditEvent, table, utcnow

SYSTEM = "system"
# Built once: executing a prepared INSERT with a parameter dict skips per-call statement building.
_INSERT = insert(table(AuditEvent))


def record(
    session: Session,
    action: str,
    *,
    actor: str = SYSTEM,
    ticket_id: int | None = None,
    conversation_id: int | None = None,
    reason: str | None = None,
    **detail: Any,
) -> None:
    """Write one audit event in the caller's transaction (so it commits or rolls back with the action)."""
    row = {
        "at": utcnow(),
        "actor": actor,
        "action": action,
        "ticket_id": ticket_id,
        "conversation_id": conversation_id,
        "reason": reason,
        "detail": detail,
    }
    deferred.insert(session, _INSERT, row)  # at once, or with its chunk (ticket_core/deferred.py)


@dataclass(frozen=True)
class Event:
    """One audit event to write with ``record_many``."""

    action: str
    actor: str = SYSTEM
    ticket_id: int | None = None
    conversation_id: int | None = None
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def record_many(session: Session, events: Sequence[Event]) -> None:
    """Write several audit events in one batched statement, in the caller's transaction."""
    if not events:
        return
    at = utcnow()
    session.connection().execute(
        _INSERT,
        [
            {
                "at": at,
                "actor": e.actor,
                "action": e.action,
                "ticket_id": e.ticket_id,
                "conversation_id": e.conversation_id,
                "reason": e.reason,
                "detail": e.detail,
            }
            for e in events
        ],
    )
