"""What the console needs beyond the ticket API: units, a conversation's reply limits, the quality-review
queue, the dashboard series, notifications read, people on and off duty.

* ``GET /api/v1/units``: every unit (transfer targets), with its parent.
* ``GET /api/v1/tickets/{number}/reply-limits``: the channel's length limit, messaging window and
  what happens once it closes, from the connector's ``Capabilities`` and the conversation's last
  inbound message (never from the channel's name).
* ``GET /api/v1/quality-reviews`` and ``POST /api/v1/quality-reviews/{id}``: the review queue of the
  supervisor's units, scored on ``ticket_core.quality.RUBRIC`` (supervisors and administrators).
* ``GET /api/v1/dashboard`` (``format=csv`` for a spreadsheet): ``ticket_core.dashboard`` series.
* ``POST /api/v1/notifications/read``: ``{"ids": [...]}`` or ``{"all": true}``.
* ``GET /api/v1/users`` and ``POST /api/v1/users/{id}/duty`` ``{"on_duty": bool}``: administrators
  for anyone, supervisors for people of their units, everyone for themselves. Going off duty hands the
  person's open tickets back to their units (``assignment.go_off_duty``); coming on duty takes a share
  of the waiting queue.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connectors.base import Capabilities
from connectors.registry import CONNECTOR_CLASSES
from hub.web.api.common import PRINCIPAL, RUNTIME, error, in_session, read_json
from hub.web.api.reports import parse_period
from ticket_core import assignment, audit, dashboard, quality
from ticket_core.lifecycle import IllegalTransition
from ticket_core.models import (
    Conversation,
    MemberRole,
    Notification,
    QualityReview,
    Role,
    Ticket,
    TicketStatus,
    UnitMember,
    User,
    utcnow,
)
from ticket_core.org import set_duty
from ticket_core.people import Principal
from ticket_core.scope import Scope, scope_for

# --- reply limits -----------------------------------------------------------------------------------


def capabilities_of(channel: str) -> Capabilities | None:
    """A channel's declared capabilities, whether or not it is enabled in this process."""
    for cls in CONNECTOR_CLASSES:
        if channel == cls.name or channel in cls.aliases:
            return cls.capabilities
    return None


@dataclass(frozen=True)
class ReplyLimits:
    """What a coordinator must know before replying on a channel.

    ``window`` is one of: ``none`` (the channel has no messaging window), ``unknown`` (the citizen's
    last message time is not known: the platform decides), ``open`` (replies allowed until
    ``window_closes_at``), ``human_agent`` (the standard window has closed; a person may still reply
    until ``human_agent_until``), ``closed`` (replies will be refused: the citizen must write again).
    ``after_close`` says what happens once the window closes: ``human_agent`` (a person may still reply
    until ``human_agent_until``) or ``refused``.
    """

    channel: str
    max_text_length: int
    length_unit: str
    manual_delivery: bool
    buttons: bool
    window: str
    window_hours: float | None
    last_inbound_at: str | None
    window_closes_at: str | None
    human_agent_until: str | None
    after_close: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reply_limits(channel: str, last_inbound_at: datetime | None, now: datetime) -> ReplyLimits:
    caps = capabilities_of(channel) or Capabilities(max_text_length=4000)
    window = caps.messaging_window
    human = caps.human_agent_window if window is not None else None
    state, closes, human_until = "none", None, None
    if window is not None:
        if last_inbound_at is None:
            state = "unknown"
        else:
            closes = last_inbound_at + window
            human_until = last_inbound_at + human if human is not None else None
            if now <= closes:
                state = "open"
            elif human_until is not None and now <= human_until:
                state = "human_agent"
            else:
                state = "closed"
    return ReplyLimits(
        channel=channel,
        max_text_length=caps.max_text_length,
        length_unit=caps.length_unit,
        manual_delivery=caps.manual_delivery,
        buttons="buttons" in caps.rich_types,
        window=state,
        window_hours=window / timedelta(hours=1) if window is not None else None,
        last_inbound_at=last_inbound_at.isoformat() if last_inbound_at else None,
        window_closes_at=closes.isoformat() if closes else None,
        human_agent_until=human_until.isoformat() if human_until else None,
        after_close=None if window is None else ("human_agent" if human is not None else "refused"),
    )


