"""Read-side queries for listings (CLI, API): plain dicts ready to print as JSON."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, any_, bindparam, exists, func, literal, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from ticket_core.models import (
    AuditEvent,
    Beneficiary,
    Conversation,
    InboxEvent,
    Message,
    OutboxMessage,
    Ticket,
    TicketStatus,
    Unit,
    User,
)


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


# --- the coordinator's views ---------------------------------------------------------------------

SLA_STATES = ("overdue", "due_soon", "ok", "paused", "done")
_DONE = (TicketStatus.ANSWERED, TicketStatus.CLOSED, TicketStatus.CANCELLED)
# "Not done", spelled as the statuses it means: the same rows (a status is always a TicketStatus),
# but an IN list can use the partial index of open tickets where a NOT IN cannot.
_NOT_DONE = sorted(s.value for s in TicketStatus if s not in _DONE)


@dataclass(frozen=True)
class TicketFilter:
    statuses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    levels: tuple[int, ...] = ()
    units: tuple[int, ...] = ()
    sla: str | None = None  # one of SLA_STATES
    assignee: int | None = None
    unassigned: bool = False
    q: str | None = None
    limit: int = 50
    after: tuple[datetime, int] | None = None  # keyset cursor: (due_at, id) of the last row seen


def sla_state(status: TicketStatus, due_at: datetime, paused_at: datetime | None, now: datetime) -> str:
    if status in _DONE:
        return "done"
    if paused_at is not None:
        return "paused"
    if due_at <= now:
        return "overdue"
    return "due_soon" if due_at - now <= timedelta(days=1) else "ok"


_PAGE_COLUMNS = (
    Ticket.id,
    Ticket.number,
    Ticket.status,
    Ticket.category,
    Ticket.channel,
    Ticket.escalation_level,
    Ticket.created_at,
    Ticket.due_at,
    Ticket.paused_at,
    Ticket.subject,
    Ticket.priority,
    Ticket.needs_triage,
    Ticket.assignee_id,
    Ticket.unit_id,
    Ticket.beneficiary_id,
)
# A search for common words first looks among this many tickets at the head of the inbox order
# (at least 40 per row asked for): when one page of them matches, that page is the answer. When
# some match but not a page, it looks once more, as far as their rate says a page needs, up to
# _SEARCH_HEAD_MAX tickets; beyond that the indexes are quicker.
_SEARCH_HEAD = 2000
_SEARCH_HEAD_MAX = 8000


def list_tickets(
    session: Session, scope_units: frozenset[int] | None, flt: TicketFilter, *, now: datetime
) -> list[dict[str, Any]]:
    """One page of tickets in scope, most urgent first (due time, then id), with keyset paging.

    The page is chosen on the tickets table alone (every filter, the search included, is a condition
    on tickets, so an index in due-time order can stop after one page); only that page is joined
    to units, citizens and assignees.

    A search is answered in one of two ways, with the same result. Common words match a good share
    of any stretch of the inbox, so the first page of matches is among the first few thousand
    tickets in inbox order; rare words, a number or a phone match few tickets, which the trigram
    and citizen indexes find at once. The first way is tried first (except for numbers and phones,
    and looking a little further once if some tickets matched) and kept when it fills the page: no
    later ticket can come before the ones it found. The planner cannot make this choice itself, as
    it cannot tell how common a phrase is: it was measured walking 200,000 tickets for a rare one
    and reading 60,000 trigram matches for a common one, each about 50x slower than the other way.
    """
    t = Ticket
    if session.get_bind().dialect.name == "postgresql":
        # Plan each page for its own values. The best plan depends on them (how many units, which
        # statuses, how many citizens a search found), and a generic plan (which the driver's
        # automatic prepared statements lead to after five runs) cannot use the partial index of
        # open tickets: it was measured at 100x slower than a custom plan.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    where: list[Any] = []
    if scope_units is not None:
        where.append(t.unit_id.in_(sorted(scope_units)))
    if flt.statuses:
        where.append(t.status.in_(flt.statuses))
    if flt.categories:
        where.append(t.category.in_(flt.categories))
    if flt.channels:
        where.append(t.channel.in_(flt.channels))
    if flt.levels:
        where.append(t.escalation_level.in_(flt.levels))
    if flt.units:
        where.append(t.unit_id.in_(flt.units))
    if flt.assignee is not None:
        where.append(t.assignee_id == flt.assignee)
    if flt.unassigned:
        where.append(t.assignee_id.is_(None))
    if flt.sla:
        open_ = t.status.in_(_NOT_DONE)
        where.append(
            {
                "done": t.status.in_([s.value for s in _DONE]),
                "paused": and_(open_, t.paused_at.is_not(None)),
                "overdue": and_(open_, t.paused_at.is_(None), t.due_at <= now),
                "due_soon": and_(open_, t.paused_at.is_(None), t.due_at > now, t.due_at <= now + timedelta(days=1)),
                "ok": and_(open_, t.paused_at.is_(None), t.due_at > now + timedelta(days=1)),
            }[flt.sla]
        )
    if flt.after is not None:
        due, last_id = flt.after
        # (due, id) after the cursor, as a row comparison an index in (due_at, id) order can seek to
        where.append(tuple_(t.due_at, t.id) > tuple_(literal(due, t.due_at.type), literal(last_id, t.id.type)))
    limit = max(1, min(flt.limit, 200))
    if not flt.q:
        return _page(session, select(*_PAGE_COLUMNS).where(*where).order_by(t.due_at, t.id).limit(limit), now)
    search = _search(session, flt.q)
    head_size = 0 if search.precise else max(_SEARCH_HEAD, 40 * limit)
    while head_size:
        head = (
            select(*_PAGE_COLUMNS, search.head_condition.label("hit"))
            .where(*where)
            .order_by(t.due_at, t.id)
            .limit(head_size)
            .subquery("head")
        )
        h = head.c
        hits = select(*(h[c.key] for c in _PAGE_COLUMNS)).where(h.hit).order_by(h.due_at, h.id).limit(limit)
        rows = _page(session, hits, now)
        if len(rows) == limit:
            return rows
        wider = math.ceil(head_size * limit / len(rows) * 1.25) if rows else 0
        head_size = wider if head_size < wider <= max(_SEARCH_HEAD_MAX, 160 * limit) else 0
    # Few matches: collect them all through the search's indexes, then sort (a fence, so the planner
    # cannot walk the inbox order hoping to meet them early).
    matches = select(*_PAGE_COLUMNS).where(*where, search.index_condition(session)).cte("matches")
    matches = matches.prefix_with("MATERIALIZED", dialect="postgresql")
    m = matches.c
    return _page(session, select(*(m[c.key] for c in _PAGE_COLUMNS)).order_by(m.due_at, m.id).limit(limit), now)


def _page(session: Session, chosen: Any, now: datetime) -> list[dict[str, Any]]:
    """The chosen tickets (a SELECT of _PAGE_COLUMNS, ordered and limited) as inbox rows."""
    page = chosen.subquery("page")
    p = page.c
    stmt = (
        select(
            p.id,
            p.number,
            p.status,
            p.category,
            p.channel,
            p.escalation_level,
            p.created_at,
            p.due_at,
            p.paused_at,
            p.subject,
            p.priority,
            p.needs_triage,
            p.assignee_id,
            Unit.key,
            Unit.name_ar,
            Unit.name_en,
            Beneficiary.display_name,
            User.name_ar,
            User.name_en,
        )
        .select_from(page)
        .join(Unit, Unit.id == p.unit_id)
        .join(Beneficiary, Beneficiary.id == p.beneficiary_id)
        .outerjoin(User, User.id == p.assignee_id)
        .order_by(p.due_at, p.id)
    )
    rows = []
    for r in session.execute(stmt):
        state = sla_state(TicketStatus(r[2]), r[7], r[8], now)
        rows.append(
            {
                "number": r[1],
                "status": TicketStatus(r[2]).value,
                "category": r[3],
                "channel": r[4],
                "escalation_level": r[5],
                "created_at": r[6].isoformat(),
                "due_at": r[7].isoformat(),
                "sla": state,
                "seconds_left": int((r[7] - now).total_seconds()) if state not in ("done", "paused") else None,
                "subject": r[9],
                "priority": r[10],
                "needs_triage": r[11],
                "unit": {"key": r[13], "name_ar": r[14], "name_en": r[15]},
                "citizen": r[16],
                "assignee": {"id": r[12], "name_ar": r[17], "name_en": r[18]} if r[12] else None,
                "cursor": encode_cursor(r[7], r[0]),
            }
        )
    return rows


def encode_cursor(due_at: datetime, ticket_id: int) -> str:
    """A URL-safe keyset cursor: the row's due time in microseconds and its id."""
    return f"{round(due_at.timestamp() * 1_000_000)}.{ticket_id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    micros, _, ticket_id = cursor.partition(".")
    return datetime.fromtimestamp(int(micros) / 1_000_000, UTC), int(ticket_id)


