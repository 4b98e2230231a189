"""Celery tasks: intake, delivery, and the sweeper that makes durability independent of the broker."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery.signals import worker_process_shutdown, worker_shutdown

from hub.queue.app import celery_app
from hub.queue.publish import publish_delivery, publish_intake
from hub.queue.sender import BackgroundSender
from hub.queue.singleton import only_one
from hub.runtime import Runtime, get_runtime
from ticket_core import actions, assignment, escalation, inbox, outbox, tickets
from ticket_core.models import utcnow

log = logging.getLogger("tawasul.tasks")


@celery_app.task(name="tawasul.intake")
def intake(inbox_ids: list[int]) -> dict[str, Any]:
    """Process inbox rows (a transaction per chunk, see IntakePipeline), then publish their replies."""
    runtime = get_runtime()
    log.info("intake batch started size=%d first_inbox_id=%s", len(inbox_ids), inbox_ids[0] if inbox_ids else None)
    outbox_ids: list[int] = []
    statuses: dict[str, int] = {}
    for outcome in runtime.pipeline.process_many(inbox_ids):
        outbox_ids.extend(outcome.outbox_ids)
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
        if outcome.urgent_ticket and runtime.settings.urgent_alert_url:
            urgent_alert.delay(outcome.urgent_ticket)
    publish_delivery(outbox_ids, batch=runtime.settings.enqueue_batch_size)
    return statuses


@celery_app.task(name="tawasul.deliver")
def deliver(outbox_ids: list[int]) -> dict[str, Any]:
    """Start sending outbox rows on this process's loop and return (hub/queue/sender.py says why);
    each retry is scheduled at its backoff time when its attempt ends."""
    return {"in_flight": sender().submit(outbox_ids)}


_sender: tuple[Runtime, BackgroundSender] | None = None


def sender() -> BackgroundSender:
    """This process's background sender (one per runtime, so a forked child builds its own)."""
    global _sender
    runtime = get_runtime()
    if _sender is None or _sender[0] is not runtime:
        _sender = (
            runtime,
            BackgroundSender(
                runtime.delivery.deliver_many,
                runtime.background_loop,
                on_retry=lambda outbox_id, delay: publish_delivery([outbox_id], countdown=delay),
            ),
        )
    return _sender[1]


@worker_process_shutdown.connect
@worker_shutdown.connect
def _finish_sends(**_: Any) -> None:
    """Let the sends in flight finish before the process exits (what is left, the sweeper has)."""
    if _sender is not None:
        _sender[1].drain(timeout=10)


@celery_app.task(name="tawasul.sweep")
def sweep() -> dict[str, int]:
    """Re-publish inbox rows left unprocessed and outbox rows left unsent (lost messages, dead workers)."""
    runtime = get_runtime()
    stale = timedelta(seconds=runtime.settings.inbox_stale_after_s)
    with runtime.db.session() as session:
        inbox_ids = inbox.stale_pending(session, older_than=stale)
    with runtime.db.session() as session:
        outbox_ids = outbox.due_for_sweep(session, grace=stale)
    batch = runtime.settings.enqueue_batch_size
    publish_intake(inbox_ids, batch=batch)
    publish_delivery(outbox_ids, batch=batch)
    if inbox_ids or outbox_ids:
        log.info("sweep re-published inbox=%d outbox=%d", len(inbox_ids), len(outbox_ids))
    return {"inbox": len(inbox_ids), "outbox": len(outbox_ids)}


@celery_app.task(name="tawasul.sla_sweep")
def sla_sweep() -> dict[str, int]:
    """Escalate breached tickets, close answered ones past the objection window, hand out the backlog.

    One run at a time: a run that finds another still going returns at once (``skipped``).
    """
    runtime = get_runtime()
    with only_one(runtime.db, "sla-sweep", runtime.settings.var_dir) as mine:
        if not mine:
            log.info("sla sweep skipped: the previous run is still going")
            return {"skipped": 1}
        return _sla_sweep(runtime)


def _sla_sweep(runtime: Runtime) -> dict[str, int]:
    ctx = runtime.actions()
    with runtime.db.session() as session:
        escalated = escalation.sweep(session, ladder=ctx.ladder, policy=ctx.policy, calendar=ctx.calendar)
    with runtime.db.session() as session:
        closed = actions.close_answered(session, older_than=utcnow() - ctx.policy.auto_close_after)
    with runtime.db.session() as session:
        assigned = assignment.assign_backlog(session)
    idle = timedelta(minutes=runtime.settings.handback_idle_minutes)
    with runtime.db.session() as session:
        handed_back = actions.hand_back_idle(session, idle_since=utcnow() - idle)
    if escalated or closed or assigned or handed_back:
        log.info(
            "sla sweep escalated=%d closed=%d assigned=%d handed_back=%d", escalated, closed, assigned, handed_back
        )
    return {"escalated": escalated, "closed": closed, "assigned": assigned, "handed_back": handed_back}


@celery_app.task(
    name="tawasul.urgent_alert", autoretry_for=(OSError, RuntimeError), retry_backoff=2, retry_kwargs={"max_retries": 8}
)
def urgent_alert(number: str) -> int:
    """Tell an outside gateway (e-mail/SMS) about an urgent ticket: its number, unit and times only,
    never the citizen's words (those stay in the hub, behind the unit's access)."""
    import hashlib
    import hmac
    import json
    import urllib.request

    runtime = get_runtime()
    settings = runtime.settings
    if not settings.urgent_alert_url:
        return 0
    with runtime.db.read_session() as session:
        ticket = tickets.find_by_number(session, number)
    if ticket is None:
        return 0
    body = json.dumps(
        {
            "ticket": ticket.number,
            "unit": ticket.unit.key,
            "unit_name": ticket.unit.name_ar,
            "due_at": ticket.due_at.isoformat(),
        },
        ensure_ascii=False,
    ).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if settings.urgent_alert_secret:
        digest = hmac.new(settings.urgent_alert_secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
        headers["X-Tawasul-Signature"] = f"sha256={digest}"
    request = urllib.request.Request(settings.urgent_alert_url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status >= 300:
            raise RuntimeError(f"alert gateway answered {response.status}")
        return int(response.status)


@celery_app.task(name="tawasul.broker_cleanup")
def broker_cleanup() -> int:
    """Delete delivered messages from the embedded SQLite broker (its transport never does)."""
    from sqlalchemy import text

    from ticket_core.db import make_engine

    url = runtime_broker_url()
    if not url.startswith("sqla+"):
        return 0
    engine = make_engine(url.removeprefix("sqla+"))
    try:
        with engine.begin() as conn:
            result = conn.execute(text("DELETE FROM kombu_message WHERE visible = 0"))
            return int(result.rowcount or 0)
    finally:
        engine.dispose()


def runtime_broker_url() -> str:
    return get_runtime().settings.broker_url
