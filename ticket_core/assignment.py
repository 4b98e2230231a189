"""Assignment inside a unit: the least-loaded on-duty coordinator under the unit's cap.

Ties go round robin (the coordinator assigned longest ago wins). When everyone is at the cap the
ticket stays unassigned in the unit's queue, and ``assign_backlog`` (run by the sweep) hands it out
as capacity frees. A coordinator who goes off duty gives their open tickets back to the unit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, func, insert, select, update
from sqlalchemy.orm import Session

from ticket_core import audit
from ticket_core.models import (
    OPEN_TICKET_STATUSES,
    MemberRole,
    Notification,
    Ticket,
    TicketStatus,
    Unit,
    UnitMember,
    User,
    table,
    utcnow,
)

_tickets = table(Ticket)
_members = table(UnitMember)
_users = table(User)
_units = table(Unit)
_notifications = table(Notification)
_OPEN = [s.value for s in OPEN_TICKET_STATUSES]
# Statuses in which a coordinator is still working on the ticket (counts towards their load).
_LOAD = [s.value for s in (TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS, TicketStatus.REOPENED, TicketStatus.NEW)]
# A ticket waiting in its unit's queue for a coordinator.
_QUEUED = [s.value for s in (TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.REOPENED)]


def pick_coordinator(session: Session, unit_id: int) -> int | None:
    """The on-duty coordinator of ``unit_id`` with the fewest open tickets, under the unit's cap.

    One statement reads every coordinator of the unit with their load; on PostgreSQL it also locks
    their membership rows (in id order, the same in every transaction, so two assigners serialise
    without deadlocking and cannot both fill the last free slot).
    """
    conn = session.connection()
    load = (
        select(func.count())
        .select_from(_tickets)
        .where(_tickets.c.assignee_id == _members.c.user_id, _tickets.c.status.in_(_LOAD))
        .scalar_subquery()
    )
    query = (
        select(
            _members.c.id,
            _members.c.user_id,
            _members.c.last_assigned_at,
            load.label("load"),
            _units.c.coordinator_cap,
            (_users.c.on_duty & _users.c.is_active).label("available"),
        )
        .join(_users, _users.c.id == _members.c.user_id)
        .join(_units, _units.c.id == _members.c.unit_id)
        .where(_members.c.unit_id == unit_id, _members.c.role == MemberRole.COORDINATOR.value)
        .order_by(_members.c.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=_members)
    rows = [r for r in conn.execute(query).all() if r.available and r.load < r.coordinator_cap]
    if not rows:
        return None
    # Fewest open tickets; round robin on ties (never assigned first, then assigned longest ago).
    best = min(rows, key=lambda r: (r.load, r.last_assigned_at is not None, r.last_assigned_at or utcnow(), r.id))
    conn.execute(update(_members).where(_members.c.id == best.id).values(last_assigned_at=utcnow()))
    return int(best.user_id)


def assign(
    session: Session, ticket_id: int, unit_id: int, *, actor: str = audit.SYSTEM, now: datetime | None = None
) -> int | None:
    """Give a new (or returned) ticket to a coordinator of its unit; None if all are at the cap."""
    now = now or utcnow()
    user_id = pick_coordinator(session, unit_id)
    if user_id is None:
        return None
    conn = session.connection()
    waiting = _tickets.c.status.in_([TicketStatus.NEW.value, TicketStatus.REOPENED.value])
    conn.execute(
        update(_tickets)
        .where(_tickets.c.id == ticket_id)
        .values(
            assignee_id=user_id,
            status=case((waiting, TicketStatus.ASSIGNED.value), else_=_tickets.c.status),
            updated_at=now,
        )
    )
    conn.execute(
        insert(_notifications).values(user_id=user_id, kind="assigned", ticket_id=ticket_id, created_at=now, payload={})
    )
    audit.record(session, "ticket.assigned", actor=actor, ticket_id=ticket_id, assignee_id=user_id, unit_id=unit_id)
    return user_id


def assign_backlog(session: Session, *, limit: int = 500) -> int:
    """Hand out unassigned tickets in units whose coordinators have free capacity again."""
    rows = (
        session.connection()
        .execute(
            select(_tickets.c.id, _tickets.c.unit_id)
            .where(
                _tickets.c.assignee_id.is_(None),
                _tickets.c.escalation_level == 0,  # above level 0 a ticket belongs to a head, not the queue
                _tickets.c.status.in_(_QUEUED),
            )
            .order_by(_tickets.c.due_at)
            .limit(limit)
        )
        .all()
    )
    full: set[int] = set()
    assigned = 0
    for ticket_id, unit_id in rows:
        if unit_id in full:
            continue
        if assign(session, ticket_id, unit_id) is None:
            full.add(unit_id)
        else:
            assigned += 1
    return assigned


def go_off_duty(session: Session, user_id: int, *, actor: str) -> int:
    """Mark a coordinator off duty and give their open tickets to colleagues (or the unit queue)."""
    conn = session.connection()
    conn.execute(update(_users).where(_users.c.id == user_id).values(on_duty=False))
    audit.record(session, "user.off_duty", actor=actor, user_id=user_id)
    mine = conn.execute(
        select(_tickets.c.id, _tickets.c.unit_id).where(
            _tickets.c.assignee_id == user_id, _tickets.c.escalation_level == 0, _tickets.c.status.in_(_LOAD)
        )
    ).all()
    moved = 0
    for ticket_id, unit_id in mine:
        # Back to the unit's queue (in_progress -> assigned is a legal move; see lifecycle.py).
        conn.execute(
            update(_tickets)
            .where(_tickets.c.id == ticket_id)
            .values(
                assignee_id=None,
                status=case(
                    (_tickets.c.status == TicketStatus.IN_PROGRESS.value, TicketStatus.ASSIGNED.value),
                    else_=_tickets.c.status,
                ),
            )
        )
        audit.record(session, "ticket.unassigned", actor=actor, ticket_id=ticket_id, reason="coordinator went off duty")
        if assign(session, ticket_id, unit_id, actor=actor) is not None:
            moved += 1
    return moved


def open_load(session: Session, user_id: int) -> int:
    return int(
        session.connection()
        .execute(
            select(func.count())
            .select_from(_tickets)
            .where(and_(_tickets.c.assignee_id == user_id, _tickets.c.status.in_(_LOAD)))
        )
        .scalar_one()
    )
