"""Tickets: opening one with a human-friendly number and a due time, finding one, viewing its state.

Numbers read ``YYYY-NNNNNN`` (year of creation in Riyadh, then the ticket's sequence), e.g.
``2026-000042``: short enough to dictate on the phone, and unlike a phone or ID number. Opening a
ticket runs on every new request, so it uses Core statements (see identities.py for why).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, Row, Select, String, bindparam, cast, func, insert, select, update
from sqlalchemy.orm import Session

from ticket_core import audit
from ticket_core.calendar import BusinessCalendar
from ticket_core.identities import Contact
from ticket_core.models import OPEN_TICKET_STATUSES, Ticket, TicketStatus, Unit, table, utcnow

_tickets = table(Ticket)
_units = table(Unit)
# Built once; executing with a parameter dict skips per-call statement building (hot path).
_INSERT = insert(_tickets).returning(_tickets.c.id)
_SET_NUMBER = update(_tickets).where(_tickets.c.id == bindparam("b_id")).values(number=bindparam("b_number"))


@functools.cache
def _numbered_insert(columns: tuple[str, ...]) -> Insert:
    """PostgreSQL: take the id from the sequence and write the number in the same statement (the
    portable path inserts, then sets the number: a second round trip on every new ticket). Built
    once for the columns ``open_ticket`` passes."""
    n = select(func.nextval(func.pg_get_serial_sequence("tickets", "id")).label("id")).cte("n")
    digits = cast(n.c.id, String)
    # format_number's {:06d}: at least six digits, never truncated
    number = func.concat(
        bindparam("year", type_=String), "-", func.lpad(digits, func.greatest(6, func.length(digits)), "0")
    )
    # Explicit casts: in a SELECT list PostgreSQL types a parameter it cannot place (a None) as text.
    values = [cast(bindparam(name, type_=_tickets.c[name].type), _tickets.c[name].type) for name in columns]
    return (
        insert(_tickets)
        .from_select(["id", "number", *columns], select(n.c.id, number, *values))
        .returning(_tickets.c.id, _tickets.c.number)
    )


def format_number(ticket_id: int, created_at: datetime, tz: ZoneInfo) -> str:
    return f"{created_at.astimezone(tz).year}-{ticket_id:06d}"


@dataclass(frozen=True)
class UnitRef:
    id: int
    key: str
    name_ar: str
    name_en: str
    is_triage: bool = False


@dataclass(frozen=True)
class TicketView:
    """What the pipeline and the citizen-facing replies need to know about a ticket."""

    id: int
    number: str
    beneficiary_id: int
    category: str
    status: TicketStatus
    escalation_level: int
    due_at: datetime
    unit: UnitRef
    assignee_id: int | None = None
    paused: bool = False
    updated_at: datetime | None = None
    priority: str = "normal"


@dataclass(frozen=True)
class NewTicket:
    category: str
    language: str
    subject: str
    confidence: float | None = None
    needs_triage: bool = False
    priority: str = "normal"
    service_key: str | None = None


def open_ticket(
    session: Session,
    contact: Contact,
    unit: UnitRef,
    spec: NewTicket,
    *,
    calendar: BusinessCalendar,
    working_days: int,
    actor: str = audit.SYSTEM,
    why: dict[str, Any] | None = None,
    urgent_within: timedelta | None = None,
) -> TicketView:
    """Open a ticket on ``contact``'s conversation in ``unit``, due ``working_days`` working days from now."""
    now = utcnow()
    # Urgent tickets (danger signalled) are due in clock hours; others in working days.
    due_at = (
        now + urgent_within
        if spec.priority == "urgent" and urgent_within
        else calendar.add_working_days(now, working_days)
    )
    conn = session.connection()
    values = {
        "beneficiary_id": contact.beneficiary_id,
        "conversation_id": contact.conversation_id,
        "channel": contact.channel,
        "category": spec.category,
        "status": TicketStatus.NEW.value,
        "priority": spec.priority,
        "unit_id": unit.id,
        "escalation_level": 0,
        "language": spec.language,
        "subject": spec.subject[:300],
        "needs_triage": spec.needs_triage,
        "nlu_confidence": spec.confidence,
        "service_key": spec.service_key,
        "created_at": now,
        "due_at": due_at,
        "first_due_at": due_at,
        "updated_at": now,
    }
    if conn.dialect.name == "postgresql":
        year = str(now.astimezone(calendar.timezone).year)
        ticket_id, number = conn.execute(_numbered_insert(tuple(values)), {**values, "year": year}).one()
    else:
        # SQLite has no sequence to draw from: insert with a placeholder, then set the number.
        values["number"] = f"tmp-{uuid.uuid4().hex[:16]}"
        ticket_id = conn.execute(_INSERT, values).scalar_one()
        number = format_number(ticket_id, now, calendar.timezone)
        conn.execute(_SET_NUMBER, {"b_id": ticket_id, "b_number": number})
    audit.record(
        session,
        "ticket.created",
        actor=actor,
        ticket_id=ticket_id,
        conversation_id=contact.conversation_id,
        category=spec.category,
        unit=unit.key,
        needs_triage=spec.needs_triage,
        due_at=due_at.isoformat(),
        **(why or {}),  # how the ticket was routed (rule, sub-service, entity): one event, not two
    )
    return TicketView(
        ticket_id,
        number,
        contact.beneficiary_id,
        spec.category,
        TicketStatus.NEW,
        0,
        due_at,
        unit,
        None,
        False,
        now,
        spec.priority,
    )


