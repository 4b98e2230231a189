"""What coordinators do to a ticket: take over, reply, note, transfer, escalate, resolve, hand back.

Every function checks the lifecycle table, writes an audit event with the actor and reason, and
queues any message for the citizen in the outbox (it goes out on the ticket's own channel).
Authorisation (may this person touch this ticket?) is decided before these are called, by
``ticket_core.scope``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from ticket_core import assignment, audit, escalation, lifecycle, outbox
from ticket_core.calendar import BusinessCalendar
from ticket_core.identities import contact_for_conversation
from ticket_core.models import (
    Author,
    Conversation,
    ConversationState,
    Direction,
    Message,
    Notification,
    Ticket,
    TicketStatus,
    Unit,
    table,
    utcnow,
)
from ticket_core.sla import SlaPolicy

S = TicketStatus
_messages = table(Message)


class ActionError(Exception):
    """The action does not make sense for this ticket now; the message says why."""


@dataclass(frozen=True)
class Context:
    """What the actions need to know about the service (calendar, SLA, the org ladder)."""

    calendar: BusinessCalendar
    policy: SlaPolicy
    ladder: escalation.Ladder


def actor_of(user_id: int) -> str:
    return f"user:{user_id}"


def _conversation(session: Session, ticket: Ticket) -> Conversation:
    conversation = session.get(Conversation, ticket.conversation_id)
    assert conversation is not None
    return conversation


class AlreadyTaken(ActionError):
    """Another coordinator already owns this conversation."""


def take_over(session: Session, ticket: Ticket, user_id: int) -> None:
    """The coordinator owns the ticket and the conversation: the bot stops talking. Two coordinators
    cannot both take one conversation: the conversation row is locked while this is decided."""
    if ticket.status in (S.ANSWERED, S.CLOSED, S.CANCELLED, S.OBJECTED):
        raise ActionError(f"ticket {ticket.number} is {ticket.status.value}; reopen it first")
    conversation = session.execute(
        select(Conversation).where(Conversation.id == ticket.conversation_id).with_for_update()
    ).scalar_one()
    session.refresh(ticket)
    if conversation.state is ConversationState.HUMAN and ticket.assignee_id not in (None, user_id):
        raise AlreadyTaken(f"ticket {ticket.number} is already being handled by another coordinator")
    if ticket.status is not S.IN_PROGRESS:
        lifecycle.move(session, ticket, S.IN_PROGRESS, actor=actor_of(user_id), reason="taken over")
    ticket.assignee_id = user_id
    conversation.state = ConversationState.HUMAN
    audit.record(
        session,
        "conversation.taken_over",
        actor=actor_of(user_id),
        ticket_id=ticket.id,
        conversation_id=conversation.id,
    )


def hand_back(session: Session, ticket: Ticket, user_id: int) -> None:
    """The bot answers this conversation again."""
    conversation = _conversation(session, ticket)
    conversation.state = ConversationState.BOT
    audit.record(
        session,
        "conversation.handed_back",
        actor=actor_of(user_id),
        ticket_id=ticket.id,
        conversation_id=conversation.id,
    )


def reply(
    session: Session,
    ticket: Ticket,
    user_id: int,
    text: str,
    ctx: Context,
    *,
    resolve: bool = False,
    wait_for_citizen: bool = False,
    now: datetime | None = None,
) -> int:
    """Send ``text`` to the citizen on the ticket's channel; optionally resolve or wait for them."""
    text = text.strip()
    if not text:
        raise ActionError("a reply needs text")
    if ticket.status in (S.CLOSED, S.CANCELLED):
        raise ActionError(f"ticket {ticket.number} is {ticket.status.value}")
    now = now or utcnow()
    contact = contact_for_conversation(session, ticket.conversation_id)
    outbox_id = outbox.enqueue(session, contact, text, ticket_id=ticket.id, author=Author.COORDINATOR)
    session.execute(update(_messages).where(_messages.c.outbox_id == outbox_id).values(user_id=user_id))
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        ticket.first_response_working_h = ctx.calendar.working_seconds_between(ticket.created_at, now) / 3600
    audit.record(session, "ticket.replied", actor=actor_of(user_id), ticket_id=ticket.id, outbox_id=outbox_id)
    if resolve:
        answer(session, ticket, user_id, ctx, now=now)
    elif wait_for_citizen:
        pause(session, ticket, user_id, ctx, now=now)
    elif ticket.status in (S.NEW, S.ASSIGNED, S.ESCALATED, S.REOPENED):
        lifecycle.move(session, ticket, S.IN_PROGRESS, actor=actor_of(user_id), reason="replied")
    return outbox_id


def answer(session: Session, ticket: Ticket, user_id: int, ctx: Context, *, now: datetime | None = None) -> None:
    """Mark the citizen's request answered: stops the SLA clock and opens the objection window."""
    now = now or utcnow()
    lifecycle.move(session, ticket, S.ANSWERED, actor=actor_of(user_id), reason="answered")
    ticket.paused_at = None
    ticket.sla_remaining_s = None
    ticket.resolution_working_h = ctx.calendar.working_seconds_between(ticket.created_at, now) / 3600


def note(session: Session, ticket: Ticket, user_id: int, text: str) -> None:
    """An internal note: in the timeline for staff, never sent to the citizen."""
    if not text.strip():
        raise ActionError("a note needs text")
    session.execute(
        insert(_messages).values(
            conversation_id=ticket.conversation_id,
            ticket_id=ticket.id,
            direction=Direction.NOTE.value,
            author=Author.COORDINATOR.value,
            text=text.strip(),
            user_id=user_id,
            entities=[],
            attachments=[],
            created_at=utcnow(),
        )
    )
    audit.record(session, "ticket.note", actor=actor_of(user_id), ticket_id=ticket.id)


