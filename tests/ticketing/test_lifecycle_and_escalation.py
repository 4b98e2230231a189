"""Lifecycle table, escalation ladder walked to the minister, concurrent sweeps, SLA pause."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.ticketing.conftest import Desk
from ticket_core import actions, escalation, lifecycle
from ticket_core.lifecycle import TRANSITIONS, IllegalTransition
from ticket_core.models import AuditEvent, Notification, Ticket, TicketStatus, utcnow

RIYADH = ZoneInfo("Asia/Riyadh")
S = TicketStatus


# --- the state machine --------------------------------------------------------------------------


class _FakeTicket:
    """Just enough of a ticket for lifecycle.move (the property test runs thousands of steps)."""

    def __init__(self) -> None:
        self.id = 1
        self.number = "2026-000001"
        self.conversation_id = 1
        self.status = S.NEW
        self.first_response_at: datetime | None = None
        self.answered_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.updated_at: datetime | None = None


class _RecordingSession:
    def __init__(self) -> None:
        self.audits = 0
        self.info: dict[str, object] = {}  # as a Session's: no deferred-insert block is open

    def connection(self) -> _RecordingSession:
        return self

    def execute(self, *_args: object, **_kwargs: object) -> None:
        self.audits += 1


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(list(S)), max_size=25))
def test_any_sequence_of_requests_follows_the_table_and_audits_every_move(wanted: list[TicketStatus]) -> None:
    ticket, session = _FakeTicket(), _RecordingSession()
    moves = 0
    for target in wanted:
        before = ticket.status
        if target in TRANSITIONS[before]:
            lifecycle.move(session, ticket, target, actor="test")  # type: ignore[arg-type]
            moves += 1
            assert ticket.status is target
        else:
            with pytest.raises(IllegalTransition):
                lifecycle.move(session, ticket, target, actor="test")  # type: ignore[arg-type]
            assert ticket.status is before  # a refused move changes nothing
        if ticket.status is S.ANSWERED:
            assert ticket.answered_at is not None and ticket.first_response_at is not None
    assert session.audits == moves


def test_cancelled_is_final_and_the_error_says_what_is_allowed() -> None:
    ticket, session = _FakeTicket(), _RecordingSession()
    lifecycle.move(session, ticket, S.CANCELLED, actor="t")  # type: ignore[arg-type]
    with pytest.raises(IllegalTransition) as exc:
        lifecycle.move(session, ticket, S.ASSIGNED, actor="t")  # type: ignore[arg-type]
    assert "nothing (final state)" in str(exc.value)
    with pytest.raises(IllegalTransition) as exc:
        lifecycle.move(session, _FakeTicket(), S.CLOSED, actor="t")  # type: ignore[arg-type]
    assert "cannot go from new to closed" in str(exc.value)


def test_the_table_matches_the_agreed_lifecycle() -> None:
    assert S.CLOSED in TRANSITIONS[S.ANSWERED] and S.OBJECTED in TRANSITIONS[S.ANSWERED]
    assert TRANSITIONS[S.OBJECTED] == {S.ESCALATED, S.REOPENED}
    assert TRANSITIONS[S.CANCELLED] == frozenset()
    assert all(S.ESCALATED in TRANSITIONS[s] for s in (S.NEW, S.ASSIGNED, S.IN_PROGRESS, S.ESCALATED, S.REOPENED))
    assert "answered -> closed, objected, reopened" in lifecycle.describe()


# --- the ladder ------------------------------------------------------------------------------------


def _sweep(desk: Desk, now: datetime) -> int:
    ctx = desk.ctx
    with desk.db.session() as session:
        return escalation.sweep(session, ladder=ctx.ladder, policy=ctx.policy, calendar=ctx.calendar, now=now)


def test_a_breached_ticket_climbs_to_the_minister_and_stops_there(desk: Desk) -> None:
    start = datetime(2026, 11, 22, 9, 0, tzinfo=RIYADH)  # a Sunday
    number = desk.open("edu-al-kharj", now=start)
    ticket = desk.ticket(number)
    assert ticket.escalation_level == 0 and ticket.assignee_id is not None
    expected = [
        (1, "edu-al-kharj", "edu-al-kharj.head"),
        (2, "edu-riyadh", "edu-riyadh.head"),
        (3, "deputy-general-education", "deputy-general-education.head"),
        (4, "minister", "minister.head"),
    ]
    clock = start
    for level, unit_key, head in expected:
        clock = desk.ticket(number).due_at + timedelta(minutes=1)  # one minute past due
        assert _sweep(desk, clock) == 1
        ticket = desk.ticket(number)
        assert (ticket.escalation_level, desk.unit_key_of(ticket.unit_id)) == (level, unit_key)
        assert ticket.assignee_id == desk.user_id(head)
        assert ticket.status is S.ESCALATED and ticket.due_at > clock
        days = desk.ctx.policy.days_for_level(level)
        assert ticket.due_at == desk.ctx.calendar.add_working_days(clock, days)  # correct to the minute
    # With the minister: overdue, but never escalated further.
    clock = desk.ticket(number).due_at + timedelta(days=30)
    assert _sweep(desk, clock) == 0
    assert desk.ticket(number).escalation_level == 4
    with desk.db.read_session() as session:
        assert escalation.overdue_at_top(session, ladder=desk.ctx.ladder, now=clock) == 1
        events = session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "ticket.escalated")
        ).scalar_one()
        told = session.execute(select(Notification.user_id).where(Notification.kind == "escalated")).scalars().all()
    assert events == 4
    assert told == [desk.user_id(h) for _, _, h in expected]


def test_a_ticket_not_yet_due_is_left_alone(desk: Desk) -> None:
    number = desk.open("university-ksu")
    assert _sweep(desk, utcnow()) == 0
    assert desk.ticket(number).escalation_level == 0


def test_a_paused_ticket_does_not_breach_and_gets_its_time_back(desk: Desk) -> None:
    start = datetime(2026, 11, 22, 9, 0, tzinfo=RIYADH)  # Sunday
    number = desk.open("university-ksu", now=start)
    with desk.db.session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        actions.pause(session, ticket, None, desk.ctx, now=start + timedelta(days=1))  # Monday 09:00
    assert _sweep(desk, start + timedelta(days=30)) == 0
    resumed_at = datetime(2026, 12, 6, 9, 0, tzinfo=RIYADH)  # two weeks later, a Sunday
    with desk.db.session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        actions.resume(session, ticket, desk.ctx, now=resumed_at)
    # Four working days were left when it paused (Mon 09:00 -> Sun 09:00 next week): due Thursday 09:00.
    assert desk.ticket(number).due_at == datetime(2026, 12, 10, 9, 0, tzinfo=RIYADH)


def test_escalation_by_hand_and_at_the_top_is_refused(desk: Desk) -> None:
    number = desk.open("minister")
    with desk.db.session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        rung = actions.escalate_by_hand(
            session, ticket, desk.user_id("minister.coordinator1"), desk.ctx, reason="sensitive"
        )
        assert rung.level == 1
        with pytest.raises(escalation.AtTopOfLadder):
            actions.escalate_by_hand(session, ticket, desk.user_id("minister.coordinator1"), desk.ctx, reason="again")


def test_concurrent_sweeps_escalate_each_ticket_exactly_once(desk: Desk) -> None:
    start = datetime(2026, 11, 22, 9, 0, tzinfo=RIYADH)
    numbers = [desk.open("edu-riyadh", now=start) for _ in range(30)]
    now = start + timedelta(days=30)
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait()
            results.append(_sweep(desk, now))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(results) == 30
    assert {desk.ticket(n).escalation_level for n in numbers} == {1}
    with desk.db.read_session() as session:
        events = session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "ticket.escalated")
        ).scalar_one()
    assert events == 30
