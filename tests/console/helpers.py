"""Helpers for the console tests: open tickets straight into a unit, and a month of history for charts."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from connectors.base import EventKind, InboundEvent
from ticket_core import assignment, identities, tickets
from ticket_core.calendar import load_calendar
from ticket_core.db import Database
from ticket_core.models import Author, CsatRating, Direction, Message, QualityReview, Ticket, TicketStatus, Unit, utcnow
from ticket_core.tickets import NewTicket, UnitRef

REPO = Path(__file__).resolve().parents[2]
CALENDAR = load_calendar(REPO / "data" / "calendar.yml")
_ids = itertools.count(1)


def open_ticket(
    db: Database,
    unit_key: str,
    *,
    text: str = "تأخر صرف المكافأة",
    channel: str = "telegram",
    category: str = "complaint",
    user: str | None = None,
    name: str | None = None,
    created: datetime | None = None,
    record_message: bool = True,
) -> str:
    """A ticket in ``unit_key`` for a new (or the given) citizen, with their message in the timeline."""
    n = next(_ids)
    user = user or f"console-citizen-{n}-{random.randrange(10**9)}"
    event = InboundEvent(
        channel,
        "acct",
        f"console-evt-{n}-{random.randrange(10**9)}",
        EventKind.MESSAGE,
        thread_ref=user,
        user_ref=user,
        user_display=name,
        text=text,
    )
    with db.session() as session:
        unit = session.execute(select(Unit).where(Unit.key == unit_key)).scalar_one()
        contact = identities.resolve(session, event, language="ar")
        view = tickets.open_ticket(
            session,
            contact,
            UnitRef(unit.id, unit.key, unit.name_ar, unit.name_en, unit.is_triage),
            NewTicket(category=category, language="ar", subject=text),
            calendar=CALENDAR,
            working_days=5,
        )
        if record_message:
            session.add(
                Message(
                    conversation_id=contact.conversation_id,
                    ticket_id=view.id,
                    direction=Direction.IN,
                    author=Author.CITIZEN,
                    text=text,
                    language="ar",
                    created_at=created or utcnow(),
                )
            )
        ticket = session.get(Ticket, view.id)
        assert ticket is not None
        if created is not None:
            ticket.created_at = created
            ticket.first_due_at = ticket.due_at = CALENDAR.add_working_days(created, 5)
        session.flush()
        assignment.assign(session, view.id, unit.id)
    return view.number


def seed_history(db: Database, unit_key: str, *, days: int = 30, count: int = 90, seed: int = 7) -> list[str]:
    """``count`` tickets spread over the last ``days`` days with answers, ratings, escalations and
    objections, so the dashboard has something to draw; three low ratings wait for a quality review."""
    rng = random.Random(seed)
    now = utcnow()
    categories = ["inquiry", "complaint", "inquiry", "consultation", "suggestion"]
    channels = ["telegram", "portal", "whatsapp", "instagram", "snapchat", "telegram"]
    numbers = []
    for i in range(count):
        created = now - timedelta(days=rng.uniform(0.2, days - 0.5))
        numbers.append(
            open_ticket(
                db,
                unit_key,
                text=f"طلب رقم {i} بخصوص الخدمة",
                channel=channels[i % len(channels)],
                category=categories[i % len(categories)],
                created=created,
                record_message=False,
            )
        )
    reviews = 0
    with db.session() as session:
        for number in numbers:
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            if rng.random() < 0.8:
                hours = rng.lognormvariate(3.0, 0.8)
                ticket.first_response_at = ticket.created_at + timedelta(hours=hours)
                ticket.first_response_working_h = round(hours / 3.4, 2)
                ticket.answered_at = ticket.first_response_at
                ticket.resolution_working_h = round(hours / 3.0, 2)
                ticket.status = TicketStatus.CLOSED if rng.random() < 0.7 else TicketStatus.ANSWERED
                if rng.random() < 0.08:
                    ticket.objection_count = 1
                if rng.random() < 0.35:
                    score = rng.choice([1, 2, 3, 4, 4, 5, 5, 5])
                    session.add(
                        CsatRating(
                            ticket_id=ticket.id,
                            score=score,
                            channel=ticket.channel,
                            created_at=min(now, ticket.first_response_at + timedelta(hours=2)),
                        )
                    )
                    if score <= 2 and reviews < 3:
                        session.add(QualityReview(ticket_id=ticket.id, reason="low_csat", status="pending"))
                        reviews += 1
            if rng.random() < 0.15:
                ticket.escalation_level = rng.choice([1, 1, 2, 3])
    return numbers
