"""The Celery app. ``celery -A hub.queue.app worker`` and ``tawasul worker`` both load it from here.

Embedded mode uses kombu's SQLAlchemy transport on a SQLite file under ``var/`` (WAL); production
uses Redis or RabbitMQ. Durability never rests on the broker: the inbox and outbox tables are the
record, and the sweeper re-publishes anything left unfinished (see docs/architecture.md for the
measured limits of each transport that led to this).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_init
from sqlalchemy import event
from sqlalchemy.engine import Engine

from hub.config import Settings, get_settings
from hub.logs import configure_logging

QUEUE_KINDS = ("intake", "delivery", "maintenance")


def queue_names(settings: Settings) -> dict[str, str]:
    """Queue name per kind, e.g. ``tawasul.intake`` (``TAWASUL_QUEUE_PREFIX`` changes the prefix)."""
    return {kind: f"{settings.queue_prefix}.{kind}" for kind in QUEUE_KINDS}


def _broker(url: str) -> tuple[str, str | None]:
    """The URL and transport class for kombu: our leaner subclasses of kombu's SQLite and Redis
    transports (hub/queue/sqlite_broker.py, redis_broker.py). kombu takes a transport class only
    from the keyword, never from a URL, so an ``sqla+`` URL loses its prefix here."""
    if url.startswith("sqla+sqlite:"):
        return url.removeprefix("sqla+"), "hub.queue.sqlite_broker:Transport"
    if url.startswith(("redis://", "rediss://")):
        return url, "hub.queue.redis_broker:Transport"
    return url, None


def create_celery(settings: Settings) -> Celery:
    broker_url, broker_transport = _broker(settings.broker_url)
    app = Celery("tawasul", broker=broker_url, include=["hub.queue.tasks"])
    app.conf.broker_transport = broker_transport
    queues = queue_names(settings)
    transport_options: dict[str, Any] = {}
    if settings.broker_url.startswith(("redis://", "rediss://")):
        # A task unacked this long is handed to another worker; ours finish in well under a minute.
        transport_options = {"visibility_timeout": 300}
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,  # a task is acked after it ran, so a crash mid-task can redeliver it
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=2,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        broker_transport_options=transport_options,
        task_default_queue=queues["intake"],
        task_routes={
            "tawasul.intake": {"queue": queues["intake"]},
            "tawasul.deliver": {"queue": queues["delivery"]},
            "tawasul.sweep": {"queue": queues["maintenance"]},
            "tawasul.broker_cleanup": {"queue": queues["maintenance"]},
            "tawasul.sla_sweep": {"queue": queues["maintenance"]},
            "tawasul.urgent_alert": {"queue": queues["delivery"]},
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule={
            "sweep": {
                "task": "tawasul.sweep",
                "schedule": settings.sweep_interval_s,
                "options": {"expires": settings.sweep_interval_s * 3},
            },
            "sla-sweep": {
                "task": "tawasul.sla_sweep",
                "schedule": settings.sla_sweep_interval_s,
                "options": {"expires": settings.sla_sweep_interval_s * 2},
            },
        },
        timezone="UTC",
    )
    if settings.broker_is_embedded:
        _tune_embedded_broker(app, settings)
    return app


def _tune_embedded_broker(app: Celery, settings: Settings) -> None:
    from kombu.transport import sqlalchemy as sqla_transport

    # The transport passes every transport option to create_engine(), so the poll interval can only
    # be set on the class (kombu 5.x); 0.1 s cuts the round trip from ~1 s to ~0.1 s.
    sqla_transport.Transport.polling_interval = 0.1
    # Delivered messages are never deleted by the transport; a periodic job removes them.
    app.conf.beat_schedule["broker-cleanup"] = {
        "task": "tawasul.broker_cleanup",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    }


@event.listens_for(Engine, "connect")
def _sqlite_wal(dbapi_conn: Any, _record: Any) -> None:
    # kombu creates its own engine with no hook; WAL + synchronous=NORMAL makes the embedded broker
    # ~5x faster than the rollback journal. Harmless for our own SQLite engines (same pragmas).
    if type(dbapi_conn).__module__.startswith("sqlite3"):
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


@setup_logging.connect
def _logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


@worker_init.connect
def _load_models(**_: Any) -> None:
    # Load (or, if missing or stale, train) the NLU model once in the parent process, before the
    # pool forks: children share it instead of each loading or training their own.
    from hub.runtime import configure_nlu

    configure_nlu(get_settings())
    from nlu.engine import get_engine

    get_engine().model  # noqa: B018 - the attribute access is the load


celery_app = create_celery(get_settings())
app = celery_app  # `celery -A hub.queue.app` finds either name