def _scope(request: web.Request) -> tuple[Principal, Scope]:
    principal: Principal = request[PRINCIPAL]
    return principal, scope_for(principal, request.app[RUNTIME].org())


def _not_found() -> web.HTTPNotFound:
    return web.HTTPNotFound(text='{"error": "not_found", "message": "no such ticket"}', content_type="application/json")


async def get_reply_limits(request: web.Request) -> web.StreamResponse:
    _, scope = await asyncio.to_thread(_scope, request)
    number = request.match_info["number"]

    def work(session: Session) -> dict[str, Any]:
        row = session.execute(
            select(Ticket.unit_id, Ticket.channel, Conversation.last_inbound_at)
            .join(Conversation, Conversation.id == Ticket.conversation_id)
            .where(Ticket.number == number)
        ).first()
        if row is None or not scope.allows(row.unit_id):
            raise _not_found()
        return reply_limits(row.channel, row.last_inbound_at, utcnow()).as_dict()

    return web.json_response(await in_session(request, work, write=False))


# --- units -----------------------------------------------------------------------------------------


async def list_units(request: web.Request) -> web.StreamResponse:
    tree = await asyncio.to_thread(request.app[RUNTIME].org)
    units = [
        {
            "key": u.key,
            "name_ar": u.name_ar,
            "name_en": u.name_en,
            "kind": u.kind,
            "parent": tree.by_id[u.parent_id].key if u.parent_id in tree.by_id else None,
            "triage": u.is_triage,
        }
        for u in sorted(tree.by_id.values(), key=lambda u: u.id)
    ]
    return web.json_response({"units": units})


# --- quality review ---------------------------------------------------------------------------------


def review_queue(session: Session, scope: Scope, *, status: str = "pending", limit: int = 100) -> list[dict[str, Any]]:
    """Reviews of tickets in scope, oldest first, with what the reviewer needs to judge the answer."""
    q = QualityReview
    query = (
        select(q, Ticket.number, Ticket.subject, Ticket.channel, Ticket.category, Ticket.unit_id, Ticket.language)
        .join(Ticket, Ticket.id == q.ticket_id)
        .where(q.status == status)
        .order_by(q.created_at, q.id)
        .limit(max(1, min(limit, 500)))
    )
    if scope.unit_ids is not None:
        query = query.where(Ticket.unit_id.in_(sorted(scope.unit_ids)))
    return [
        {
            "id": review.id,
            "ticket": number,
            "subject": subject,
            "channel": channel,
            "category": category,
            "unit_id": unit_id,
            "language": language,
            "reason": review.reason,
            "status": review.status,
            "created_at": review.created_at.isoformat(),
            "scores": review.scores,
            "comment": review.comment,
            "sent_back": review.sent_back,
        }
        for review, number, subject, channel, category, unit_id, language in session.execute(query)
    ]


def _reviewer(request: web.Request) -> Principal | None:
    principal: Principal = request[PRINCIPAL]
    return principal if principal.role in (Role.SUPERVISOR, Role.ADMIN) else None


async def list_reviews(request: web.Request) -> web.StreamResponse:
    if _reviewer(request) is None:
        return error(403, "forbidden", "the quality review is for supervisors and administrators")
    _, scope = await asyncio.to_thread(_scope, request)
    status = request.query.get("status", "pending")
    if status not in ("pending", "done"):
        return error(400, "bad_filter", "status is pending or done")
    rows = await in_session(request, lambda s: review_queue(s, scope, status=status), write=False)
    return web.json_response({"rubric": quality.RUBRIC, "reviews": rows})


