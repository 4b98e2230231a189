"""The inbox: raw inbound events stored before a webhook is acknowledged, then processed once.

Uniqueness on (channel, account_ref, event_id) makes a platform's redelivery a no-op. A row stays
``pending`` until the transaction that processes it commits ``done``, so a worker that dies midway
leaves it pending for the sweeper; processing failures are counted and end in ``failed``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from connectors.base import EventKind, InboundEvent
from ticket_core.models import InboxEvent, InboxStatus, table, utcnow

# Events that need no processing are stored as already-ignored, with the reason.
_IGNORED_KINDS = {EventKind.ECHO: "echo of our own message", EventKind.STATUS: "delivery/read receipt"}


@dataclass(frozen=True)
class Stored:
    inbox_id: int | None  # None when the event was a duplicate
    event: InboundEvent
    needs_processing: bool = False

    @property
    def duplicate(self) -> bool:
        return self.inbox_id is None


# One statement text per dialect whatever the batch size, with the whole batch as one JSON
# parameter: the driver prepares it once and the database plans it once (a VALUES list of a new
# length each batch was compiled by SQLAlchemy and parsed anew every time), and the batch is
# serialised by one C-level json.dumps (PostgreSQL array parameters went through psycopg's Python
# array dumper: ~30 % of the event loop's time under load, measured).
_COLUMNS = (
    ("channel", "varchar"),
    ("account_ref", "varchar"),
    ("event_id", "varchar"),
    ("kind", "varchar"),
    ("status", "varchar"),
    ("attempts", "int"),
    ("received_at", "timestamptz"),
    ("processed_at", "timestamptz"),
    ("last_error", "text"),
    ("event", "jsonb"),
    ("raw", "text"),
)
_inbox = table(InboxEvent)
_NAMES = ", ".join(name for name, _ in _COLUMNS)
_CONFLICT = "ON CONFLICT (channel, account_ref, event_id) DO NOTHING RETURNING id, channel, account_ref, event_id"
PG_BATCH_INSERT = (
    f"INSERT INTO inbox ({_NAMES}) SELECT {_NAMES} "
    f"FROM jsonb_to_recordset(%s::jsonb) AS t({', '.join(f'{name} {kind}' for name, kind in _COLUMNS)}) " + _CONFLICT
)
# SQLite: json_extract gives objects back as JSON text, which is how the JSON column stores them;
# "WHERE true" is SQLite's required separator between a SELECT and ON CONFLICT.
SQLITE_BATCH_INSERT = (
    f"INSERT INTO inbox ({_NAMES}) "
    "SELECT " + ", ".join(f"json_extract(value, '$.{name}')" for name, _ in _COLUMNS) + " "
    "FROM json_each(?) WHERE true " + _CONFLICT
)
# How SQLAlchemy stores a UTC datetime in SQLite (text that sorts and compares as time).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def _batch(params: list[dict[str, Any]], dialect: str) -> tuple[str]:
    """The rows as the one JSON parameter of the batch insert, datetimes as the dialect stores them."""

    def when(value: datetime | None) -> str | None:
        if value is None:
            return None
        if dialect == "sqlite":
            return value.astimezone(UTC).strftime(_SQLITE_DATETIME)
        return value.isoformat()

    rows = [
        {**row, "received_at": when(row["received_at"]), "processed_at": when(row["processed_at"])} for row in params
    ]
    return (json.dumps(rows, ensure_ascii=False, separators=(",", ":")),)


def store_events(session: Session, events: Sequence[InboundEvent]) -> list[Stored]:
    """Insert events, skipping ones already stored (the platform's retries)."""
    return store_event_groups(session, [events])[0]


def store_event_groups(session: Session, groups: Sequence[Sequence[InboundEvent]]) -> list[list[Stored]]:
    """`store_events` for several requests' events at once: one multi-row INSERT for all of them
    (the webhook's group commit stores everything that arrived together in one round trip).

    An event whose key is already stored, or appears earlier in the same call, is a duplicate.
    """
    connection = session.connection()
    params = _params(groups)
    rows: Any = []
    if params:
        dialect = connection.dialect.name
        statement = SQLITE_BATCH_INSERT if dialect == "sqlite" else PG_BATCH_INSERT
        rows = connection.exec_driver_sql(statement, _batch(params, dialect))
    return _match(groups, rows)


def store_event_groups_sqlite(
    connection: sqlite3.Connection, groups: Sequence[Sequence[InboundEvent]]
) -> list[list[Stored]]:
    """`store_event_groups` on a raw sqlite3 connection, committed (the SQLite webhook writer: the
    INSERT is one statement, so it needs no session or engine transaction around it; measured,
    those cost more than the insert itself for a small batch)."""
    params = _params(groups)
    rows: Any = []
    if params:
        rows = connection.execute(SQLITE_BATCH_INSERT, _batch(params, "sqlite")).fetchall()
        connection.commit()  # a no-op when the driver runs the statement in autocommit mode
    return _match(groups, rows)


async def store_event_groups_pg(
    connection: psycopg.AsyncConnection[Any], groups: Sequence[Sequence[InboundEvent]]
) -> list[list[Stored]]:
    """`store_event_groups` on a psycopg asyncio connection in autocommit mode (the webhook's
    writer runs its inserts on the event loop: no thread hand-offs on the request path)."""
    params = _params(groups)
    rows: Any = []
    if params:
        cursor = await connection.execute(PG_BATCH_INSERT, _batch(params, "postgresql"))
        rows = await cursor.fetchall()
    return _match(groups, rows)


def _params(groups: Sequence[Sequence[InboundEvent]]) -> list[dict[str, Any]]:
    now = utcnow()
    return [_row(event, now) for group in groups for event in group]


def _match(groups: Sequence[Sequence[InboundEvent]], rows: Iterable[Any]) -> list[list[Stored]]:
    """Pair each event with the id the INSERT returned for its key (none: it was a duplicate)."""
    ids = {(channel, account_ref, event_id): inbox_id for inbox_id, channel, account_ref, event_id in rows}
    out: list[list[Stored]] = []
    for group in groups:
        stored = []
        for event in group:
            # pop: a second copy of the same event in this call is the duplicate, not the first
            inbox_id = ids.pop((event.channel, event.account_ref, event.event_id), None)
            stored.append(Stored(inbox_id, event, inbox_id is not None and _status(event) is InboxStatus.PENDING))
        out.append(stored)
    return out


def _status(event: InboundEvent) -> InboxStatus:
    ignored = event.kind in _IGNORED_KINDS or event.kind is EventKind.UNSUPPORTED
    return InboxStatus.IGNORED if ignored else InboxStatus.PENDING


def _row(event: InboundEvent, now: datetime) -> dict[str, Any]:
    status = _status(event)
    ignored = status is InboxStatus.IGNORED
    return {
        "channel": event.channel,
        "account_ref": event.account_ref,
        "event_id": event.event_id,
        "kind": event.kind.value,
        "status": status.value,
        "attempts": 0,
        "received_at": now,
        "processed_at": now if ignored else None,
        "last_error": _IGNORED_KINDS.get(event.kind, event.text if ignored else None),
        "event": event.to_record(),
        "raw": json.dumps(event.raw, ensure_ascii=False, separators=(",", ":")),
    }


def claim_many(session: Session, inbox_ids: Sequence[int]) -> list[int]:
    """Lock pending rows for processing in this transaction, in id order. Rows already done, or
    (on PostgreSQL) held by another worker right now, are left out."""
    stmt = (
        select(_inbox.c.id)
        .where(_inbox.c.id.in_(inbox_ids), _inbox.c.status == InboxStatus.PENDING.value)
        .order_by(_inbox.c.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.connection().execute(stmt).scalars())


def mark_done_many(session: Session, inbox_ids: Sequence[int]) -> None:
    if inbox_ids:
        session.connection().execute(
            update(_inbox)
            .where(_inbox.c.id.in_(inbox_ids))
            .values(status=InboxStatus.DONE.value, processed_at=utcnow(), attempts=_inbox.c.attempts + 1)
        )


def record_failure(session: Session, inbox_id: int, error: str, *, max_attempts: int) -> InboxStatus:
    """Count a failed processing attempt (in its own transaction); ``failed`` once attempts run out."""
    row = session.get(InboxEvent, inbox_id)
    if row is None or row.status is not InboxStatus.PENDING:
        return row.status if row else InboxStatus.FAILED
    row.attempts += 1
    row.last_error = error[:2000]
    if row.attempts >= max_attempts:
        row.status = InboxStatus.FAILED
        row.processed_at = utcnow()
    return row.status


def stale_pending(
    session: Session, *, older_than: timedelta, limit: int = 500, now: datetime | None = None
) -> list[int]:
    """Pending rows nobody finished in time; marks them swept so the next sweep waits again."""
    now = now or utcnow()
    cutoff = now - older_than
    stmt = (
        select(InboxEvent.id)
        .where(
            InboxEvent.status == InboxStatus.PENDING,
            InboxEvent.received_at < cutoff,
            or_(InboxEvent.swept_at.is_(None), InboxEvent.swept_at < cutoff),
        )
        .order_by(InboxEvent.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list(session.execute(stmt).scalars())
    if ids:
        session.execute(update(InboxEvent).where(and_(InboxEvent.id.in_(ids))).values(swept_at=now))
    return ids


def find_event(session: Session, channel: str, account_ref: str, event_id: str) -> InboundEvent | None:
    """An event stored earlier, by the platform's id (e.g. the question an FAQ answer was about)."""
    row = (
        session.connection()
        .execute(
            select(_inbox.c.event).where(
                _inbox.c.channel == channel, _inbox.c.account_ref == account_ref, _inbox.c.event_id == event_id
            )
        )
        .first()
    )
    return InboundEvent.from_record(row[0]) if row else None
