"""Channel work that needs a person: linking a citizen's accounts, the assisted Snapchat channel.

* ``POST /api/v1/tickets/{number}/link`` ``{"ticket": "<other number>"}``: the two tickets'
  citizens are one person (both tickets must be in the coordinator's scope).
* ``POST /api/v1/snapchat/messages`` ``{"snap_user": "...", "display_name": "...", "text": "..."}``:
  a coordinator records a Snapchat message by hand; it goes through the same intake as any webhook.
* ``GET /api/v1/outbox/manual`` and ``POST /api/v1/outbox/{id}/sent``: replies waiting to be sent
  by hand in the Snapchat app, and the confirmation that they were.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.base import EventKind, InboundEvent
from hub.web.api.common import PRINCIPAL, RUNTIME, error, in_session, read_json
from ticket_core import audit, identities
from ticket_core.inbox import store_events
from ticket_core.models import Conversation, Message, OutboxMessage, OutboxStatus, Ticket, table, utcnow
from ticket_core.scope import scope_for

PUBLISH_INTAKE: web.AppKey[Callable[[Sequence[int]], bool]] = web.AppKey("publish_intake")


async def link_citizens(request: web.Request) -> web.StreamResponse:
    principal = request[PRINCIPAL]
    scope = scope_for(principal, await asyncio.to_thread(request.app[RUNTIME].org))
    body = await read_json(request)
    numbers = (request.match_info["number"], str(body.get("ticket") or ""))

    def work(session: Session) -> dict[str, Any]:
        found = {t.number: t for t in session.execute(select(Ticket).where(Ticket.number.in_(numbers))).scalars()}
        if any(n not in found or not scope.allows(found[n].unit_id) for n in numbers):
            raise web.HTTPNotFound(
                text='{"error": "not_found", "message": "no such ticket"}', content_type="application/json"
            )
        keep, merge = found[numbers[0]].beneficiary_id, found[numbers[1]].beneficiary_id
        identities.link(
            session,
            keep,
            merge,
            actor=f"user:{principal.user_id}",
            reason=str(body.get("reason") or "linked by a coordinator"),
        )
        return {"beneficiary_id": keep, "linked": merge != keep}

    return web.json_response(await in_session(request, work))


async def record_snapchat(request: web.Request) -> web.StreamResponse:
    """A coordinator types in a Snapchat message; it becomes an inbox event like any webhook."""
    principal = request[PRINCIPAL]
    runtime = request.app[RUNTIME]
    if "snapchat" not in runtime.registry:
        return error(404, "channel_disabled", "the Snapchat channel is not enabled (TAWASUL_SNAPCHAT_ENABLED=true)")
    body = await read_json(request)
    user = str(body.get("snap_user") or "").strip()
    text = str(body.get("text") or "").strip()
    if not user or not text:
        return error(400, "missing_fields", "snap_user and text are required")
    connector = runtime.registry.get("snapchat")
    event = InboundEvent(
        channel="snapchat",
        account_ref=connector.account_ref,
        event_id=f"manual-{uuid.uuid4().hex}",
        kind=EventKind.MESSAGE,
        thread_ref=user,
        user_ref=user,
        user_display=str(body.get("display_name") or user),
        sent_at=datetime.now(UTC),
        text=text,
        raw={"recorded_by": principal.username, "snap_user": user, "text": text},
    )

    def work(session: Session) -> int | None:
        [stored] = store_events(session, [event])
        audit.record(session, "snapchat.recorded", actor=f"user:{principal.user_id}", snap_user=user)
        return stored.inbox_id

    inbox_id = await in_session(request, work)
    if inbox_id is not None:
        request.app[PUBLISH_INTAKE]([inbox_id])
    return web.json_response({"inbox_id": inbox_id}, status=202)


async def manual_outbox(request: web.Request) -> web.StreamResponse:
    principal = request[PRINCIPAL]
    scope = scope_for(principal, await asyncio.to_thread(request.app[RUNTIME].org))

    def work(session: Session) -> list[dict[str, Any]]:
        o = OutboxMessage
        query = (
            select(o.id, o.channel, o.user_ref, o.text, o.created_at, Ticket.number, Ticket.unit_id)
            .outerjoin(Ticket, Ticket.id == o.ticket_id)
            .where(o.status == OutboxStatus.MANUAL.value)
            .order_by(o.id)
            .limit(200)
        )
        return [
            {
                "id": r.id,
                "channel": r.channel,
                "to": r.user_ref,
                "text": r.text,
                "ticket": r.number,
                "created_at": r.created_at.isoformat(),
            }
            for r in session.execute(query)
            if r.unit_id is None or scope.allows(r.unit_id)
        ]

    return web.json_response({"manual": await in_session(request, work, write=False)})


async def confirm_manual(request: web.Request) -> web.StreamResponse:
    principal = request[PRINCIPAL]
    scope = scope_for(principal, await asyncio.to_thread(request.app[RUNTIME].org))
    outbox_id = int(request.match_info["outbox_id"])

    def work(session: Session) -> dict[str, Any]:
        row = session.get(OutboxMessage, outbox_id)
        ticket = session.get(Ticket, row.ticket_id) if row and row.ticket_id else None
        if row is None or row.status is not OutboxStatus.MANUAL or (ticket and not scope.allows(ticket.unit_id)):
            raise web.HTTPNotFound(
                text='{"error": "not_found", "message": "no manual message with that id"}',
                content_type="application/json",
            )
        now = utcnow()
        row.status = OutboxStatus.SENT
        row.sent_at = now
        session.execute(
            update(table(Conversation))
            .where(table(Conversation).c.id == row.conversation_id)
            .values(last_outbound_at=now)
        )
        session.execute(
            update(table(Message)).where(table(Message).c.outbox_id == row.id).values(user_id=principal.user_id)
        )
        audit.record(
            session,
            "delivery.sent_by_hand",
            actor=f"user:{principal.user_id}",
            ticket_id=row.ticket_id,
            outbox_id=row.id,
        )
        return {"id": row.id, "status": "sent"}

    return web.json_response(await in_session(request, work))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/tickets/{number}/link", link_citizens)
    app.router.add_post("/api/v1/snapchat/messages", record_snapchat)
    app.router.add_get("/api/v1/outbox/manual", manual_outbox)
    app.router.add_post(r"/api/v1/outbox/{outbox_id:\d+}/sent", confirm_manual)