def _view_query() -> Select[tuple[object, ...]]:
    return select(
        _tickets.c.id,
        _tickets.c.number,
        _tickets.c.beneficiary_id,
        _tickets.c.category,
        _tickets.c.status,
        _tickets.c.escalation_level,
        _tickets.c.due_at,
        _units.c.id,
        _units.c.key,
        _units.c.name_ar,
        _units.c.name_en,
        _units.c.is_triage,
        _tickets.c.assignee_id,
        _tickets.c.paused_at,
        _tickets.c.updated_at,
        _tickets.c.priority,
    ).join(_units, _units.c.id == _tickets.c.unit_id)


def _view(row: Row[Any] | None) -> TicketView | None:
    if row is None:
        return None
    r = tuple(row)
    return TicketView(
        r[0],
        r[1],
        r[2],
        r[3],
        TicketStatus(r[4]),
        r[5],
        r[6],
        UnitRef(*r[7:12]),
        r[12],
        r[13] is not None,
        r[14],
        r[15],
    )


def open_ticket_in(session: Session, conversation_id: int) -> TicketView | None:
    """The newest open ticket on a conversation, if any."""
    return _view(
        session.execute(
            _view_query()
            .where(
                _tickets.c.conversation_id == conversation_id,
                _tickets.c.status.in_([s.value for s in OPEN_TICKET_STATUSES]),
            )
            .order_by(_tickets.c.id.desc())
            .limit(1)
        ).first()
    )


def open_ticket_on_topic(
    session: Session, beneficiary_id: int, *, category: str, service_key: str | None, unit_id: int
) -> TicketView | None:
    """The citizen's newest open ticket about the same thing, on any of their channels: the same
    sub-service when one was recognised, else the same category in the same unit."""
    query = _view_query().where(
        _tickets.c.beneficiary_id == beneficiary_id,
        _tickets.c.status.in_([s.value for s in OPEN_TICKET_STATUSES]),
    )
    if service_key:
        query = query.where(_tickets.c.service_key == service_key)
    else:
        query = query.where(
            _tickets.c.category == category, _tickets.c.unit_id == unit_id, _tickets.c.service_key.is_(None)
        )
    return _view(session.execute(query.order_by(_tickets.c.id.desc()).limit(1)).first())


def waiting_ahead(session: Session, ticket: TicketView) -> int:
    """Requests in the same unit, opened earlier, that nobody has started on yet."""
    from sqlalchemy import func

    return int(
        session.connection()
        .execute(
            select(func.count())
            .select_from(_tickets)
            .where(
                _tickets.c.unit_id == ticket.unit.id,
                _tickets.c.id < ticket.id,
                _tickets.c.status.in_([TicketStatus.NEW.value, TicketStatus.ASSIGNED.value]),
            )
        )
        .scalar_one()
    )


def touch(session: Session, ticket_id: int, when: datetime) -> None:
    """The citizen added to the ticket: it counts as active (continuation window, listings)."""
    session.connection().execute(update(_tickets).where(_tickets.c.id == ticket_id).values(updated_at=when))


def find_by_number(session: Session, number: str) -> TicketView | None:
    return _view(session.execute(_view_query().where(_tickets.c.number == number)).first())


def raise_to_urgent(
    session: Session, ticket: TicketView, unit: UnitRef, *, due_at: datetime, reason: str, actor: str = audit.SYSTEM
) -> TicketView:
    """A ticket's conversation now signals danger: it becomes urgent, moves to the protection unit
    (level 0 there, to be assigned at once) and is due within the urgent SLA."""
    session.connection().execute(
        update(_tickets)
        .where(_tickets.c.id == ticket.id)
        .values(
            priority="urgent", unit_id=unit.id, escalation_level=0, assignee_id=None, due_at=due_at, updated_at=utcnow()
        )
    )
    audit.record(session, "ticket.raised_urgent", actor=actor, ticket_id=ticket.id, reason=reason, unit=unit.key)
    raised = find_by_number(session, ticket.number)
    assert raised is not None
    return raised
