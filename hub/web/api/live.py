"""``GET /api/v1/events``: live updates for the console as Server-Sent Events (``text/event-stream``).

The hub runs several web and worker processes, so a change made by a worker is never announced in
memory: each web process runs ONE poller (``LiveFeed``) that reads what is new in the database every
``interval`` seconds (messages, audit events, notifications after the last id it saw: three primary-key
range reads, however many consoles are open) and hands each event to the open streams whose person may
see it: messages and ticket events for tickets in the person's scope (``ticket_core.scope``),
notifications for that person only.

Ids are handed out when a row is inserted but become visible when its transaction commits, so a
lower id can appear after a higher one was read; ids skipped over are remembered for
``GAP_TTL_S`` seconds and asked for again, so such a late row is still announced.

Events (``data`` is JSON):

* ``message``: ``{"id", "ticket", "beneficiary", "direction", "author", "at"}``
* ``ticket``: ``{"id", "ticket", "beneficiary", "action", "at"}`` (taken over, escalated, answered, ...)
* ``notification``: ``{"id", "kind", "ticket", "payload", "at"}``

A comment line is sent every ``HEARTBEAT_S`` seconds so proxies keep the stream open; the session is
checked again every ``RECHECK_S`` seconds and the stream ends when it was closed or expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.web.api.common import PRINCIPAL, RUNTIME
from ticket_core import people
from ticket_core.db import Database
from ticket_core.models import AuditEvent, Message, Notification, Ticket
from ticket_core.people import Principal
from ticket_core.scope import Scope, scope_for

log = logging.getLogger("tawasul.live")

INTERVAL_S = 0.5
HEARTBEAT_S = 15.0
RECHECK_S = 60.0
GAP_TTL_S = 10.0
BATCH = 1000
QUEUE_MAX = 500
# Audit actions a console shows live (the rest are bookkeeping).
LIVE_ACTIONS = frozenset(
    {
        "ticket.created",
        "ticket.assigned",
        "ticket.unassigned",
        "ticket.escalated",
        "ticket.transferred",
        "ticket.answered",
        "ticket.objected",
        "ticket.reopened",
        "ticket.closed",
        "ticket.cancelled",
        "ticket.in_progress",
        "ticket.note",
        "ticket.replied",
        "ticket.rated",
        "ticket.message_added",
        "conversation.taken_over",
        "conversation.handed_back",
        "conversation.state",
        "delivery.sent_by_hand",
        "delivery.dead",
    }
)


@dataclass(frozen=True)
class LiveEvent:
    kind: str  # message | ticket | notification
    data: dict[str, Any]
    unit_id: int | None = None  # for message / ticket events: the ticket's unit
    user_id: int | None = None  # for notifications: whose

    def encode(self) -> bytes:
        return f"event: {self.kind}\ndata: {json.dumps(self.data, ensure_ascii=False)}\n\n".encode()


@dataclass(eq=False)
class Subscriber:
    principal: Principal
    scope: Scope
    queue: asyncio.Queue[LiveEvent | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))

    def wants(self, event: LiveEvent) -> bool:
        if event.kind == "notification":
            return event.user_id == self.principal.user_id
        return event.unit_id is not None and self.scope.allows(event.unit_id)


@dataclass
class _Cursor:
    """The last id read from one table, and the ids skipped below it that may still commit."""

    last: int | None = None
    gaps: dict[int, float] = field(default_factory=dict)

    def advance(self, seen: list[int], now: float) -> None:
        if self.last is None:
            return
        for gap in set(seen) & set(self.gaps):
            del self.gaps[gap]
        top = max([self.last, *seen])
        present = set(seen)
        for missing in range(self.last + 1, top):
            if missing not in present and top - missing < 10_000:
                self.gaps[missing] = now
        self.last = top
        for gap, since in list(self.gaps.items()):
            if now - since > GAP_TTL_S:
                del self.gaps[gap]

    def where(self, column: Any) -> Any:
        assert self.last is not None
        newer = column > self.last
        return or_(newer, column.in_(sorted(self.gaps))) if self.gaps else newer


class LiveFeed:
    """One database poller per process, fanning out to the streams open in it."""

    def __init__(self, db: Database, *, interval: float = INTERVAL_S) -> None:
        self.db = db
        self.interval = interval
        self.subscribers: set[Subscriber] = set()
        self._cursors = {"message": _Cursor(), "audit": _Cursor(), "notification": _Cursor()}
        self._task: asyncio.Task[None] | None = None
        self.polls = 0

    def subscribe(self, principal: Principal, scope: Scope) -> Subscriber:
        sub = Subscriber(principal, scope)
        self.subscribers.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="tawasul-live-feed")
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def close(self) -> None:
        for sub in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)
        self.subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        idle_since: float | None = None
        while True:
            started = time.monotonic()
            if not self.subscribers:
                # Keep the cursors warm for a while (a page reload reconnects at once), then stop.
                idle_since = idle_since or started
                if started - idle_since > 30:
                    self._task = None
                    return
            else:
                idle_since = None
                try:
                    events = await asyncio.to_thread(self._poll)
                except Exception:
                    log.exception("live feed poll failed")
                    events = []
                self.polls += 1
                for event in events:
                    for sub in list(self.subscribers):
                        if sub.wants(event):
                            try:
                                sub.queue.put_nowait(event)
                            except asyncio.QueueFull:  # a stalled reader: drop it, its browser reconnects
                                self.subscribers.discard(sub)
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    # --- the database side (on a worker thread) -------------------------------------------------

    def _poll(self) -> list[LiveEvent]:
        now = time.monotonic()
        with self.db.read_session() as session:
            if any(c.last is None for c in self._cursors.values()):
                self._start(session)
                return []
            return self._messages(session, now) + self._audit(session, now) + self._notifications(session, now)

    def _start(self, session: Session) -> None:
        for name, column in (("message", Message.id), ("audit", AuditEvent.id), ("notification", Notification.id)):
            self._cursors[name].last = int(session.execute(select(func.coalesce(func.max(column), 0))).scalar_one())

    def _messages(self, session: Session, now: float) -> list[LiveEvent]:
        cursor = self._cursors["message"]
        rows = session.execute(
            select(
                Message.id,
                Message.direction,
                Message.author,
                Message.created_at,
                Ticket.number,
                Ticket.unit_id,
                Ticket.beneficiary_id,
            )
            .outerjoin(Ticket, Ticket.id == Message.ticket_id)
            .where(cursor.where(Message.id))
            .order_by(Message.id)
            .limit(BATCH)
        ).all()
        cursor.advance([r.id for r in rows], now)
        return [
            LiveEvent(
                "message",
                {
                    "id": r.id,
                    "ticket": r.number,
                    "beneficiary": r.beneficiary_id,
                    "direction": r.direction.value,
                    "author": r.author.value,
                    "at": r.created_at.isoformat(),
                },
                unit_id=r.unit_id,
            )
            for r in rows
            if r.number is not None
        ]

    def _audit(self, session: Session, now: float) -> list[LiveEvent]:
        cursor = self._cursors["audit"]
        rows = session.execute(
            select(
                AuditEvent.id, AuditEvent.action, AuditEvent.at, Ticket.number, Ticket.unit_id, Ticket.beneficiary_id
            )
            .outerjoin(Ticket, Ticket.id == AuditEvent.ticket_id)
            .where(cursor.where(AuditEvent.id))
            .order_by(AuditEvent.id)
            .limit(BATCH)
        ).all()
        cursor.advance([r.id for r in rows], now)
        return [
            LiveEvent(
                "ticket",
                {
                    "id": r.id,
                    "ticket": r.number,
                    "beneficiary": r.beneficiary_id,
                    "action": r.action,
                    "at": r.at.isoformat(),
                },
                unit_id=r.unit_id,
            )
            for r in rows
            if r.number is not None and r.action in LIVE_ACTIONS
        ]

    def _notifications(self, session: Session, now: float) -> list[LiveEvent]:
        cursor = self._cursors["notification"]
        rows = session.execute(
            select(
                Notification.id,
                Notification.user_id,
                Notification.kind,
                Notification.payload,
                Notification.created_at,
                Ticket.number,
            )
            .outerjoin(Ticket, Ticket.id == Notification.ticket_id)
            .where(cursor.where(Notification.id))
            .order_by(Notification.id)
            .limit(BATCH)
        ).all()
        cursor.advance([r.id for r in rows], now)
        return [
            LiveEvent(
                "notification",
                {
                    "id": r.id,
                    "kind": r.kind,
                    "ticket": r.number,
                    "payload": r.payload,
                    "at": r.created_at.isoformat(),
                },
                user_id=r.user_id,
            )
            for r in rows
        ]


FEED: web.AppKey[LiveFeed] = web.AppKey("live_feed", LiveFeed)


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get("tawasul_session")


async def events(request: web.Request) -> web.StreamResponse:
    principal: Principal = request[PRINCIPAL]
    runtime = request.app[RUNTIME]
    scope = scope_for(principal, await asyncio.to_thread(runtime.org))
    token = _token(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",  # nginx: pass events through as they come
        }
    )
    await response.prepare(request)
    feed = request.app[FEED]
    sub = feed.subscribe(principal, scope)
    hello = {"user": principal.username, "interval_s": feed.interval}
    await response.write(f"retry: 3000\nevent: hello\ndata: {json.dumps(hello)}\n\n".encode())
    checked = time.monotonic()
    try:
        while True:
            try:
                event = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                event = None
                if sub not in feed.subscribers:  # dropped as stalled, or the app is shutting down
                    break
            else:
                if event is None:
                    break
                await response.write(event.encode())
            if time.monotonic() - checked > RECHECK_S and token:
                checked = time.monotonic()
                if not await asyncio.to_thread(_still_signed_in, runtime.db, token):
                    await response.write(b"event: signed_out\ndata: {}\n\n")
                    break
    except ConnectionResetError:  # the browser went away
        pass
    finally:
        feed.unsubscribe(sub)
    return response


def _still_signed_in(db: Database, token: str) -> bool:
    with db.read_session() as session:
        return people.resolve_session(session, token) is not None


async def _close_feed(app: web.Application) -> None:
    await app[FEED].close()


def add_routes(app: web.Application) -> None:
    app[FEED] = LiveFeed(app[RUNTIME].db)
    app.on_shutdown.append(_close_feed)
    app.router.add_get("/api/v1/events", events)
