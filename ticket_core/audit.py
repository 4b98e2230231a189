"""The audit trail: one row per action on a ticket or conversation, with actor, time and reason."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

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
    session.connection().execute(
        _INSERT,
        {
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "ticket_id": ticket_id,
            "conversation_id": conversation_id,
            "reason": reason,
            "detail": detail,
        },
    )
