"""Tickets in the coordinator API: list and search, detail, the citizen's timeline, and actions.

Every query is scoped to the signed-in person's units (ticket_core.scope); a ticket outside the
scope answers 404 exactly like a ticket that does not exist. Actions are audited in ticket_core;
a reply goes to the outbox and is published for delivery after the transaction commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from bots.templates import ReplyBook
from hub.web.api.common import PRINCIPAL, PUBLISH_DELIVERY, RUNTIME, error, in_session, read_json
from router import followups
from ticket_core import actions, audit, queries
from ticket_core.escalation import AtTopOfLadder
from ticket_core.lifecycle import IllegalTransition
from ticket_core.models import (
    Beneficiary,
    CannedResponse,
    Notification,
    Ticket,
    TicketStatus,
    Unit,
    utcnow,
)
from ticket_core.people import Principal
from ticket_core.scope import Scope, scope_for

_CSV = lambda value: tuple(v for v in value.split(",") if v) if value else ()  # noqa: E731


def _scope(request: web.Request) -> tuple[Principal, Scope]:
    principal: Principal = request[PRINCIPAL]
    return principal, scope_for(principal, request.app[RUNTIME].org())


async def list_tickets(request: web.Request) -> web.StreamResponse:
    principal, scope = await asyncio.to_thread(_scope, request)
    q = request.query
    try:
        after = queries.decode_cursor(q["after"]) if q.get("after") else None
        tree = request.app[RUNTIME].org()
        units = tuple(tree.by_key[k].id for k in _CSV(q.get("unit", "")) if k in tree.by_key)
        flt = queries.TicketFilter(
            statuses=_CSV(q.get("status", "")),
            categories=_CSV(q.get("category", "")),
            channels=_CSV(q.get("channel", "")),
            levels=tuple(int(v) for v in _CSV(q.get("level", ""))),
            units=units,
            sla=q.get("sla") or None,
            assignee=principal.user_id if q.get("assigned") == "me" else None,
            unassigned=q.get("assigned") == "none",
            q=q.get("q") or None,
            limit=int(q.get("limit", 50)),
            after=after,
        )
    except (ValueError, KeyError) as exc:
        return error(400, "bad_filter", f"invalid filter: {exc}")
    if flt.sla and flt.sla not in queries.SLA_STATES:
        return error(400, "bad_filter", f"sla must be one of {', '.join(queries.SLA_STATES)}")
    bad = [s for s in flt.statuses if s not in {t.value for t in TicketStatus}]
    if bad:
        return error(400, "bad_filter", f"unknown status {bad[0]!r}")
    now = utcnow()
    rows = await in_session(request, lambda s: queries.list_tickets(s, scope.unit_ids, flt, now=now), write=False)
    return web.json_response({"tickets": rows, "next": rows[-1]["cursor"] if len(rows) == flt.limit else None})


def _load(session: Session, number: str, scope: Scope) -> Ticket:
    ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one_or_none()
    if ticket is None or not scope.allows(ticket.unit_id):
        raise web.HTTPNotFound(
            text='{"error": "not_found", "message": "no such ticket"}', content_type="application/json"
        )
    return ticket


def _detail(session: Session, ticket: Ticket) -> dict[str, Any]:
    unit = session.get(Unit, ticket.unit_id)
    citizen = session.get(Beneficiary, ticket.beneficiary_id)
    now = utcnow()
    return {
        "number": ticket.number,
        "status": ticket.status.value,
        "category": ticket.category,
        "channel": ticket.channel,
        "priority": ticket.priority,
        "escalation_level": ticket.escalation_level,
        "objections": ticket.objection_count,
        "unit": {"key": unit.key, "name_ar": unit.name_ar, "name_en": unit.name_en} if unit else None,
        "assignee_id": ticket.assignee_id,
        "subject": ticket.subject,
        "language": ticket.language,
        "needs_triage": ticket.needs_triage,
        "created_at": ticket.created_at.isoformat(),
        "due_at": ticket.due_at.isoformat(),
        "sla": queries.sla_state(ticket.status, ticket.due_at, ticket.paused_at, now),
        "answered_at": ticket.answered_at.isoformat() if ticket.answered_at else None,
        "citizen": {"id": citizen.id, "name": citizen.display_name, "phone": citizen.phone, "email": citizen.email}
        if citizen
        else None,
    }


def _audit_view(session: Session, ticket: Ticket, principal: Principal, what: str) -> None:
    """Urgent tickets (danger signalled) are sensitive: every look at one is audited."""
    if ticket.priority == "urgent":
        audit.record(session, "ticket.viewed", actor=f"user:{principal.user_id}", ticket_id=ticket.id, view=what)


async def ticket_detail(request: web.Request) -> web.StreamResponse:
    principal, scope = await asyncio.to_thread(_scope, request)
    number = request.match_info["number"]

    def work(session: Session) -> dict[str, Any]:
        ticket = _load(session, number, scope)
        _audit_view(session, ticket, principal, "detail")
        return _detail(session, ticket)

    return web.json_response(await in_session(request, work))


async def ticket_timeline(request: web.Request) -> web.StreamResponse:
    principal, scope = await asyncio.to_thread(_scope, request)
    number = request.match_info["number"]

    def work(session: Session) -> dict[str, Any]:
        ticket = _load(session, number, scope)
        _audit_view(session, ticket, principal, "timeline")
        return {"number": ticket.number, "items": queries.timeline(session, ticket.beneficiary_id)}

    return web.json_response(await in_session(request, work))


@dataclass(frozen=True)
class Deps:
    """What an action needs besides the ticket: the service context and the reply templates."""

    ctx: actions.Context
    replies: ReplyBook


Action = Callable[[Session, Ticket, Principal, dict[str, Any], Deps], dict[str, Any]]


def _action(fn: Action) -> Callable[[web.Request], Any]:
    """Wrap a ticket action: scope check, body, transaction, domain errors -> 409, publish replies."""

    async def handler(request: web.Request) -> web.StreamResponse:
        principal, scope = await asyncio.to_thread(_scope, request)
        body = await read_json(request)
        number = request.match_info["number"]
        runtime = request.app[RUNTIME]
        deps = Deps(await asyncio.to_thread(runtime.actions), runtime.replies)

        def work(session: Session) -> dict[str, Any]:
            ticket = _load(session, number, scope)
            result = fn(session, ticket, principal, body, deps)
            session.flush()
            return {"ticket": _detail(session, ticket), **result}

        try:
            result = await in_session(request, work)
        except actions.AlreadyTaken as exc:
            return error(409, "already_taken", str(exc))
        except (actions.ActionError, IllegalTransition, AtTopOfLadder) as exc:
            return error(409, "not_allowed", str(exc))
        except LookupError as exc:
            return error(400, "bad_request", str(exc))
        outbox_ids = result.pop("outbox_ids", [])
        if outbox_ids:
            request.app[PUBLISH_DELIVERY](outbox_ids)
        return web.json_response(result)

    return handler


def _take_over(session: Session, ticket: Ticket, p: Principal, body: dict[str, Any], deps: Deps) -> dict[str, Any]:
    actions.take_over(session, ticket, p.user_id)
    return {}


def _reply(session: Session, ticket: Ticket, p: Principal, body: dict[str, Any], deps: Deps) -> dict[str, Any]:
    if body.get("resolve"):
        return _resolve(session, ticket, p, body, deps)
    text = str(body.get("text") or "")
    wait = bool(body.get("wait_for_citizen"))
    return {"outbox_ids": [actions.reply(session, ticket, p.user_id, text, deps.ctx, wait_for_citizen=wait)]}


def _note(session: Session, ticket: Ticket, p: Principal, body: dict[str, Any], deps: Deps) -> dict[str, Any]:
    actions.note(session, ticket, p.user_id, str(body.get("text") or ""))
    return {}


def _transfer(session: Session, ticket: Ticket, p: Principal, body: dict[str, Any], deps: Deps) -> dict[str, Any]:
    unit = session.execute(select(Unit).where(Unit.key == str(body.get("unit") or ""))).scalar_one_or_none()
    if unit is None:
        raise LookupError(f"unknown unit {body.get('unit')!r}")
    assignee = actions.transfer(session, ticket, p.user_id, unit, reason=body.get("reason"))
    return {"assigned_to": assignee}


def _escalate(session: Session, ticket: Ticket, p: Principal, body: dict[str, Any], deps: Deps) -> dict[str, Any]:
    rung = actions.escalate_by_hand(session, ticket, p.user_id, deps.ctx, reason=body.get("reason"))
    return {"level": rung.level}


def _resolve(session: Session, ticket: Ticket, p: Principal, body: dict[str, Any], deps: Deps) -> dict[str, Any]:
    """Answer the citizen (with ``text``, or marking an earlier reply as the answer), then ask for a rating."""
    text = str(body.get("text") or "").strip()
    sent = []
    if text:
        sent.append(actions.reply(session, ticket, p.user_id, text, deps.ctx, resolve=True))
    else:
        actions.answer(session, ticket, p.user_id, deps.ctx)
    session.flush()
    sent.append(followups.after_answer(session, ticket, deps.replies, deps.ctx.policy))
    return {"outbox_ids": sent}


def _hand_back(session: Session, ticket: Ticket, p: Principal, body: dict[str, Any], deps: Deps) -> dict[str, Any]:
    actions.hand_back(session, ticket, p.user_id)
    return {}


def _cancel(session: Session, ticket: Ticket, p: Principal, body: dict[str, Any], deps: Deps) -> dict[str, Any]:
    reason = str(body.get("reason") or "").strip()
    if not reason:
        raise actions.ActionError("cancelling needs a reason")
    actions.cancel(session, ticket, p.user_id, reason=reason)
    return {}


async def canned_responses(request: web.Request) -> web.StreamResponse:
    principal: Principal = request[PRINCIPAL]

    def work(session: Session) -> list[dict[str, Any]]:
        rows = session.execute(
            select(CannedResponse)
            .where((CannedResponse.unit_id.is_(None)) | (CannedResponse.unit_id.in_(sorted(principal.unit_ids))))
            .order_by(CannedResponse.key)
        ).scalars()
        return [
            {"key": c.key, "title_ar": c.title_ar, "title_en": c.title_en, "text_ar": c.text_ar, "text_en": c.text_en}
            for c in rows
        ]

    return web.json_response({"canned_responses": await in_session(request, work, write=False)})


async def notifications(request: web.Request) -> web.StreamResponse:
    principal: Principal = request[PRINCIPAL]

    def work(session: Session) -> list[dict[str, Any]]:
        rows = session.execute(
            select(Notification, Ticket.number)
            .outerjoin(Ticket, Ticket.id == Notification.ticket_id)
            .where(Notification.user_id == principal.user_id, Notification.read_at.is_(None))
            .order_by(Notification.id.desc())
            .limit(100)
        ).all()
        return [
            {"id": n.id, "kind": n.kind, "ticket": number, "at": n.created_at.isoformat(), "payload": n.payload}
            for n, number in rows
        ]

    return web.json_response({"notifications": await in_session(request, work, write=False)})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/tickets", list_tickets)
    app.router.add_get("/api/v1/tickets/{number}", ticket_detail)
    app.router.add_get("/api/v1/tickets/{number}/timeline", ticket_timeline)
    for name, fn in (
        ("takeover", _take_over),
        ("reply", _reply),
        ("note", _note),
        ("transfer", _transfer),
        ("escalate", _escalate),
        ("resolve", _resolve),
        ("handback", _hand_back),
        ("cancel", _cancel),
    ):
        app.router.add_post(f"/api/v1/tickets/{{number}}/{name}", _action(fn))
    app.router.add_get("/api/v1/canned-responses", canned_responses)
    app.router.add_get("/api/v1/notifications", notifications)
