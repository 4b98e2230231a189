"""The webhook's inbox writer: requests that arrive together share one commit, and fail alone."""

from __future__ import annotations

import asyncio

import pytest

from connectors.base import EventKind, InboundEvent
from hub.web.inbox_writer import make_inbox_writer
from ticket_core.db import Database


def _event(event_id: str) -> InboundEvent:
    text = f"متى تصدر نتيجة الطلب {event_id}؟"
    return InboundEvent(
        channel="portal",
        account_ref="portal",
        event_id=event_id,
        kind=EventKind.MESSAGE,
        user_ref="u-1",
        thread_ref="u-1",
        text=text,
        raw={"event_id": event_id, "text": text},
    )


def _refuse_event(db: Database, event_id: str) -> None:
    """Make the database itself reject one event (as a constraint or a full page would)."""
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.event_id = '{event_id}' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            conn.exec_driver_sql(f"ALTER TABLE inbox ADD CONSTRAINT refuse CHECK (event_id <> '{event_id}') NOT VALID")


def _stored_ids(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return {row[0] for row in conn.exec_driver_sql("SELECT event_id FROM inbox")}


async def test_one_refused_request_fails_alone_and_its_batch_neighbours_are_stored(db: Database) -> None:
    _refuse_event(db, "w-bad")
    writer = make_inbox_writer(db)
    writer.start()
    try:
        names = [f"w-{i}" for i in range(12)] + ["w-bad"] + [f"w-{i}" for i in range(12, 24)]
        # Issued together, so they queue while the first batch is being written.
        results = await asyncio.gather(*(writer.store([_event(name)]) for name in names), return_exceptions=True)
    finally:
        await writer.close()
    failed = [name for name, result in zip(names, results, strict=True) if isinstance(result, BaseException)]
    assert failed == ["w-bad"]
    assert _stored_ids(db) == {name for name in names if name != "w-bad"}
    for result in results:
        if not isinstance(result, BaseException):
            [stored] = result
            assert stored.inbox_id is not None and stored.needs_processing


async def test_a_redelivery_in_the_same_batch_is_stored_once(db: Database) -> None:
    writer = make_inbox_writer(db)
    writer.start()
    try:
        first, second = await asyncio.gather(writer.store([_event("w-same")]), writer.store([_event("w-same")]))
    finally:
        await writer.close()
    assert [s.duplicate for s in first + second] == [False, True]
    assert _stored_ids(db) == {"w-same"}


async def test_a_closed_writer_refuses_new_work(db: Database) -> None:
    writer = make_inbox_writer(db)
    writer.start()
    await writer.close()
    with pytest.raises(RuntimeError, match="not running"):
        await writer.store([_event("w-late")])
    assert _stored_ids(db) == set()