async def submit_review(request: web.Request) -> web.StreamResponse:
    principal = _reviewer(request)
    if principal is None:
        return error(403, "forbidden", "the quality review is for supervisors and administrators")
    _, scope = await asyncio.to_thread(_scope, request)
    review_id = int(request.match_info["review_id"])
    body = await read_json(request)
    scores = body.get("scores")
    if not isinstance(scores, dict):
        return error(400, "bad_request", f"scores must be an object with {', '.join(quality.RUBRIC)}")
    try:
        parsed = {str(k): int(v) for k, v in scores.items()}
    except (TypeError, ValueError):
        return error(400, "bad_request", "every score is a whole number from 1 to 5")
    comment = str(body.get("comment") or "").strip() or None
    send_back = bool(body.get("send_back"))

    def work(session: Session) -> dict[str, Any]:
        row = session.execute(
            select(QualityReview.id, Ticket.unit_id)
            .join(Ticket, Ticket.id == QualityReview.ticket_id)
            .where(QualityReview.id == review_id)
        ).first()
        if row is None or not scope.allows(row.unit_id):
            raise web.HTTPNotFound(
                text='{"error": "not_found", "message": "no such review"}', content_type="application/json"
            )
        review = quality.submit_review(
            session, review_id, principal.user_id, parsed, comment=comment, send_back=send_back
        )
        return {"id": review.id, "status": review.status, "sent_back": review.sent_back, "scores": review.scores}

    try:
        return web.json_response(await in_session(request, work))
    except quality.ReviewError as exc:
        return error(400, "bad_review", str(exc))
    except IllegalTransition as exc:
        return error(409, "not_allowed", str(exc))


# --- dashboard --------------------------------------------------------------------------------------


async def get_dashboard(request: web.Request) -> web.StreamResponse:
    principal: Principal = request[PRINCIPAL]
    if principal.role not in (Role.SUPERVISOR, Role.ADMIN):
        return error(403, "forbidden", "the dashboard is for supervisors and administrators")
    runtime = request.app[RUNTIME]
    tz = ZoneInfo(runtime.settings.timezone)
    now = utcnow()
    try:
        period = parse_period(request.query.get("from"), request.query.get("to"), tz, now=now)
    except ValueError as exc:
        return error(400, "bad_period", str(exc))
    tree = await asyncio.to_thread(runtime.org)
    scope = scope_for(principal, tree)
    board = await in_session(
        request,
        lambda s: dashboard.dashboard(s, period, tree, now=now, tz=tz, unit_ids=scope.unit_ids),
        write=False,
    )
    if request.query.get("format") == "csv":
        return web.Response(
            text=dashboard.to_csv(board),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="tawasul-dashboard.csv"'},
        )
    return web.json_response(board.as_dict())


# --- notifications ----------------------------------------------------------------------------------


async def read_notifications(request: web.Request) -> web.StreamResponse:
    principal: Principal = request[PRINCIPAL]
    body = await read_json(request)
    ids = body.get("ids") or []
    if not body.get("all") and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        return error(400, "bad_request", 'send {"ids": [1, 2]} or {"all": true}')

    def work(session: Session) -> int:
        stmt = update(Notification).where(Notification.user_id == principal.user_id, Notification.read_at.is_(None))
        if not body.get("all"):
            stmt = stmt.where(Notification.id.in_(ids))
        return int(session.execute(stmt.values(read_at=utcnow())).rowcount or 0)  # type: ignore[attr-defined]

    return web.json_response({"read": await in_session(request, work)})


# --- people on duty ---------------------------------------------------------------------------------


def people_in_scope(session: Session, scope: Scope) -> list[dict[str, Any]]:
    """Staff of the units in scope with role, units, on-duty state and open load."""
    query = select(User).where(User.is_active.is_(True)).order_by(User.username)
    if scope.unit_ids is not None:
        query = query.where(
            User.id.in_(select(UnitMember.user_id).where(UnitMember.unit_id.in_(sorted(scope.unit_ids))))
        )
    users = list(session.execute(query).scalars())
    ids = [u.id for u in users]
    memberships: dict[int, list[tuple[int, str]]] = {}
    loads: dict[int, int] = {}
    if ids:
        for user_id, unit_id, role in session.execute(
            select(UnitMember.user_id, UnitMember.unit_id, UnitMember.role).where(UnitMember.user_id.in_(ids))
        ):
            memberships.setdefault(user_id, []).append((unit_id, role.value))
        busy = [TicketStatus.ASSIGNED.value, TicketStatus.IN_PROGRESS.value, TicketStatus.REOPENED.value]
        busy.append(TicketStatus.NEW.value)
        loads = {
            int(user_id): int(n)
            for user_id, n in session.execute(
                select(Ticket.assignee_id, func.count())
                .where(Ticket.assignee_id.in_(ids), Ticket.status.in_(busy))
                .group_by(Ticket.assignee_id)
            )
            if user_id is not None
        }
    return [
        {
            "id": u.id,
            "username": u.username,
            "name_ar": u.name_ar,
            "name_en": u.name_en,
            "role": u.role.value,
            "on_duty": u.on_duty,
            "open_tickets": int(loads.get(u.id, 0)),
            "units": [{"unit_id": unit, "role": role} for unit, role in memberships.get(u.id, [])],
            "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
        }
        for u in users
    ]


