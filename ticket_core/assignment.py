"""Assignment inside a unit: the least-loaded on-duty coordinator under the unit's cap.

Ties go round robin (the coordinator assigned longest ago wins). When everyone is at the cap the
ticket stays unassigned in the unit's queue, and ``assign_backlog`` (run by the sweep) hands it out
as capacity frees. A coordinator who goes off duty gives their open tickets back to the unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, case, func, insert, or_, select, update
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


@dataclass
class _Seat:
    """One coordinator's place in a unit, as read (and locked) for a batch of assignments."""

    member_id: int
    user_id: int
    unit_id: int
    cap: int
    last_assigned_at: datetime | None


def _seats(session: Session, unit_ids: Iterable[int]) -> tuple[dict[int, list[_Seat]], dict[int, int]]:
    """The available coordinators of ``unit_ids`` and every one's current load, in one statement.

    On PostgreSQL it also locks their membership rows, all at once and in member-id order (the
    same order in every transaction), so two assigners serialise without deadlocking and cannot
    both fill the last free slot.
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
            _members.c.unit_id,
            _members.c.last_assigned_at,
            load.label("load"),
            _units.c.coordinator_cap,
            (_users.c.on_duty & _users.c.is_active).label("available"),
        )
        .join(_users, _users.c.id == _members.c.user_id)
        .join(_units, _units.c.id == _members.c.unit_id)
        .where(_members.c.unit_id.in_(sorted(set(unit_ids))), _members.c.role == MemberRole.COORDINATOR.value)
        .order_by(_members.c.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=_members)
    seats: dict[int, list[_Seat]] = {}
    loads: dict[int, int] = {}
    for r in conn.execute(query).all():
        loads[r.user_id] = int(r.load)  # a person's load counts across all their units
        if r.available:
            seats.setdefault(r.unit_id, []).append(
                _Seat(r.id, r.user_id, r.unit_id, r.coordinator_cap, r.last_assigned_at)
            )
    return seats, loads


def _best(seats: list[_Seat], loads: dict[int, int]) -> _Seat | None:
    # Fewest open tickets; round robin on ties (never assigned first, then assigned longest ago).
    free = [s for s in seats if loads[s.user_id] < s.cap]
    if not free:
        return None
    return min(
        free,
        key=lambda s: (loads[s.user_id], s.last_assigned_at is not None, s.last_assigned_at or utcnow(), s.member_id),
    )


def pick_coordinator(session: Session, unit_id: int) -> int | None:
    """The on-duty coordinator of ``unit_id`` with the fewest open tickets, under the unit's cap
    (without assigning anything)."""
    seats, loads = _seats(session, [unit_id])
    best = _best(seats.get(unit_id, []), loads)
    return best.user_id if best else None


def assign_many(
    session: Session, pairs: Sequence[tuple[int, int]], *, actor: str = audit.SYSTEM, now: datetime | None = None
) -> dict[int, int | None]:
    """Give each ``(ticket id, unit id)`` to a coordinator of its unit, in the order given.

    The whole batch costs a handful of statements (one locking read, then one batched write per
    table) instead of five per ticket: intake assigns a chunk's new tickets together. Returns the
    chosen user per ticket, None where everyone in the unit is at the cap (the ticket then waits
    in the unit's queue for ``assign_backlog``).
    """
    now = now or utcnow()
    chosen: dict[int, int | None] = {}
    if not pairs:
        return chosen
    seats, loads = _seats(session, (unit_id for _, unit_id in pairs))
    touched: dict[int, _Seat] = {}
    for ticket_id, unit_id in pairs:
        best = _best(seats.get(unit_id, []), loads)
        chosen[ticket_id] = best.user_id if best else None
        if best is not None:
            loads[best.user_id] += 1
            best.last_assigned_at = now
            touched[best.member_id] = best
    done = [(t, u) for t, u in chosen.items() if u is not None]
    if not done:
        return chosen
    conn = session.connection()
    # Plain comparisons, not IN: an expanding IN list cannot be used in a batched (executemany) UPDATE.
    waiting = or_(_tickets.c.status == TicketStatus.NEW.value, _tickets.c.status == TicketStatus.REOPENED.value)
    conn.execute(
        update(_tickets)
        .where(_tickets.c.id == bindparam("t_id"))
        .values(
            assignee_id=bindparam("u_id"),
            status=case((waiting, TicketStatus.ASSIGNED.value), else_=_tickets.c.status),
            updated_at=now,
        ),
        [{"t_id": t, "u_id": u} for t, u in done],
    )
    conn.execute(
        update(_members).where(_members.c.id == bindparam("m_id")).values(last_assigned_at=now),
        [{"m_id": m} for m in sorted(touched)],
    )
    conn.execute(
        insert(_notifications),
        [{"user_id": u, "kind": "assigned", "ticket_id": t, "created_at": now, "payload": {}} for t, u in done],
    )
    units = dict(pairs)
    audit.record_many(
        session,
        [
            audit.Event("ticket.assigned", actor=actor, ticket_id=t, detail={"assignee_id": u, "unit_id": units[t]})
            for t, u in done
        ],
    )
    return chosen


def assign(
    session: Session, ticket_id: int, unit_id: int, *, actor: str = audit.SYSTEM, now: datetime | None = None
) -> int | None:
    """Give a new (or returned) ticket to a coordinator of its unit; None if all are at the cap."""
    return assign_many(session, [(ticket_id, unit_id)], actor=actor, now=now)[ticket_id]


def assign_backlog(session: Session, *, limit: int = 500) -> int:
    """Hand out unassigned tickets in units whose coordinators have free capacity again
    (most overdue first)."""
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
    chosen = assign_many(session, [(int(t), int(u)) for t, u in rows])
    return sum(1 for user_id in chosen.values() if user_id is not None)


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
