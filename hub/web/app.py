"""The aiohttp application: ``/webhooks/{channel}``, ``/healthz``, ``/readyz`` and the ``/api/v1`` coordinator API.

A webhook is verified on its raw bytes, parsed, stored in the inbox and only then acknowledged;
everything else happens in the queue. Errors are JSON: ``{"error": code, "message": ...}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import text

from connectors.base import WebhookRejected, WebhookRequest
from connectors.registry import ConnectorRegistry, UnknownChannel
from hub.config import Settings
from hub.runtime import Runtime
from hub.web import api, console
from hub.web.api import auth as api_auth
from hub.web.api.channels import PUBLISH_INTAKE
from hub.web.api.common import PUBLISH_DELIVERY, RUNTIME
from hub.web.enqueuer import Enqueuer
from hub.web.inbox_writer import InboxWriter, make_inbox_writer
from ticket_core.db import Database
from ticket_core.migrate import pending_revisions

log = logging.getLogger("tawasul.web")

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
REGISTRY = web.AppKey("registry", ConnectorRegistry)
WRITER = web.AppKey("writer", InboxWriter)
ENQUEUER = web.AppKey("enqueuer", Enqueuer)
READY_CACHE = web.AppKey("ready_cache", dict)


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


async def webhook(request: web.Request) -> web.StreamResponse:
    app = request.app
    channel = request.match_info["channel"]
    try:
        connector = app[REGISTRY].get(channel)
    except UnknownChannel as exc:
        return json_error(404, "unknown_channel" if not exc.known else "channel_disabled", str(exc))

    limit = app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return json_error(413, "body_too_large", f"the body exceeds {limit} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, "body_too_large", f"the body exceeds {limit} bytes")

    incoming = WebhookRequest(request.method, request.headers, request.query, body)
    if request.method == "GET":
        challenge = connector.challenge(incoming)
        if challenge is None:
            return json_error(405, "method_not_allowed", f"{channel} webhooks are POSTed")
        return web.Response(status=challenge.status, text=challenge.body, content_type=challenge.content_type)

    try:
        connector.verify(incoming)
        events = connector.parse(incoming)
    except WebhookRejected as exc:
        log.info("webhook rejected channel=%s status=%s code=%s", channel, exc.status, exc.code)
        return json_error(exc.status, exc.code, exc.message)

    try:
        stored = await app[WRITER].store(events)
    except Exception:
        # Not stored, so not acknowledged: the platform will deliver it again.
        return json_error(503, "storage_unavailable", "the event could not be stored; retry later")
    fresh = [s.inbox_id for s in stored if s.needs_processing and s.inbox_id is not None]
    app[ENQUEUER].submit(fresh)
    duplicates = sum(1 for s in stored if s.duplicate)
    return web.json_response({"ok": True, "stored": len(stored) - duplicates, "duplicates": duplicates})


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers and is migrated, and the broker accepts a connection."""
    cache = request.app[READY_CACHE]
    if cache and time.monotonic() - cache["at"] < 2.0:  # probes come often; checks cost a connection
        return web.json_response(cache["body"], status=cache["status"])
    settings = request.app[SETTINGS]
    checks: dict[str, str] = {}
    checks["database"] = await asyncio.to_thread(_check_database, request.app[DB])
    checks["broker"] = await asyncio.to_thread(_check_broker, settings.broker_url)
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ok else "not_ready", "checks": checks, "channels": request.app[REGISTRY].names}
    status = 200 if ok else 503
    cache.update(at=time.monotonic(), body=body, status=status)
    return web.json_response(body, status=status)


def _check_database(db: Database) -> str:
    try:
        with db.read_session() as session:
            session.execute(text("SELECT 1"))
        missing = pending_revisions(db.engine)
    except Exception as exc:
        return f"error: {type(exc).__name__}: {str(exc)[:200]}"
    return "ok" if not missing else f"not migrated: run `tawasul migrate` ({len(missing)} pending)"


def _check_broker(url: str) -> str:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"error: {type(exc).__name__}: {str(exc)[:200]}"
    return "ok"


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    registry: ConnectorRegistry | None = None,
    publish: Callable[[Sequence[int]], bool] | None = None,
    publish_delivery: Callable[[Sequence[int]], bool] | None = None,
) -> web.Application:
    """Build the web app. ``publish`` / ``publish_delivery`` default to the Celery publishers."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[api_auth.guard])
    runtime = Runtime(settings, db=db, registry=registry)
    app[SETTINGS] = settings
    app[RUNTIME] = runtime
    app[DB] = runtime.db
    app[REGISTRY] = runtime.registry
    app[WRITER] = make_inbox_writer(app[DB])
    if publish is None or publish_delivery is None:
        from hub.queue.publish import publish_delivery as celery_delivery
        from hub.queue.publish import publish_intake

        def publish_default(ids: Sequence[int]) -> bool:
            return publish_intake(ids, batch=settings.enqueue_batch_size)

        publish = publish_default if publish is None else publish
        publish_delivery = celery_delivery if publish_delivery is None else publish_delivery
    app[PUBLISH_DELIVERY] = publish_delivery
    app[PUBLISH_INTAKE] = publish
    app[ENQUEUER] = Enqueuer(publish, max_batch=settings.enqueue_batch_size, linger_s=settings.enqueue_linger_ms / 1000)
    app[READY_CACHE] = {}
    app.router.add_route("GET", "/webhooks/{channel}", webhook)
    app.router.add_route("POST", "/webhooks/{channel}", webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    api.add_routes(app)
    console.add_routes(app)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app


async def _start(app: web.Application) -> None:
    app[WRITER].start()
    app[ENQUEUER].start()


async def _stop(app: web.Application) -> None:
    app[ENQUEUER].flush()
    await asyncio.to_thread(app[ENQUEUER].stop)
    await app[WRITER].close()
    await app[REGISTRY].aclose()


def run(app: web.Application, host: str, port: int, **kwargs: Any) -> None:
    web.run_app(app, host=host, port=port, print=None, access_log=None, **kwargs)
