"""Inserts deferred to the end of a block: written once, in order, inside the caller's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ticket_core import audit, deferred
from ticket_core.db import Database
from ticket_core.models import AuditEvent


def _actions(session) -> list[str]:  # type: ignore[no-untyped-def]
    return list(session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def test_rows_are_written_when_the_block_ends_in_the_order_recorded(db: Database) -> None:
    with db.session() as session:
        with deferred.writes_at_end(session):
            audit.record(session, "first", reason="سبب")
            audit.record(session, "second")  # no reason: NULL, as on its own
            with deferred.writes_at_end(session):  # nested: the outer block writes
                audit.record(session, "third", ticket_id=None, extra="تفصيل")
            assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0
        assert _actions(session) == ["first", "second", "third"]
    with db.read_session() as session:
        rows = session.execute(select(AuditEvent.action, AuditEvent.reason, AuditEvent.detail).order_by(AuditEvent.id))
        assert [tuple(r) for r in rows] == [
            ("first", "سبب", {}),
            ("second", None, {}),
            ("third", None, {"extra": "تفصيل"}),
        ]


def test_an_error_in_the_block_writes_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as session, deferred.writes_at_end(session):
        audit.record(session, "lost with its transaction")
        raise RuntimeError("the chunk failed")
    with db.read_session() as session:
        assert _actions(session) == []


def test_outside_a_block_an_insert_runs_at_once(db: Database) -> None:
    with db.session() as session:
        audit.record(session, "now")
        assert _actions(session) == ["now"]
