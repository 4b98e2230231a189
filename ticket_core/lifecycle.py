"""The ticket lifecycle as a table of allowed transitions (print it with ``describe()``).

    new ─► assigned ─► in_progress ─► answered ─► closed
                                        │  ▲
                                        ▼  │
                                     objected ─► escalated / reopened ─► … ─► answered
    any open state ─► escalated (SLA breach, by hand) · any open state ─► cancelled
    closed ─► reopened (a quality reviewer sends it back)

Every transition writes an audit event with actor, time and reason; anything else raises
``IllegalTransition`` with a message that says what is allowed.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ticket_core import audit
from ticket_core.models import Ticket, TicketStatus, utcnow

S = TicketStatus

_WORKING = frozenset({S.ASSIGNED, S.IN_PROGRESS, S.ANSWERED, S.ESCALATED, S.CANCELLED})

TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.NEW: _WORKING,
    S.ASSIGNED: _WORKING,  # assigned -> assigned is a reassignment or transfer
    S.IN_PROGRESS: _WORKING - {S.IN_PROGRESS} | {S.ASSIGNED},
    S.ESCALATED: _WORKING,
    S.REOPENED: _WORKING,
    S.ANSWERED: frozenset({S.CLOSED, S.OBJECTED, S.REOPENED}),
    S.OBJECTED: frozenset({S.ESCALATED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.CANCELLED: frozenset(),
}


class IllegalTransition(Exception):
    """The requested status change is not in the lifecycle table."""

    def __init__(self, number: str, current: TicketStatus, wanted: TicketStatus) -> None:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "nothing (final state)"
        super().__init__(f"ticket {number}: cannot go from {current.value} to {wanted.value}; allowed: {allowed}")
        self.current = current
        self.wanted = wanted


def can(current: TicketStatus, wanted: TicketStatus) -> bool:
    return wanted in TRANSITIONS[current]


def move(
    session: Session, ticket: Ticket, to: TicketStatus, *, actor: str, reason: str | None = None, **detail: object
) -> None:
    """Change ``ticket``'s status if the table allows it, stamping times and writing the audit event."""
    current = ticket.status
    if not can(current, to):
        raise IllegalTransition(ticket.number, current, to)
    now = utcnow()
    ticket.status = to
    ticket.updated_at = now
    if to is S.ANSWERED:
        ticket.answered_at = now
        if ticket.first_response_at is None:
            ticket.first_response_at = now
    elif to is S.CLOSED:
        ticket.closed_at = now
    elif to in (S.REOPENED, S.OBJECTED):
        ticket.closed_at = None
    audit.record(
        session,
        f"ticket.{to.value}",
        actor=actor,
        ticket_id=ticket.id,
        conversation_id=ticket.conversation_id,
        reason=reason,
        **{"from": current.value, **detail},
    )


def describe() -> str:
    """The table, one line per state (for docs and ``tawasul tickets --lifecycle``)."""
    return "\n".join(
        f"{state.value:>12} -> {', '.join(sorted(t.value for t in targets)) or '(final)'}"
        for state, targets in TRANSITIONS.items()
    )
