"""A seeded service desk (the real org tree) with helpers to open tickets the way intake does."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.base import EventKind, InboundEvent
from hub.runtime import Runtime
from tests.helpers import make_settings
from ticket_core import assignment, identities, tickets
from ticket_core.actions import Context
from ticket_core.db import Database
from ticket_core.models import Ticket, Unit, User
from ticket_core.tickets import NewTicket, UnitRef

_ids = itertools.count(1)


@dataclass
class Desk:
    runtime: Runtime
    db: Database

    @property
    def ctx(self) -> Context:
        return self.runtime.actions()

    def unit(self, key: str) -> UnitRef:
        node = self.runtime.org().by_key[key]
        return UnitRef(node.id, node.key, node.name_ar, node.name_en, node.is_triage)

    def user_id(self, username: str) -> int:
        with self.db.read_session() as session:
            return session.execute(select(User.id).where(User.username == username)).scalar_one()

    def open(
        self,
        unit_key: str,
        *,
        user: str | None = None,
        channel: str = "telegram",
        category: str = "complaint",
        text: str = "تأخر صرف المكافأة",
        assign: bool = True,
        now: datetime | None = None,
    ) -> str:
        """Open a ticket in ``unit_key`` for citizen ``user`` (new citizen if None); returns its number."""
        n = next(_ids)
        user = user or f"citizen-{n}"
        event = InboundEvent(channel, "acct", f"evt-{n}", EventKind.MESSAGE, thread_ref=user, user_ref=user, text=text)
        with self.db.session() as session:
            contact = identities.resolve(session, event, language="ar")
            view = tickets.open_ticket(
                session,
                contact,
                self.unit(unit_key),
                NewTicket(category=category, language="ar", subject=text),
                calendar=self.ctx.calendar,
                working_days=5,
            )
            if now is not None:
                ticket = session.get(Ticket, view.id)
                assert ticket is not None
                ticket.created_at = now
                ticket.first_due_at = ticket.due_at = self.ctx.calendar.add_working_days(now, 5)
            if assign:
                assignment.assign(session, view.id, view.unit.id)
        return view.number

    def ticket(self, number: str) -> Ticket:
        with self.db.read_session() as session:
            ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            session.expunge(ticket)
            return ticket

    def unit_key_of(self, unit_id: int) -> str:
        with self.db.read_session() as session:
            return session.execute(select(Unit.key).where(Unit.id == unit_id)).scalar_one()


@pytest.fixture
def desk(tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path) -> Iterator[Desk]:
    runtime = Runtime(make_settings(tmp_path, db.url, secrets_, nlu_model_path), db=db)
    yield Desk(runtime, db)
