"""Routing rules in data, assignment inside a unit, objections from any channel, ratings and review."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from connectors.base import EventKind, InboundEvent
from router.routing import RoutingFileError, RoutingTable
from tests.ticketing.conftest import Desk
from ticket_core import actions, assignment, identities, objections, quality
from ticket_core.inbox import store_events
from ticket_core.models import (
    Beneficiary,
    OutboxMessage,
    QualityReview,
    Ticket,
    TicketStatus,
    User,
    utcnow,
)
from ticket_core.org import read_org_file

DATA = Path(__file__).resolve().parents[2] / "data"


@dataclass(frozen=True)
class E:
    type: str
    value: str
    start: int = 0


# --- routing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category", "entities", "unit", "rule"),
    [
        (
            "مكافأتي في جامعة الملك سعود ما نزلت",
            "complaint",
            [E("university", "university:ksu")],
            "university-ksu",
            "named-university",
        ),
        ("كم تاخذ معادلة شهادتي الجامعية من الأردن؟", "inquiry", [], "gd-equivalency", "fixed-service"),
        (
            "ابي انقل ولدي من مدرسة في الخرج",
            "inquiry",
            [E("governorate", "governorate:al-kharj", 20)],
            "edu-al-kharj",
            "regional-service-with-place",
        ),
        ("ابي انقل ولدي لمدرسة ثانية", "inquiry", [], "gd-student-affairs", "service-fallback"),
        (
            "المدرسة في جدة ما فيها مكيفات",
            "complaint",
            [E("region", "region:makkah", 0), E("governorate", "governorate:jeddah", 12)],
            "edu-jeddah",
            None,
        ),
        ("ما عندي شي محدد بس ودي أشكركم", "suggestion", [], "central-care", "default"),
    ],
)
def test_rules_in_data_pick_the_unit(
    desk: Desk, text: str, category: str, entities: list[E], unit: str, rule: str | None
) -> None:
    route = desk.runtime.router.route(category=category, entities=entities, text=text)
    assert route.unit.key == unit
    if rule:
        assert route.rule == rule


def test_the_most_specific_place_wins(desk: Desk) -> None:
    route = desk.runtime.router.route(
        category="complaint",
        entities=[E("region", "region:riyadh", 0), E("education_department", "education_department:al-kharj", 30)],
        text="مشكلة في مدرسة",
    )
    assert route.unit.key == "edu-al-kharj" and route.entity == "education_department:al-kharj"


def test_urgent_messages_go_to_the_protection_unit_first(desk: Desk) -> None:
    route = desk.runtime.router.route(
        category="complaint", entities=[E("university", "university:ksu")], text="x", urgent=True
    )
    assert route.unit.key == "student-protection" and route.rule == "urgent-safety"


def test_a_broken_rule_file_names_the_rule(tmp_path: Path) -> None:
    bad = tmp_path / "routing.yml"
    bad.write_text(
        "rules:\n  - name: r1\n    when: {colour: red}\n    to: central-care\ndefault: central-care\n", encoding="utf-8"
    )
    with pytest.raises(RoutingFileError) as exc:
        RoutingTable.from_files(
            bad, DATA / "services.yml", [node["key"] for node, _ in read_org_file(DATA / "org.yml")]
        )
    assert "rule 'r1'" in str(exc.value) and "colour" in str(exc.value)


# --- assignment ------------------------------------------------------------------------------------


def _load(desk: Desk, username: str) -> int:
    with desk.db.read_session() as session:
        return assignment.open_load(session, desk.user_id(username))


def test_least_loaded_coordinator_gets_the_ticket_round_robin_on_ties(desk: Desk) -> None:
    people = ["university-ksu.coordinator1", "university-ksu.coordinator2", "university-ksu.coordinator3"]
    numbers = [desk.open("university-ksu") for _ in range(6)]
    assert [_load(desk, p) for p in people] == [2, 2, 2]
    first_three = [desk.ticket(n).assignee_id for n in numbers[:3]]
    assert len(set(first_three)) == 3  # nobody got two before everyone had one


def test_the_cap_holds_and_the_backlog_is_handed_out_when_capacity_frees(desk: Desk) -> None:
    with desk.db.session() as session:
        session.execute(update(table_units()).where(table_units().c.key == "edu-al-kharj").values(coordinator_cap=1))
    numbers = [desk.open("edu-al-kharj") for _ in range(3)]
    assert [desk.ticket(n).assignee_id is None for n in numbers] == [False, False, True]
    with desk.db.session() as session:  # one coordinator answers a ticket: a slot frees
        ticket = session.execute(select(Ticket).where(Ticket.number == numbers[0])).scalar_one()
        actions.answer(session, ticket, ticket.assignee_id or 0, desk.ctx)
    with desk.db.session() as session:
        assert assignment.assign_backlog(session) == 1
    assert desk.ticket(numbers[2]).assignee_id is not None


def table_units():  # type: ignore[no-untyped-def]
    from ticket_core.models import Unit, table

    return table(Unit)


def test_going_off_duty_hands_open_tickets_to_colleagues(desk: Desk) -> None:
    numbers = [desk.open("university-ksu") for _ in range(3)]
    leaver = desk.ticket(numbers[0]).assignee_id
    assert leaver is not None
    with desk.db.session() as session:
        moved = assignment.go_off_duty(session, leaver, actor="user:1")
    assert moved == 1
    assert all(desk.ticket(n).assignee_id != leaver for n in numbers)
    with desk.db.read_session() as session:
        assert session.execute(select(User.on_duty).where(User.id == leaver)).scalar_one() is False


# --- objections ------------------------------------------------------------------------------------


def test_an_objection_from_a_second_channel_reopens_the_ticket_one_level_up(desk: Desk) -> None:
    number = desk.open("university-ksu", user="tg-1", channel="telegram")
    with desk.db.session() as session:  # the citizen also writes from the portal; a coordinator links them
        portal = InboundEvent("portal", "default", "p-1", EventKind.MESSAGE, thread_ref="u-1", user_ref="u-1", text="x")
        contact = identities.resolve(session, portal, language="ar")
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        identities.link(session, ticket.beneficiary_id, contact.beneficiary_id, actor="user:1", reason="same phone")
        actions.answer(session, ticket, ticket.assignee_id or 0, desk.ctx)
    with desk.db.session() as session:
        contact = identities.resolve(session, portal, language="ar")
        ticket = objections.objectable_ticket(session, contact.beneficiary_id)
        assert ticket is not None and ticket.number == number
        rung = objections.object_to(session, ticket, desk.ctx, channel="portal")
    after = desk.ticket(number)
    assert rung.level == 1 and after.escalation_level == 1 and after.objection_count == 1
    assert after.status is TicketStatus.ESCALATED and after.assignee_id == desk.user_id("university-ksu.head")
    assert after.due_at > utcnow()
    # answered again at level 1, the citizen objects again from Telegram: it climbs further
    with desk.db.session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        actions.answer(session, ticket, ticket.assignee_id or 0, desk.ctx)
        objections.object_to(session, ticket, desk.ctx, channel="telegram")
    final = desk.ticket(number)
    assert final.escalation_level == 2 and desk.unit_key_of(final.unit_id) == "deputy-universities"
    assert final.objection_count == 2


def test_objections_are_refused_before_an_answer_and_after_the_window(desk: Desk) -> None:
    number = desk.open("university-ksu")
    with desk.db.session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        with pytest.raises(objections.ObjectionRefused) as exc:
            objections.object_to(session, ticket, desk.ctx, channel="telegram")
        assert exc.value.code == "no_answer"
        actions.answer(session, ticket, ticket.assignee_id or 0, desk.ctx)
        later = utcnow() + desk.ctx.policy.objection_window + (desk.ctx.policy.objection_window / 10)
        with pytest.raises(objections.ObjectionRefused) as exc:
            objections.object_to(session, ticket, desk.ctx, channel="telegram", now=later)
        assert exc.value.code == "window_closed"


# --- ratings and quality review --------------------------------------------------------------------


def test_a_low_rating_queues_a_review_and_a_send_back_reopens_the_ticket(desk: Desk) -> None:
    number = desk.open("university-ksu")
    reviewer = desk.user_id("university-ksu.supervisor1")
    with desk.db.session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        actions.answer(session, ticket, ticket.assignee_id or 0, desk.ctx)
        outcome = quality.record_rating(session, ticket, 1, channel="telegram", comment="ما حلوا شي", low_score=2)
        assert outcome.queued_for_review
        assert not quality.record_rating(
            session, ticket, 2, channel="telegram", comment=None, low_score=2
        ).queued_for_review
    with desk.db.session() as session:
        review_id = session.execute(select(QualityReview.id)).scalar_one()
        with pytest.raises(quality.ReviewError):
            quality.submit_review(session, review_id, reviewer, {"accuracy": 2}, comment=None, send_back=False)
        scores = dict.fromkeys(quality.RUBRIC, 2)
        quality.submit_review(
            session, review_id, reviewer, scores, comment="الرد ناقص، راجع شروط المكافأة", send_back=True
        )
    assert desk.ticket(number).status is TicketStatus.REOPENED


def test_sampling_for_review_follows_the_configured_rate(desk: Desk) -> None:
    numbers = [desk.open("central-care") for _ in range(40)]
    rng = random.Random(7)
    with desk.db.session() as session:
        ids = session.execute(select(Ticket.id).where(Ticket.number.in_(numbers))).scalars().all()
        sampled = sum(quality.maybe_sample(session, ticket_id, 0.25, rng) for ticket_id in ids)
    with desk.db.read_session() as session:
        queued = session.execute(select(func.count()).select_from(QualityReview)).scalar_one()
    assert sampled == queued and 3 <= queued <= 20  # about a quarter of 40, never all or none


# --- through the intake pipeline: a rating and an objection typed by the citizen ----------------


def test_citizen_rates_with_a_digit_and_objects_by_word_through_intake(desk: Desk) -> None:
    from router import followups

    pipeline = desk.runtime.pipeline
    first = InboundEvent(
        "telegram",
        "acct",
        "u1",
        EventKind.MESSAGE,
        thread_ref="777",
        user_ref="777",
        text="مكافأتي في جامعة الملك سعود ما نزلت من ثلاث شهور",
    )
    with desk.db.session() as session:
        [stored] = store_events(session, [first])
    number = pipeline.process(stored.inbox_id or 0).ticket_number
    with desk.db.session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        actions.answer(session, ticket, ticket.assignee_id or 0, desk.ctx)
        followups.after_answer(session, ticket, desk.runtime.replies, desk.ctx.policy)
    events = [
        InboundEvent("telegram", "acct", "u2", EventKind.MESSAGE, thread_ref="777", user_ref="777", text="٢"),
        InboundEvent(
            "telegram",
            "acct",
            "u3",
            EventKind.MESSAGE,
            thread_ref="777",
            user_ref="777",
            text="اعتراض، الرد ما حل مشكلتي",
        ),
        InboundEvent("telegram", "acct", "u4", EventKind.MESSAGE, thread_ref="777", user_ref="777", text="نعم"),
    ]
    with desk.db.session() as session:
        ids = [s.inbox_id for s in store_events(session, events)]
    for inbox_id in ids:
        pipeline.process(inbox_id or 0)
    with desk.db.read_session() as session:
        texts = session.execute(select(OutboxMessage.text).order_by(OutboxMessage.id)).scalars().all()
        reviews = session.execute(
            select(func.count()).select_from(QualityReview).where(QualityReview.reason == "low_csat")
        ).scalar_one()
        citizen = session.execute(select(func.count()).select_from(Beneficiary)).scalar_one()
    assert "كيف تقيّم الخدمة" in texts[1]  # the rating question
    assert "نأسف" in texts[2] and reviews == 1  # a 2 is low: apology and a review
    assert "هل تريد الاعتراض" in texts[3] and number in texts[3]  # confirm first: it escalates
    assert "تم تسجيل اعتراضك" in texts[4] and number in texts[4]
    assert desk.ticket(number).escalation_level == 1 and citizen == 1


def test_a_phone_the_platform_vouches_for_links_a_new_channel_to_the_same_person(desk: Desk) -> None:
    whatsapp = InboundEvent(
        "whatsapp",
        "pn-1",
        "wamid.1",
        EventKind.MESSAGE,
        thread_ref="966551234567",
        user_ref="966551234567",
        phone="966551234567",
        text="x",
    )
    portal = InboundEvent(
        "portal", "default", "p-9", EventKind.MESSAGE, thread_ref="u-9", user_ref="u-9", phone="0551234567", text="x"
    )
    stranger = InboundEvent(
        "portal", "default", "p-10", EventKind.MESSAGE, thread_ref="u-10", user_ref="u-10", phone="0559999999", text="x"
    )
    with desk.db.session() as session:
        first = identities.resolve(session, whatsapp, language="ar")
        second = identities.resolve(session, portal, language="ar")
        third = identities.resolve(session, stranger, language="ar")
    assert first.beneficiary_id == second.beneficiary_id != third.beneficiary_id
    with desk.db.read_session() as session:
        phone = session.execute(select(Beneficiary.phone).where(Beneficiary.id == first.beneficiary_id)).scalar_one()
    assert phone == "+966551234567"