def may_change_duty(session: Session, principal: Principal, scope: Scope, user_id: int) -> bool:
    if principal.role is Role.ADMIN or user_id == principal.user_id:
        return True
    if principal.role is not Role.SUPERVISOR or scope.unit_ids is None:
        return False
    units = set(session.execute(select(UnitMember.unit_id).where(UnitMember.user_id == user_id)).scalars())
    return bool(units & scope.unit_ids)


def go_on_duty(session: Session, user_id: int, *, actor: str) -> int:
    """Mark a person on duty and let them take waiting tickets of their units (least-loaded first)."""
    set_duty(session, user_id, True)
    audit.record(session, "user.on_duty", actor=actor, user_id=user_id)
    units = list(
        session.execute(
            select(UnitMember.unit_id).where(
                UnitMember.user_id == user_id, UnitMember.role == MemberRole.COORDINATOR.value
            )
        ).scalars()
    )
    if not units:
        return 0
    waiting = session.execute(
        select(Ticket.id, Ticket.unit_id)
        .where(
            Ticket.unit_id.in_(units),
            Ticket.assignee_id.is_(None),
            Ticket.escalation_level == 0,
            Ticket.status.in_([TicketStatus.NEW.value, TicketStatus.ASSIGNED.value, TicketStatus.REOPENED.value]),
        )
        .order_by(Ticket.due_at)
        .limit(200)
    ).all()
    assigned, full = 0, set()
    for ticket_id, unit_id in waiting:
        if unit_id in full:
            continue
        if assignment.assign(session, ticket_id, unit_id, actor=actor) is None:
            full.add(unit_id)
        else:
            assigned += 1
    return assigned


async def list_people(request: web.Request) -> web.StreamResponse:
    principal, scope = await asyncio.to_thread(_scope, request)
    if principal.role is Role.COORDINATOR:
        return error(403, "forbidden", "the staff list is for supervisors and administrators")
    return web.json_response({"users": await in_session(request, lambda s: people_in_scope(s, scope), write=False)})


async def set_on_duty(request: web.Request) -> web.StreamResponse:
    principal, scope = await asyncio.to_thread(_scope, request)
    user_id = int(request.match_info["user_id"])
    body = await read_json(request)
    if not isinstance(body.get("on_duty"), bool):
        return error(400, "bad_request", 'send {"on_duty": true} or {"on_duty": false}')
    on_duty: bool = body["on_duty"]
    actor = f"user:{principal.user_id}"

    def work(session: Session) -> dict[str, Any]:
        user = session.get(User, user_id)
        if user is None or not may_change_duty(session, principal, scope, user_id):
            raise web.HTTPNotFound(
                text='{"error": "not_found", "message": "no such person"}', content_type="application/json"
            )
        if user.on_duty == on_duty:
            return {"id": user_id, "on_duty": on_duty, "moved": 0}
        moved = (
            go_on_duty(session, user_id, actor=actor)
            if on_duty
            else assignment.go_off_duty(session, user_id, actor=actor)
        )
        return {"id": user_id, "on_duty": on_duty, "moved": moved}

    return web.json_response(await in_session(request, work))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/units", list_units)
    app.router.add_get("/api/v1/tickets/{number}/reply-limits", get_reply_limits)
    app.router.add_get("/api/v1/quality-reviews", list_reviews)
    app.router.add_post(r"/api/v1/quality-reviews/{review_id:\d+}", submit_review)
    app.router.add_get("/api/v1/dashboard", get_dashboard)
    app.router.add_post("/api/v1/notifications/read", read_notifications)
    app.router.add_get("/api/v1/users", list_people)
    app.router.add_post(r"/api/v1/users/{user_id:\d+}/duty", set_on_duty)
