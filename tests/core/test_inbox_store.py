"""The inbox's group store: one INSERT for several requests, each request told what was new."""

from __future__ import annotations

from sqlalchemy import func, select

from connectors.base import EventKind, InboundEvent
from ticket_core.db import Database
from ticket_core.inbox import store_event_groups, store_events
from ticket_core.models import InboxEvent, InboxStatus


def _event(event_id: str, text: str = "متى تنزل المكافأة؟", kind: EventKind = EventKind.MESSAGE) -> InboundEvent:
    return InboundEvent(
        channel="portal",
        account_ref="portal",
        event_id=event_id,
        kind=kind,
        user_ref="u-1",
        thread_ref="u-1",
        text=text,
        raw={"event_id": event_id, "text": text},
    )


def test_each_request_learns_which_of_its_events_were_new(db: Database) -> None:
    with db.session() as session:
        [earlier] = store_events(session, [_event("e-1")])
    assert earlier.inbox_id is not None and earlier.needs_processing
    with db.session() as session:
        first, second, third = store_event_groups(
            session,
            [
                [_event("e-1"), _event("e-2")],  # e-1 is a platform's redelivery
                [_event("e-2")],  # the same event again, in the same group commit
                [_event("e-3"), _event("r-1", kind=EventKind.STATUS)],
            ],
        )
    assert [s.duplicate for s in first] == [True, False]
    assert [s.duplicate for s in second] == [True]
    assert [s.duplicate for s in third] == [False, False]
    assert first[1].needs_processing and third[0].needs_processing
    assert not third[1].needs_processing  # a read receipt is stored, as ignored
    with db.read_session() as session:
        rows = {r.event_id: r.status for r in session.execute(select(InboxEvent.event_id, InboxEvent.status))}
        assert session.scalar(select(func.count()).select_from(InboxEvent)) == 4
    assert rows == {
        "e-1": InboxStatus.PENDING,
        "e-2": InboxStatus.PENDING,
        "e-3": InboxStatus.PENDING,
        "r-1": InboxStatus.IGNORED,
    }
    ids = {s.inbox_id for group in (first, second, third) for s in group if s.inbox_id is not None}
    assert len(ids) == 3 and earlier.inbox_id not in ids


def test_an_empty_group_commit_stores_nothing(db: Database) -> None:
    with db.session() as session:
        assert store_event_groups(session, [[], []]) == [[], []]
