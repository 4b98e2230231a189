"""Multi-turn conversations with the bot, written as scripts (tests/bots/conversations/*.yml).

A script is a list of turns on one channel. Turn kinds:

    citizen: "text"            the citizen writes (optional `as: <citizen id>` for a second person)
    button: "payload"          the citizen presses a button with this payload
    press: "نعم"               the citizen presses the button with this title in the bot's last reply
    coordinator: takeover | reply | resolve | handback | note   (optional `text:`)
    clock: "2026-11-29T20:00:00+03:00"   the time the hub works at from now on
    objection_window_passes: true        the answer is older than the objection window

and expectations, checked after the turn:

    bot: ["substring", ...]    every substring appears in the bot's reply to this turn
    silent: true               the bot did not reply
    buttons: ["نعم", "لا"]      the reply carries these buttons (titles)
    state: human               the conversation's state afterwards
    ticket: new | same | none  whether the turn opened a ticket, added to the open one, or neither
    escalation_level: 1        of the citizen's latest ticket
    sent_by_coordinator: ["substring"]   a coordinator's message queued for the citizen
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, update

from connectors.base import EventKind, InboundEvent
from hub.runtime import Runtime
from tests.helpers import make_settings
from ticket_core import actions
from ticket_core.db import Database
from ticket_core.inbox import store_events
from ticket_core.models import Author, Conversation, OutboxMessage, Ticket, User, utcnow

SCRIPTS = sorted((Path(__file__).parent / "conversations").glob("*.yml"))
CASES = [
    pytest.param(script, id=f"{path.stem}:{script['name']}")
    for path in SCRIPTS
    for script in yaml.safe_load(path.read_text(encoding="utf-8"))
]


class Conversation_:
    """Drives one script against a real pipeline and database."""

    def __init__(self, runtime: Runtime, channel: str) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.channel = channel
        self.now: datetime | None = None
        self.ids = itertools.count(1)
        runtime.pipeline.clock = lambda: self.now or utcnow()

    def send(self, citizen: str, *, text: str = "", postback: str | None = None) -> list[int]:
        n = next(self.ids)
        event = InboundEvent(
            channel=self.channel,
            account_ref="acct",
            event_id=f"{citizen}-{n}",
            kind=EventKind.POSTBACK if postback else EventKind.MESSAGE,
            thread_ref=citizen,
            user_ref=citizen,
            user_display="مواطن",
            text=text,
            postback=postback,
            sent_at=self.now,
        )
        with self.db.session() as session:
            [stored] = store_events(session, [event])
        assert stored.inbox_id is not None
        outcome = self.runtime.pipeline.process(stored.inbox_id)
        assert outcome.status == "processed", outcome
        return outcome.outbox_ids

    def replies(self, outbox_ids: list[int]) -> list[OutboxMessage]:
        with self.db.read_session() as session:
            return list(
                session.execute(
                    select(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids)).order_by(OutboxMessage.id)
                ).scalars()
            )

    def latest_ticket(self, citizen: str) -> Ticket | None:
        with self.db.read_session() as session:
            return session.execute(
                select(Ticket)
                .join(Conversation, Conversation.id == Ticket.conversation_id)
                .where(Conversation.thread_ref == citizen)
                .order_by(Ticket.id.desc())
                .limit(1)
            ).scalar_one_or_none()

    def ticket_count(self) -> int:
        with self.db.read_session() as session:
            return session.execute(select(func.count()).select_from(Ticket)).scalar_one()

    def state(self, citizen: str) -> str:
        with self.db.read_session() as session:
            return str(
                session.execute(select(Conversation.state).where(Conversation.thread_ref == citizen)).scalar_one().value
            )

    def coordinator(self, citizen: str, action: str, text: str | None) -> list[OutboxMessage]:
        ctx = self.runtime.actions()
        with self.db.session() as session:
            ticket = session.execute(
                select(Ticket)
                .join(Conversation, Conversation.id == Ticket.conversation_id)
                .where(Conversation.thread_ref == citizen)
                .order_by(Ticket.id.desc())
                .limit(1)
            ).scalar_one()
            user_id = (
                ticket.assignee_id
                or session.execute(select(User.id).where(User.username == "central-care.coordinator1")).scalar_one()
            )
            before = session.execute(select(func.max(OutboxMessage.id))).scalar() or 0
            if action == "takeover":
                actions.take_over(session, ticket, user_id)
            elif action == "reply":
                actions.reply(session, ticket, user_id, text or "", ctx)
            elif action == "resolve":
                from router import followups

                actions.reply(session, ticket, user_id, text or "تمت معالجة طلبك.", ctx, resolve=True)
                session.flush()
                followups.after_answer(session, ticket, self.runtime.replies, ctx.policy)
            elif action == "handback":
                actions.hand_back(session, ticket, user_id)
            elif action == "note":
                actions.note(session, ticket, user_id, text or "")
            else:
                raise AssertionError(f"unknown coordinator action {action!r}")
        with self.db.read_session() as session:
            return list(
                session.execute(
                    select(OutboxMessage).where(OutboxMessage.id > before).order_by(OutboxMessage.id)
                ).scalars()
            )

    def age_answers(self) -> None:
        window = self.runtime.actions().policy.objection_window
        with self.db.session() as session:
            session.execute(
                update(Ticket)
                .where(Ticket.answered_at.is_not(None))
                .values(answered_at=utcnow() - window - timedelta(hours=1))
            )


def _fill(text: str, talk: Conversation_, citizen: str) -> str:
    """Replace {number}, {number:<citizen>} and {number_arabic} with real ticket numbers."""

    def number(who: str) -> str:
        ticket = talk.latest_ticket(who)
        assert ticket is not None, f"no ticket yet for {who}"
        return ticket.number

    for who in re.findall(r"\{number:([^}]+)\}", text):
        text = text.replace(f"{{number:{who}}}", number(who))
    if "{number_arabic}" in text:
        text = text.replace("{number_arabic}", number(citizen).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")))
    if "{number}" in text:
        text = text.replace("{number}", number(citizen))
    return text


@pytest.mark.parametrize("script", CASES)
def test_conversation(
    script: dict[str, Any], tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path
) -> None:
    runtime = Runtime(make_settings(tmp_path, db.url, secrets_, nlu_model_path), db=db)
    talk = Conversation_(runtime, script.get("channel", "telegram"))
    default_citizen = script.get("citizen", "c-1")
    last: list[OutboxMessage] = []
    for number, turn in enumerate(script["turns"], 1):
        where = f"{script['name']} turn {number}: {turn}"
        citizen = turn.get("as", default_citizen)
        tickets_before = talk.ticket_count()
        latest_before = talk.latest_ticket(citizen)
        replies: list[OutboxMessage] = []
        if "clock" in turn:
            talk.now = datetime.fromisoformat(turn["clock"])
        if turn.get("objection_window_passes"):
            talk.age_answers()
        if "citizen" in turn:
            replies = talk.replies(talk.send(citizen, text=_fill(turn["citizen"], talk, citizen)))
        elif "button" in turn:
            replies = talk.replies(talk.send(citizen, postback=turn["button"]))
        elif "press" in turn:
            offered = {b["title"]: b["payload"] for m in last for b in (m.content or {}).get("buttons", [])}
            assert turn["press"] in offered, f"{where}: no button {turn['press']!r} in the last reply ({list(offered)})"
            replies = talk.replies(talk.send(citizen, postback=offered[turn["press"]]))
        elif "coordinator" in turn:
            sent = talk.coordinator(citizen, turn["coordinator"], turn.get("text"))
            by_person = [m.text for m in sent if m.author is Author.COORDINATOR]
            for expected in turn.get("sent_by_coordinator", []):
                assert any(expected in t for t in by_person), (
                    f"{where}: coordinator message {expected!r} not queued in {by_person}"
                )
            replies = [m for m in sent if m.author is not Author.COORDINATOR]
        if replies:
            last = replies
        texts = "\n".join(m.text for m in replies)
        for expected in turn.get("bot", []):
            assert expected in texts, f"{where}: expected {expected!r} in the bot's reply:\n{texts}"
        for unexpected in turn.get("not", []):
            assert unexpected not in texts, f"{where}: did not expect {unexpected!r} in:\n{texts}"
        if turn.get("silent"):
            assert not replies, f"{where}: the bot should have stayed silent but said:\n{texts}"
        if "buttons" in turn:
            titles = [b["title"] for m in replies for b in (m.content or {}).get("buttons", [])]
            assert titles == turn["buttons"], f"{where}: buttons {titles}"
        if "state" in turn:
            assert talk.state(citizen) == turn["state"], f"{where}: state {talk.state(citizen)}"
        if "ticket" in turn:
            latest = talk.latest_ticket(citizen)
            opened = talk.ticket_count() > tickets_before
            if turn["ticket"] == "new":
                assert opened and latest is not None, f"{where}: no ticket opened"
                assert latest.number in texts, f"{where}: the reply does not give the ticket number {latest.number}"
            elif turn["ticket"] == "same":
                assert (
                    not opened and latest is not None and latest_before is not None and latest.id == latest_before.id
                ), f"{where}"
            else:
                assert not opened, f"{where}: a ticket was opened"
        if "escalation_level" in turn:
            latest = talk.latest_ticket(citizen)
            assert latest is not None and latest.escalation_level == turn["escalation_level"], f"{where}"
