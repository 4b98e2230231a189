"""Reports against a small, hand-counted set of tickets."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.ticketing.conftest import Desk
from ticket_core import reports
from ticket_core.models import CsatRating, Ticket, TicketStatus

RIYADH = ZoneInfo("Asia/Riyadh")
SUNDAY = datetime(2026, 11, 1, 9, 0, tzinfo=RIYADH)


def _edit(desk: Desk, number: str, **values: object) -> None:
    with desk.db.session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        for key, value in values.items():
            setattr(ticket, key, value)


def test_the_report_matches_hand_counts(desk: Desk) -> None:
    # Five tickets opened on Sunday 1 Nov 2026, 09:00 Riyadh (due Sunday 8 Nov, 09:00):
    #   A  ksu,   complaint,  telegram  answered Tue 3 Nov 09:00 (on time: 48 working h), rated 5
    #   B  ksu,   inquiry,    portal    answered Thu 12 Nov (late: after the due time), objected, rated 1
    #   C  kau,   complaint,  telegram  still open, past due           -> a breach
    #   D  kharj, suggestion, telegram  still open, not yet due (as of 5 Nov) -> not judged
    #   E  kharj, complaint,  portal    cancelled
    a = desk.open("university-ksu", category="complaint", channel="telegram", now=SUNDAY)
    b = desk.open("university-ksu", category="inquiry", channel="portal", now=SUNDAY)
    desk.open("university-kau", category="complaint", channel="telegram", now=SUNDAY)
    desk.open("edu-al-kharj", category="suggestion", channel="telegram", now=SUNDAY)
    e = desk.open("edu-al-kharj", category="complaint", channel="portal", now=SUNDAY)
    tue = SUNDAY + timedelta(days=2)
    thu_next = SUNDAY + timedelta(days=11)
    _edit(
        desk,
        a,
        first_response_at=tue,
        answered_at=tue,
        status=TicketStatus.ANSWERED,
        first_response_working_h=48.0,
        resolution_working_h=48.0,
    )
    _edit(
        desk,
        b,
        first_response_at=thu_next,
        answered_at=thu_next,
        status=TicketStatus.ESCALATED,
        first_response_working_h=168.0,
        resolution_working_h=168.0,
        objection_count=1,
        escalation_level=1,
    )
    _edit(desk, e, status=TicketStatus.CANCELLED)
    with desk.db.session() as session:
        ids = dict(session.execute(select(Ticket.number, Ticket.id).where(Ticket.number.in_([a, b]))).all())
        session.add_all(
            [
                CsatRating(ticket_id=ids[a], score=5, channel="telegram", created_at=tue),
                CsatRating(ticket_id=ids[b], score=1, channel="portal", created_at=thu_next),
            ]
        )
    now = SUNDAY + timedelta(days=14)  # Sunday 15 Nov: C is past due, D... also past due by then
    period = reports.Period(SUNDAY - timedelta(days=1), SUNDAY + timedelta(days=30))
    with desk.db.read_session() as session:
        data = reports.report(session, period, desk.runtime.org(), now=now)
    totals = data["totals"]
    # judged = responded (A, B) + unanswered past due and not cancelled (C, D) = 4; on time: A only
    assert totals["tickets"] == 5 and totals["responded"] == 2
    assert totals["sla_met"] == 1 and totals["sla_breached"] == 3 and totals["sla_compliance"] == 0.25
    assert totals["objected"] == 1 and totals["objection_rate"] == 0.5 and totals["escalated"] == 1
    assert data["by_category"] == {"complaint": 3, "inquiry": 1, "suggestion": 1}
    assert data["by_channel"] == {"telegram": 3, "portal": 2}
    assert data["by_unit"] == {"university-ksu": 2, "university-kau": 1, "edu-al-kharj": 2}
    assert data["by_level"] == {"0": 4, "1": 1}
    assert data["median_first_response_working_h"] == 108.0  # median of 48 and 168
    assert data["csat"] == {"ratings": 2, "average": 3.0, "distribution": {"1": 1, "2": 0, "3": 0, "4": 0, "5": 1}}
    assert [row["total"] for row in data["by_day"]] == [5]
    sectors = data["top_topics_by_sector"]
    assert sectors["deputy-universities"][0] == {"topic": "complaint", "tickets": 2}
    assert sectors["deputy-general-education"] == [
        {"topic": "complaint", "tickets": 1},
        {"topic": "suggestion", "tickets": 1},
    ]
    csv_text = reports.to_csv(data)
    assert "totals,sla_compliance,0.25" in csv_text and "by_unit,university-ksu,2" in csv_text


def test_a_report_can_be_limited_to_units(desk: Desk) -> None:
    desk.open("university-ksu", now=SUNDAY)
    desk.open("university-kau", now=SUNDAY)
    tree = desk.runtime.org()
    period = reports.Period(SUNDAY - timedelta(days=1), SUNDAY + timedelta(days=1))
    with desk.db.read_session() as session:
        data = reports.report(session, period, tree, now=SUNDAY, unit_ids=frozenset({tree.by_key["university-ksu"].id}))
    assert data["totals"]["tickets"] == 1 and data["by_unit"] == {"university-ksu": 1}