_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


# Up to this many citizens matching a search are passed to the ticket query as a list, so the
# planner knows how many there are (a few: look their tickets up by index; many: walk the inbox
# order and keep the matching rows). More than that (a search for one common word), the query
# keeps the citizens as a subquery.
_MAX_LISTED_CITIZENS = 20_000


# A search that finds this many citizens or fewer by name is taken for a person's name: their
# tickets are few, so they are looked up by index without first reading the head of the inbox.
_FEW_CITIZENS = 50


@dataclass(frozen=True)
class _Search:
    head_condition: Any  # on tickets, for walking the head of the inbox (citizen checked by primary key)
    precise: bool  # a ticket number, a phone or a person's name: a handful of tickets, found by index
    people: Any  # the condition on beneficiaries (name or phone)
    others: tuple[Any, ...]  # the conditions on tickets alone (subject, number)
    listed: tuple[int, ...] | None  # the matching citizens when they are few (PostgreSQL)

    def index_condition(self, session: Session) -> Any:
        """The condition for collecting every match through the indexes.

        The matching citizens go to the planner as a list (so it knows how many there are), read
        now if the search did not already, up to _MAX_LISTED_CITIZENS; beyond that a subquery.
        """
        citizens = select(Beneficiary.id).where(self.people)
        by_citizen: Any = Ticket.beneficiary_id.in_(citizens)
        ids: Sequence[int] | None = self.listed
        if ids is None and session.get_bind().dialect.name == "postgresql":
            ids = session.execute(citizens.limit(_MAX_LISTED_CITIZENS + 1)).scalars().all()
        if ids is not None and len(ids) <= _MAX_LISTED_CITIZENS:
            by_citizen = Ticket.beneficiary_id == any_(bindparam("citizens", list(ids), type_=ARRAY(Integer)))
        return or_(*self.others, by_citizen)


