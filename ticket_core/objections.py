"""The citizen's right to object (اعتراض) to an answer: the ticket reopens as an appeal one level up.

Within the objection window after an answer (``data/sla.yml``) a citizen may object from any of
their channels; the ticket moves to ``objected`` and at once climbs one rung of the escalation
ladder with its SLA restarted for that level. Every further objection climbs again, up to the
minister's office.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticket_core import escalation, lifecycle
from ticket_core.actions import Context
from ticket_core.models import Ticket, TicketStatus, utcnow


class ObjectionRefused(Exception):
    """No objection is possible; ``code`` says why (no_answer, window_closed, at_top)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def objectable_ticket(session: Session, beneficiary_id: int, number: str | None = None) -> Ticket | None:
    """The ticket a citizen objects to: the one they name, else their most recently answered one,
    else their latest ticket (so that "not answered yet" can be said about it)."""
    query = select(Ticket).where(Ticket.beneficiary_id == beneficiary_id)
    if number:
        return session.execute(query.where(Ticket.number == number).limit(1)).scalar_one_or_none()
    answered = session.execute(
        query.where(Ticket.answered_at.is_not(None)).order_by(Ticket.answered_at.desc()).limit(1)
    ).scalar_one_or_none()
    return answered or session.execute(query.order_by(Ticket.id.desc()).limit(1)).scalar_one_or_none()


def check(ticket: Ticket, ctx: Context, *, now: datetime | None = None) -> None:
    """Raise ObjectionRefused if the citizen cannot object to this ticket now."""
    now = now or utcnow()
    if ticket.status is not TicketStatus.ANSWERED or ticket.answered_at is None:
        raise ObjectionRefused(
            "no_answer", f"ticket {ticket.number} has no answer to object to yet ({ticket.status.value})"
        )
    if now - ticket.answered_at > ctx.policy.objection_window:
        raise ObjectionRefused("window_closed", f"the objection window for ticket {ticket.number} has passed")
    if ctx.ladder.next_rung(ticket.unit_id, ticket.escalation_level) is None:
        raise ObjectionRefused("at_top", f"ticket {ticket.number} was answered by the minister's office")


def object_to(
    session: Session,
    ticket: Ticket,
    ctx: Context,
    *,
    channel: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> escalation.Rung:
    """Record the objection and escalate the ticket one level as an appeal."""
    now = now or utcnow()
    check(ticket, ctx, now=now)
    lifecycle.move(
        session, ticket, TicketStatus.OBJECTED, actor="citizen", reason=reason or "objection", channel=channel
    )
    ticket.objection_count += 1
    return escalation.escalate(
        session,
        ticket,
        cause="objection",
        actor="citizen",
        reason=reason or "the citizen objected to the answer",
        ladder=ctx.ladder,
        policy=ctx.policy,
        calendar=ctx.calendar,
        now=now,
    )
