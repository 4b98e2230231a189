"""Urgent-safety triage: a message that signals danger reaches the protection unit in minutes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bots.safety import SupportLine, SupportLines
from connectors.base import EventKind, InboundEvent
from tests.ticketing.conftest import Desk
from ticket_core import actions, escalation, reports
from ticket_core.inbox import store_events
from ticket_core.models import AuditEvent, Conversation, Notification, OutboxMessage, Ticket, utcnow

DANGER = "أبغى أموت، ما عاد أتحمل التنمر في المدرسة"


@dataclasses.dataclass(frozen=True)
class _Urgent:
    """The real analysis with the urgent-safety signal set (the detector is tested in tests/nlu)."""

    inner: Any
    urgency: str = "urgent"
    urgency_reason: str = "self-harm"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def urgent_desk(desk: Desk) -> Desk:
    real = desk.runtime.pipeline.analyse_many

    def analyse_many(texts: list[str]) -> list[Any]:
        return [_Urgent(a) if t == DANGER else a for t, a in zip(texts, real(texts), strict=True)]

    desk.runtime.pipeline.analyse_many = analyse_many  # type: ignore[assignment]
    return desk


def send(desk: Desk, user: str, text: str, n: int) -> list[OutboxMessage]:
    event = InboundEvent(
        "telegram", "acct", f"{user}-{n}", EventKind.MESSAGE, thread_ref=user, user_ref=user, text=text
    )
    with desk.db.session() as session:
        [stored] = store_events(session, [event])
    outcome = desk.runtime.pipeline.process(stored.inbox_id or 0)
    with desk.db.read_session() as session:
        return list(session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(outcome.outbox_ids))).scalars())


def latest(desk: Desk, user: str) -> Ticket:
    with desk.db.read_session() as session:
        return session.execute(
            select(Ticket)
            .join(Conversation, Conversation.id == Ticket.conversation_id)
            .where(Conversation.thread_ref == user)
            .order_by(Ticket.id.desc())
            .limit(1)
        ).scalar_one()


def test_a_danger_message_opens_an_urgent_ticket_in_the_protection_unit_and_alerts_its_staff(urgent_desk: Desk) -> None:
    [reply] = send(urgent_desk, "s1", DANGER, 1)
    ticket = latest(urgent_desk, "s1")
    assert ticket.priority == "urgent" and urgent_desk.unit_key_of(ticket.unit_id) == "student-protection"
    assert timedelta(minutes=55) < ticket.due_at - ticket.created_at <= timedelta(hours=1)  # clock hours, not days
    assert ticket.assignee_id is not None
    assert "مختص في حماية الطلاب" in reply.text and ticket.number in reply.text
    assert "فاتصل بالطوارئ" in reply.text  # no verified line yet: never an invented number
    assert "هل أفادتك الإجابة" not in reply.text  # never an FAQ answer
    with urgent_desk.db.read_session() as session:
        told = set(session.execute(select(Notification.user_id).where(Notification.kind == "urgent")).scalars())
    expected = {urgent_desk.user_id(u) for u in ("student-protection.head", "student-protection.supervisor1")}
    assert expected <= told and len(told) >= 3  # head, supervisor and the coordinators on duty


def test_verified_support_lines_are_given_with_their_numbers(urgent_desk: Desk) -> None:
    urgent_desk.runtime.pipeline.safety = SupportLines(
        (
            SupportLine("child", "خط مساندة الطفل", "Child line", "116111", True),
            SupportLine("x", "س", "X", "<<fill in>>", False),
        )
    )
    [reply] = send(urgent_desk, "s2", DANGER, 1)
    assert "خط مساندة الطفل: 116111" in reply.text and "<<fill in>>" not in reply.text


def test_danger_is_handled_even_while_a_coordinator_owns_the_chat_and_raises_the_open_ticket(urgent_desk: Desk) -> None:
    send(urgent_desk, "s3", "ولدي يتعرض للتنمر في المدرسة والإدارة ما سوت شي", 1)
    first = latest(urgent_desk, "s3")
    with urgent_desk.db.session() as session:
        ticket = session.get(Ticket, first.id)
        assert ticket is not None
        actions.take_over(session, ticket, ticket.assignee_id or urgent_desk.user_id("central-care.coordinator1"))
    [reply] = send(urgent_desk, "s3", DANGER, 2)
    raised = latest(urgent_desk, "s3")
    assert raised.id == first.id and raised.priority == "urgent"
    assert urgent_desk.unit_key_of(raised.unit_id) == "student-protection" and "مختص" in reply.text
    with urgent_desk.db.read_session() as session:
        assert (
            session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "ticket.raised_urgent")
            ).scalar_one()
            == 1
        )


def test_an_urgent_ticket_escalates_when_its_hour_passes_even_on_a_friday_night(urgent_desk: Desk) -> None:
    send(urgent_desk, "s4", DANGER, 1)
    ticket = latest(urgent_desk, "s4")
    ctx = urgent_desk.ctx
    later = ticket.due_at + timedelta(minutes=1)
    with urgent_desk.db.session() as session:
        assert escalation.sweep(session, ladder=ctx.ladder, policy=ctx.policy, calendar=ctx.calendar, now=later) == 1
    after = latest(urgent_desk, "s4")
    assert after.escalation_level == 1 and after.assignee_id == urgent_desk.user_id("student-protection.head")
    assert after.due_at == later + ctx.policy.urgent_escalation  # clock hours again, not working days


def test_reports_count_urgent_tickets_per_sector_without_personal_data(urgent_desk: Desk) -> None:
    send(urgent_desk, "s5", DANGER, 1)
    period = reports.Period(utcnow() - timedelta(days=1), utcnow() + timedelta(days=1))
    with urgent_desk.db.read_session() as session:
        data = reports.report(session, period, urgent_desk.runtime.org(), now=utcnow())
    urgent = data["urgent"]
    assert sum(s["tickets"] for s in urgent["by_sector"].values()) == 1
    assert DANGER not in str(urgent) and "s5" not in str(urgent)


def test_support_lines_file_ships_placeholders_only(tmp_path: Path) -> None:
    from bots.safety import SupportLines as Lines

    shipped = Lines.from_file(Path(__file__).resolve().parents[2] / "data" / "support_lines.yml")
    assert shipped.lines and shipped.verified == () and shipped.block("ar") == ""