def _search(session: Session, q: str) -> _Search:
    """Ticket number (any digits), the citizen's name or phone, or words of the subject.

    A condition on tickets alone, so the page can be chosen before any join: the citizens whose
    name or phone matches become a condition on the ticket's beneficiary_id.
    """
    q = q.strip()[:100]
    latin = q.translate(_DIGITS)
    digits = "".join(ch for ch in latin if ch.isdigit())
    pattern = f"%{_escape(q)}%"
    people = [Beneficiary.display_name.ilike(pattern, escape="\\")]
    if len(digits) >= 6:
        people.append(Beneficiary.phone.like(f"%{digits[-9:]}%"))
    who = or_(*people)
    others: list[Any] = [Ticket.subject.ilike(pattern, escape="\\")]
    is_number = re.fullmatch(r"\d{4}-?\d{6,}", latin.replace(" ", "")) is not None
    if is_number:
        compact = latin.replace(" ", "").replace("-", "")
        others.append(Ticket.number == f"{compact[:4]}-{compact[4:]}")
    # Walking the head of the inbox, each ticket's citizen is checked by primary key: a few thousand
    # lookups, where listing every citizen of a common family name first cost 30 ms and made each
    # head row search a list of thousands (measured on 1M tickets, docs/benchmarks.md).
    by_key: Any = exists(select(Beneficiary.id).where(Beneficiary.id == Ticket.beneficiary_id, who))
    listed: tuple[int, ...] | None = None
    if session.get_bind().dialect.name == "postgresql":
        # OFFSET 0 fences the LIMIT off: told that 51 rows will do, the planner scans the table
        # sequentially hoping to meet them early, and reads all of it for a name that has 13
        # (184 ms against 5 ms through the trigram index, measured).
        matching = select(Beneficiary.id).where(who).offset(0).subquery("matching")
        few = session.execute(select(matching.c.id).limit(_FEW_CITIZENS + 1)).scalars().all()
        if len(few) <= _FEW_CITIZENS:  # a person's name (or nobody): the list is the condition
            listed = tuple(few)
            by_key = Ticket.beneficiary_id == any_(bindparam("few", list(few), type_=ARRAY(Integer)))
    precise = is_number or len(digits) >= 6 or bool(listed)
    return _Search(or_(*others, by_key), precise, who, tuple(others), listed)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def timeline(session: Session, beneficiary_id: int, *, limit: int = 500) -> list[dict[str, Any]]:
    """The citizen's whole history across all their linked channels: messages, notes and events."""
    conversations = {
        c.id: c
        for c in session.execute(select(Conversation).where(Conversation.beneficiary_id == beneficiary_id)).scalars()
    }
    if not conversations:
        return []
    messages = session.execute(
        select(Message, User.name_ar, User.name_en, OutboxMessage.status, OutboxMessage.last_error)
        .outerjoin(User, User.id == Message.user_id)
        .outerjoin(OutboxMessage, OutboxMessage.id == Message.outbox_id)
        .where(Message.conversation_id.in_(list(conversations)))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    ).all()
    events = session.execute(
        select(AuditEvent, Ticket.number)
        .join(Ticket, Ticket.id == AuditEvent.ticket_id)
        .where(Ticket.beneficiary_id == beneficiary_id)
        .order_by(AuditEvent.at.desc())
        .limit(limit)
    ).all()
    items: list[dict[str, Any]] = []
    for message, name_ar, name_en, delivery, error in messages:
        conversation = conversations[message.conversation_id]
        items.append(
            {
                "type": "message",
                "at": message.created_at.isoformat(),
                "direction": message.direction.value,
                "author": message.author.value,
                "text": message.text,
                "channel": conversation.channel,
                "language": message.language,
                "intent": message.intent,
                "attachments": message.attachments,
                "by": {"name_ar": name_ar, "name_en": name_en} if name_ar else None,
                "delivery": delivery.value if delivery else None,
                "delivery_error": error,
            }
        )
    for event, number in events:
        items.append(
            {
                "type": "event",
                "at": event.at.isoformat(),
                "action": event.action,
                "actor": event.actor,
                "ticket": number,
                "reason": event.reason,
            }
        )
    items.sort(key=lambda item: item["at"])
    return items[-limit:]
