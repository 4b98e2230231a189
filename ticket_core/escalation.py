"""The escalation ladder: coordinator → unit head → parent unit … → the minister, never further.

Level 0 is the coordinator in the ticket's unit; level 1 the head of that unit; each level above
moves the ticket to the parent unit and its head, up to the root (the minister's office), where it
stops. A ticket climbs one rung on an SLA breach (found by ``sweep``, one set-based UPDATE for
every breached ticket), on a citizen's objection, or by hand — each time with a new due time for
the new level, a notification to the new owner and an audit event.

The sweep is idempotent under concurrency: its UPDATE re-checks ``due_at <= now`` on every row it
changes, and the rows it changes get a due time in the future, so a second sweep running at the
same moment (blocked on the same rows) finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, insert, literal, not_, select, update
from sqlalchemy.orm import Session

from ticket_core import audit, lifecycle
from ticket_core.calendar import BusinessCalendar
from ticket_core.models import (
    OPEN_TICKET_STATUSES,
    AuditEvent,
    Notification,
    Ticket,
    TicketStatus,
    UTCDateTime,
    table,
    utcnow,
)
from ticket_core.org import OrgTree
from ticket_core.sla import SlaPolicy

_tickets = table(Ticket)
_audit = table(AuditEvent)
_notifications = table(Notification)

# Statuses whose SLA clock is running (answered/closed/cancelled are done; objected moves at once).
_CLOCK_RUNNING = sorted(s.value for s in OPEN_TICKET_STATUSES if s is not TicketStatus.OBJECTED)


class AtTopOfLadder(Exception):
    """The ticket is already with the minister's office; there is nowhere higher to go."""


@dataclass(frozen=True)
class Rung:
    level: int
    unit_id: int
    owner_id: int | None  # None when that unit has no head on file


class Ladder:
    """Where a ticket goes next, from the org tree."""

    def __init__(self, tree: OrgTree) -> None:
        self.tree = tree

    def next_rung(self, unit_id: int, level: int) -> Rung | None:
        unit = self.tree.by_id[unit_id]
        if level <= 0:
            return Rung(1, unit.id, unit.head_user_id)
        if unit.parent_id is None:
            return None  # the root's head is the minister: never further
        parent = self.tree.by_id[unit.parent_id]
        return Rung(level + 1, parent.id, parent.head_user_id)


def escalate(
    session: Session,
    ticket: Ticket,
    *,
    cause: str,
    actor: str,
    reason: str | None,
    ladder: Ladder,
    policy: SlaPolicy,
    calendar: BusinessCalendar,
    now: datetime | None = None,
) -> Rung:
    """Move one ticket up one rung (cause: "breach", "objection" or "manual")."""
    now = now or utcnow()
    rung = ladder.next_rung(ticket.unit_id, ticket.escalation_level)
    if rung is None:
        raise AtTopOfLadder(f"ticket {ticket.number} is already with the minister's office")
    lifecycle.move(
        session,
        ticket,
        TicketStatus.ESCALATED,
        actor=actor,
        reason=reason,
        cause=cause,
        level=rung.level,
        unit_id=rung.unit_id,
    )
    ticket.escalation_level = rung.level
    ticket.unit_id = rung.unit_id
    ticket.assignee_id = rung.owner_id
    ticket.due_at = policy.due(calendar, now, rung.level, urgent=ticket.priority == "urgent")
    ticket.paused_at = None
    ticket.sla_remaining_s = None
    ticket.last_escalated_at = now
    if rung.owner_id is not None:
        session.execute(
            insert(_notifications).values(
                user_id=rung.owner_id,
                kind="escalated",
                ticket_id=ticket.id,
                created_at=now,
                payload={"number": ticket.number, "level": rung.level, "cause": cause},
            )
        )
    return rung


