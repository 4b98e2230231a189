"""Read-side queries for listings (CLI, API): plain dicts ready to print as JSON."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ticket_core.models import InboxEvent, OutboxMessage, Ticket, Unit


def ticket_rows(session: Session, *, status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Tickets with their unit and the state of their latest outbound message."""
    latest = (
        select(OutboxMessage.ticket_id, func.max(OutboxMessage.id).label("outbox_id"))
        .where(OutboxMessage.ticket_id.is_not(None))
        .group_by(OutboxMessage.ticket_id)
        .subquery()
    )
    stmt = (
        select(Ticket, Unit.key, OutboxMessage.status, OutboxMessage.last_error)
        .join(Unit, Unit.id == Ticket.unit_id)
        .outerjoin(latest, latest.c.ticket_id == Ticket.id)
        .outerjoin(OutboxMessage, OutboxMessage.id == latest.c.outbox_id)
        .order_by(Ticket.id)
    )
    if status:
        stmt = stmt.where(Ticket.status == status)
    if limit:
        stmt = stmt.limit(limit)
    rows = []
    for ticket, unit_key, delivery_status, delivery_error in session.execute(stmt):
        rows.append(
            {
                "number": ticket.number,
                "channel": ticket.channel,
                "category": ticket.category,
                "status": ticket.status.value,
                "unit": unit_key,
                "escalation_level": ticket.escalation_level,
                "priority": ticket.priority,
                "needs_triage": ticket.needs_triage,
                "language": ticket.language,
                "created_at": ticket.created_at.isoformat(),
                "due_at": ticket.due_at.isoformat(),
                "delivery": delivery_status.value if delivery_status else None,
                "delivery_error": delivery_error,
            }
        )
    return rows


def outbox_rows(session: Session, *, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    stmt = select(OutboxMessage, Ticket.number).outerjoin(Ticket, Ticket.id == OutboxMessage.ticket_id)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    stmt = stmt.order_by(OutboxMessage.id.desc()).limit(limit)
    return [
        {
            "id": row.id,
            "channel": row.channel,
            "ticket": number,
            "status": row.status.value,
            "attempts": row.attempts,
            "next_attempt_at": row.next_attempt_at.isoformat(),
            "last_error": row.last_error,
            "text": row.text,
            "created_at": row.created_at.isoformat(),
            "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        }
        for row, number in session.execute(stmt)
    ]


def inbox_rows(session: Session, *, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    stmt = select(InboxEvent)
    if status:
        stmt = stmt.where(InboxEvent.status == status)
    stmt = stmt.order_by(InboxEvent.id.desc()).limit(limit)
    return [
        {
            "id": row.id,
            "channel": row.channel,
            "event_id": row.event_id,
            "kind": row.kind,
            "status": row.status.value,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "received_at": row.received_at.isoformat(),
        }
        for row in session.execute(stmt).scalars()
    ]