def transfer(session: Session, ticket: Ticket, user_id: int, unit: Unit, *, reason: str | None) -> int | None:
    """Move the ticket to another unit's queue (level 0 there) and assign it in that unit."""
    if ticket.status in (S.ANSWERED, S.CLOSED, S.CANCELLED, S.OBJECTED):
        raise ActionError(f"ticket {ticket.number} is {ticket.status.value}; it cannot be transferred")
    if unit.id == ticket.unit_id:
        raise ActionError(f"ticket {ticket.number} is already with {unit.key}")
    previous = ticket.unit_id
    lifecycle.move(
        session, ticket, S.ASSIGNED, actor=actor_of(user_id), reason=reason or "transferred", to_unit=unit.key
    )
    ticket.unit_id = unit.id
    ticket.escalation_level = 0
    ticket.assignee_id = None
    ticket.needs_triage = False
    session.flush()
    audit.record(
        session,
        "ticket.transferred",
        actor=actor_of(user_id),
        ticket_id=ticket.id,
        from_unit=previous,
        to_unit=unit.id,
        reason=reason,
    )
    return assignment.assign(session, ticket.id, unit.id, actor=actor_of(user_id))


def escalate_by_hand(
    session: Session, ticket: Ticket, user_id: int, ctx: Context, *, reason: str | None
) -> escalation.Rung:
    return escalation.escalate(
        session,
        ticket,
        cause="manual",
        actor=actor_of(user_id),
        reason=reason,
        ladder=ctx.ladder,
        policy=ctx.policy,
        calendar=ctx.calendar,
    )


def cancel(session: Session, ticket: Ticket, user_id: int, *, reason: str) -> None:
    lifecycle.move(session, ticket, S.CANCELLED, actor=actor_of(user_id), reason=reason)


def pause(session: Session, ticket: Ticket, user_id: int | None, ctx: Context, *, now: datetime | None = None) -> None:
    """Stop the SLA clock while waiting for the citizen; the remaining working time is kept."""
    now = now or utcnow()
    if ticket.paused_at is not None:
        return
    ticket.sla_remaining_s = ctx.calendar.working_seconds_between(now, ticket.due_at)
    ticket.paused_at = now
    audit.record(
        session,
        "ticket.sla_paused",
        actor=actor_of(user_id) if user_id else audit.SYSTEM,
        ticket_id=ticket.id,
        remaining_working_h=round(ticket.sla_remaining_s / 3600, 2),
    )


def resume(session: Session, ticket: Ticket, ctx: Context, *, now: datetime | None = None) -> None:
    """The citizen answered: the clock runs again with the working time that was left."""
    now = now or utcnow()
    if ticket.paused_at is None:
        return
    ticket.due_at = ctx.calendar.add_working_seconds(now, ticket.sla_remaining_s or 0.0)
    ticket.paused_at = None
    ticket.sla_remaining_s = None
    audit.record(session, "ticket.sla_resumed", ticket_id=ticket.id, due_at=ticket.due_at.isoformat())


def close_answered(session: Session, *, older_than: datetime) -> int:
    """Close answered tickets whose objection window has passed (set-based, with audit events)."""
    t = table(Ticket).c
    ids = list(
        session.execute(
            select(t.id).where(t.status == S.ANSWERED.value, t.answered_at <= older_than).limit(5000)
        ).scalars()
    )
    if not ids:
        return 0
    now = utcnow()
    session.execute(
        update(table(Ticket)).where(t.id.in_(ids)).values(status=S.CLOSED.value, closed_at=now, updated_at=now)
    )
    for ticket_id in ids:
        audit.record(session, "ticket.closed", ticket_id=ticket_id, reason="objection window passed")
    return len(ids)


def hand_back_idle(session: Session, *, idle_since: datetime) -> int:
    """Give conversations back to the bot when their coordinator has been idle since ``idle_since``
    (no message either way); audited and pushed to the coordinator like a manual hand-back."""
    from sqlalchemy import func

    conversations = table(Conversation)
    c = conversations.c
    last_activity = func.coalesce(c.last_outbound_at, c.last_inbound_at, c.updated_at)
    idle = list(
        session.execute(
            select(c.id).where(
                c.state == ConversationState.HUMAN.value,
                last_activity < idle_since,
                func.coalesce(c.last_inbound_at, c.updated_at) < idle_since,
            )
        ).scalars()
    )
    if not idle:
        return 0
    session.execute(
        update(conversations).where(c.id.in_(idle)).values(state=ConversationState.BOT.value, updated_at=utcnow())
    )
    t = table(Ticket).c
    owners = session.execute(
        select(t.conversation_id, t.id, t.assignee_id).where(t.conversation_id.in_(idle), t.assignee_id.is_not(None))
    ).all()
    for conversation_id in idle:
        audit.record(session, "conversation.handed_back", conversation_id=conversation_id, reason="idle")
    for _conversation, ticket_id, assignee in owners:
        session.execute(
            insert(table(Notification)).values(
                user_id=assignee,
                kind="conversation_bot",
                ticket_id=ticket_id,
                created_at=utcnow(),
                payload={"reason": "idle"},
            )
        )
    return len(idle)