def sweep(
    session: Session,
    *,
    ladder: Ladder,
    policy: SlaPolicy,
    calendar: BusinessCalendar,
    now: datetime | None = None,
    max_level: int = 12,
) -> int:
    """Escalate every ticket whose SLA has passed, in three set-based statements. Returns how many."""
    now = now or utcnow()
    tree = ladder.tree
    roots = [u.id for u in tree.by_id.values() if u.parent_id is None]
    parent_of = {u.id: u.parent_id for u in tree.by_id.values() if u.parent_id is not None}
    head_of = {u.id: u.head_user_id for u in tree.by_id.values()}
    t = _tickets.c

    # Where each ticket goes, as CASE expressions over its unit (the tree is small; tickets are not).
    new_unit = case(
        (t.escalation_level == 0, t.unit_id),
        else_=case(parent_of, value=t.unit_id, else_=t.unit_id) if parent_of else t.unit_id,
    )
    own_head = case(head_of, value=t.unit_id, else_=None) if head_of else literal(None)
    parent_head_map = {unit: head_of.get(parent) for unit, parent in parent_of.items()}
    parent_head = case(parent_head_map, value=t.unit_id, else_=None) if parent_head_map else literal(None)
    new_owner = case((t.escalation_level == 0, own_head), else_=parent_head)
    # Due times depend only on the new level and on "now", so they are computed here, not per row.
    # (Typed literals: a bare datetime in a CASE would skip the UTC conversion the column does.)
    new_due = case(
        # Urgent tickets run on clock hours, day and night (data/sla.yml `urgent`).
        (t.priority == "urgent", literal(policy.due(calendar, now, 1, urgent=True), type_=UTCDateTime())),
        *[
            (t.escalation_level + 1 == level, literal(policy.due(calendar, now, level), type_=UTCDateTime()))
            for level in range(1, max_level + 1)
        ],
        else_=literal(policy.due(calendar, now, max_level + 1), type_=UTCDateTime()),
    )
    at_top = and_(t.unit_id.in_(roots), t.escalation_level >= 1) if roots else literal(False)
    result = session.execute(
        update(_tickets)
        .where(
            t.status.in_(_CLOCK_RUNNING),
            t.paused_at.is_(None),
            t.due_at <= now,
            not_(at_top),
        )
        .values(
            unit_id=new_unit,
            assignee_id=new_owner,
            escalation_level=t.escalation_level + 1,
            status=TicketStatus.ESCALATED.value,
            due_at=new_due,
            last_escalated_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    escalated = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if not escalated:
        return 0
    # The audit trail and the notifications for exactly the rows this sweep changed.
    just_now = and_(t.last_escalated_at == now, t.status == TicketStatus.ESCALATED.value)
    session.execute(
        insert(_audit).from_select(
            ["at", "actor", "action", "ticket_id", "conversation_id", "reason", "detail"],
            select(
                literal(now, type_=_audit.c.at.type),
                literal(audit.SYSTEM),
                literal("ticket.escalated"),
                t.id,
                t.conversation_id,
                literal("SLA breached: no answer by the due time"),
                literal({"cause": "breach"}, type_=_audit.c.detail.type),
            ).where(just_now),
        )
    )
    session.execute(
        insert(_notifications).from_select(
            ["user_id", "kind", "ticket_id", "created_at", "payload"],
            select(
                t.assignee_id,
                literal("escalated"),
                t.id,
                literal(now, type_=_notifications.c.created_at.type),
                literal({"cause": "breach"}, type_=_notifications.c.payload.type),
            ).where(just_now, t.assignee_id.is_not(None)),
        )
    )
    return escalated


def overdue_at_top(session: Session, *, ladder: Ladder, now: datetime | None = None) -> int:
    """Tickets past due with the minister's office (reported, never escalated further)."""
    now = now or utcnow()
    roots = [u.id for u in ladder.tree.by_id.values() if u.parent_id is None]
    t = _tickets.c
    return int(
        session.execute(
            select(func.count())
            .select_from(_tickets)
            .where(t.status.in_(_CLOCK_RUNNING), t.due_at <= now, t.unit_id.in_(roots), t.escalation_level >= 1)
        ).scalar_one()
    )
