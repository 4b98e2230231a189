"""The Rasa action server, driven with the request format rasa-sdk receives from a Rasa server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

rasa_sdk = pytest.importorskip("rasa_sdk", reason="the [rasa] extra (rasa-sdk) is not installed")

from rasa_sdk.executor import ActionExecutor  # noqa: E402

from hub import rasa_actions  # noqa: E402
from hub.runtime import Runtime  # noqa: E402
from tests.helpers import make_settings  # noqa: E402
from ticket_core import actions  # noqa: E402
from ticket_core.db import Database  # noqa: E402
from ticket_core.models import Conversation, ConversationState, OutboxMessage, OutboxStatus, Ticket  # noqa: E402

DOMAIN: dict[str, Any] = {
    "slots": {"ticket_number": {"type": "text", "mappings": [{"type": "custom"}]}},
    "actions": [
        "action_tawasul_create_ticket",
        "action_tawasul_ticket_status",
        "action_tawasul_object",
        "action_tawasul_handoff",
    ],
    "intents": ["complaint", "inquiry", "objection", "handoff", "ticket_status"],
    "responses": {},
}


def call(
    action: str, sender: str, text: str, *, intent: str | None = None, number: str | None = None
) -> dict[str, Any]:
    """A request as Rasa 3.x posts it to the action server's /webhook."""
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": DOMAIN,
        "tracker": {
            "sender_id": sender,
            "slots": {"ticket_number": number},
            "latest_message": {
                "text": text,
                "intent": {"name": intent or "", "confidence": 0.93},
                "entities": [],
                "message_id": f"msg-{abs(hash((sender, text))) % 10**9}",
            },
            "latest_event_time": 1764000000.0,
            "followup_action": None,
            "paused": False,
            "events": [{"event": "user", "text": text, "timestamp": 1764000000.0}],
            "latest_input_channel": "rest",
            "active_loop": {},
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        },
    }


@pytest.fixture
def runtime(tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path) -> Iterator[Runtime]:
    rt = Runtime(make_settings(tmp_path, db.url, secrets_, nlu_model_path), db=db)
    previous = rasa_actions.runtime_factory
    rasa_actions.runtime_factory = lambda: rt
    yield rt
    rasa_actions.runtime_factory = previous


async def run(action_call: dict[str, Any]) -> dict[str, Any]:
    executor = ActionExecutor()
    executor.register_package("hub.rasa_actions")
    result = await executor.run(action_call)
    assert result is not None
    return {"events": result.events, "responses": result.responses}


async def test_create_ticket_answers_with_the_number_and_sets_the_slot(runtime: Runtime) -> None:
    result = await run(
        call("action_tawasul_create_ticket", "rasa-1", "مكافأتي في جامعة الملك سعود ما نزلت", intent="complaint")
    )
    [slot] = [e for e in result["events"] if e["event"] == "slot"]
    number = slot["value"]
    assert slot["name"] == "ticket_number" and number
    assert number in result["responses"][0]["text"]
    with runtime.db.read_session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        sent = session.execute(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id)).scalars().all()
    assert ticket.channel == "rasa" and ticket.category == "complaint" and ticket.assignee_id is not None
    assert [m.status for m in sent] == [OutboxStatus.SENT]  # delivered by Rasa, kept in the timeline


async def test_status_is_given_only_to_the_owner(runtime: Runtime) -> None:
    created = await run(call("action_tawasul_create_ticket", "rasa-2", "تأخر صرف راتبي لشهرين", intent="complaint"))
    number = next(e["value"] for e in created["events"] if e["event"] == "slot")
    mine = await run(call("action_tawasul_ticket_status", "rasa-2", f"وش صار على طلبي {number}"))
    theirs = await run(call("action_tawasul_ticket_status", "rasa-3", f"وش صار على طلب {number}"))
    assert number in mine["responses"][0]["text"]
    assert number not in theirs["responses"][0]["text"] and "لم نجد" in theirs["responses"][0]["text"]


async def test_objection_escalates_an_answered_ticket(runtime: Runtime) -> None:
    created = await run(call("action_tawasul_create_ticket", "rasa-4", "رفضوا قبول بنتي بدون سبب", intent="complaint"))
    number = next(e["value"] for e in created["events"] if e["event"] == "slot")
    with runtime.db.session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        actions.answer(session, ticket, ticket.assignee_id or 0, runtime.actions())
    result = await run(call("action_tawasul_object", "rasa-4", "اعتراض", number=number))
    assert "تم تسجيل اعتراضك" in result["responses"][0]["text"]
    with runtime.db.read_session() as session:
        assert session.execute(select(Ticket.escalation_level).where(Ticket.number == number)).scalar_one() == 1


async def test_handoff_pauses_the_assistant_and_queues_the_conversation(runtime: Runtime) -> None:
    result = await run(call("action_tawasul_handoff", "rasa-5", "ابي اكلم موظف"))
    assert any(e["event"] == "pause" for e in result["events"])
    assert "سنحوّلك" in result["responses"][0]["text"]
    with runtime.db.read_session() as session:
        state = session.execute(select(Conversation.state).where(Conversation.thread_ref == "rasa-5")).scalar_one()
    assert state is ConversationState.HUMAN
