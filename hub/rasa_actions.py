"""A Rasa action server (rasa-sdk, extra ``[rasa]``) exposing the hub's ticket core to a Rasa assistant.

An agency that already runs a Rasa assistant keeps it, and calls these custom actions to create a
ticket, ask its status, object to an answer, or hand the conversation to a person. The Rasa
conversation's ``sender_id`` is the citizen's identity on channel ``rasa``; replies are returned to
Rasa (which delivers them), and the same texts are kept in the hub's timeline as sent.

Run: ``tawasul rasa-actions`` (default port 5055), and in the assistant's ``endpoints.yml``::

    action_endpoint:
      url: "http://127.0.0.1:5055/webhook"

Domain (add to the assistant's domain.yml): actions ``action_tawasul_create_ticket``,
``action_tawasul_ticket_status``, ``action_tawasul_object``, ``action_tawasul_handoff``; slot
``ticket_number`` (text, set by the hub). See docs/rasa.md.

This module lives in ``hub`` (not ``bots``) because it wires settings, the database and the router
together, which only the hub may do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bots.templates import reply_language
from connectors.base import EventKind, InboundEvent
from hub.runtime import Runtime, get_runtime
from ticket_core import assignment, identities, objections, outbox, tickets
from ticket_core.models import ConversationState, utcnow

CHANNEL = "rasa"
CATEGORIES = ("inquiry", "complaint", "suggestion", "consultation")

# Tests (and embedders) may replace this with their own runtime.
runtime_factory: Callable[[], Runtime] = get_runtime


def _event(tracker: Tracker) -> InboundEvent:
    message = tracker.latest_message or {}
    return InboundEvent(
        channel=CHANNEL,
        account_ref="assistant",
        event_id=str(message.get("message_id") or uuid.uuid4().hex),
        kind=EventKind.MESSAGE,
        thread_ref=tracker.sender_id,
        user_ref=tracker.sender_id,
        text=str(message.get("text") or ""),
        sent_at=datetime.now(UTC),
    )


def _say(
    runtime: Runtime,
    session: Any,
    contact: identities.Contact,
    dispatcher: CollectingDispatcher,
    text: str,
    ticket_id: int | None,
) -> None:
    """Give the reply to Rasa and keep it in the hub's timeline as sent (Rasa delivers it)."""
    outbox_id = outbox.enqueue(session, contact, text, ticket_id=ticket_id, content={"via": "rasa"})
    outbox.mark_sent_many(session, [outbox.Sent(outbox_id, contact.conversation_id, 1, [])])
    dispatcher.utter_message(text=text)


def _values(runtime: Runtime, ticket: tickets.TicketView, language: str) -> dict[str, Any]:
    replies = runtime.replies
    return {
        "days": runtime.settings.sla_working_days,
        "number": ticket.number,
        "category": replies.word("categories", ticket.category, language),
        "status": replies.word("statuses", ticket.status.value, language),
        "unit": ticket.unit.name_ar if language == "ar" else ticket.unit.name_en,
        "level": ticket.escalation_level,
        "due_date": replies.date(ticket.due_at, language),
    }


def _language(runtime: Runtime, text: str) -> str:
    import nlu

    return reply_language(nlu.analyse(text).language) if text.strip() else "ar"


class CreateTicket(Action):
    """Open a ticket for the citizen's latest message (routed and assigned like any intake)."""

    def name(self) -> str:
        return "action_tawasul_create_ticket"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        import nlu

        runtime = runtime_factory()
        event = _event(tracker)
        analysis = nlu.analyse(event.text)
        intent = (tracker.latest_message or {}).get("intent", {}).get("name")
        category = intent if intent in CATEGORIES else (analysis.intent if analysis.intent in CATEGORIES else "inquiry")
        language = reply_language(analysis.language)
        with runtime.db.session() as session:
            contact = identities.resolve(session, event, language=language)
            route = runtime.router.route(category=category, entities=analysis.entities, text=event.text)
            ticket = tickets.open_ticket(
                session,
                contact,
                route.unit,
                tickets.NewTicket(
                    category=category,
                    language=language,
                    subject=event.text,
                    confidence=analysis.confidence,
                    service_key=route.service,
                ),
                calendar=runtime.calendar,
                working_days=runtime.settings.sla_working_days,
                actor="rasa",
                why={"rule": route.rule, "via": "rasa"},
            )
            text = runtime.replies.render("ack_new_ticket", language, **_values(runtime, ticket, language))
            _say(runtime, session, contact, dispatcher, text, ticket.id)
        with runtime.db.session() as session:  # its own short transaction, as intake does
            assignment.assign(session, ticket.id, route.unit.id, actor="rasa")
        return [SlotSet("ticket_number", ticket.number)]


class TicketStatus(Action):
    """The status of the citizen's own ticket (never of someone else's)."""

    def name(self) -> str:
        return "action_tawasul_ticket_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        import nlu

        runtime = runtime_factory()
        event = _event(tracker)
        analysis = nlu.analyse(event.text)
        language = reply_language(analysis.language)
        numbers = [e.value for e in analysis.entities if e.type == "ticket_number"]
        number = numbers[0] if numbers else tracker.get_slot("ticket_number")
        with runtime.db.session() as session:
            contact = identities.resolve(session, event, language=language)
            ticket = tickets.find_by_number(session, number) if number else None
            if ticket is None or ticket.beneficiary_id != contact.beneficiary_id:
                key = "status_unknown" if number else "status_ask_number"
                _say(runtime, session, contact, dispatcher, runtime.replies.render(key, language), None)
                return []
            text = runtime.replies.render("status_found", language, **_values(runtime, ticket, language))
            _say(runtime, session, contact, dispatcher, text, ticket.id)
        return [SlotSet("ticket_number", ticket.number)]


class Object(Action):
    """File the citizen's objection to the answer: the ticket is escalated one level as an appeal."""

    def name(self) -> str:
        return "action_tawasul_object"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        runtime = runtime_factory()
        event = _event(tracker)
        language = _language(runtime, event.text)
        with runtime.db.session() as session:
            contact = identities.resolve(session, event, language=language)
            ticket = objections.objectable_ticket(session, contact.beneficiary_id, tracker.get_slot("ticket_number"))
            if ticket is None:
                _say(
                    runtime, session, contact, dispatcher, runtime.replies.render("objection_no_ticket", language), None
                )
                return []
            try:
                objections.object_to(session, ticket, runtime.actions(), channel=CHANNEL)
                key = "objection_ack"
            except objections.ObjectionRefused as refused:
                key = f"objection_refused_{refused.code}"
            session.flush()
            view = tickets.find_by_number(session, ticket.number)
            assert view is not None
            _say(
                runtime,
                session,
                contact,
                dispatcher,
                runtime.replies.render(key, language, **_values(runtime, view, language)),
                view.id,
            )
        return [SlotSet("ticket_number", view.number)]


class Handoff(Action):
    """A person takes over: the hub queues the conversation and Rasa pauses the assistant."""

    def name(self) -> str:
        return "action_tawasul_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        from router import followups

        runtime = runtime_factory()
        event = _event(tracker)
        language = _language(runtime, event.text)
        with runtime.db.session() as session:
            contact = identities.resolve(session, event, language=language)
            ticket = tickets.open_ticket_in(session, contact.conversation_id)
            if ticket is None:
                route = runtime.router.route(category="inquiry", entities=(), text=event.text)
                ticket = tickets.open_ticket(
                    session,
                    contact,
                    route.unit,
                    tickets.NewTicket(
                        category="inquiry", language=language, subject=event.text or "handoff", needs_triage=True
                    ),
                    calendar=runtime.calendar,
                    working_days=runtime.settings.sla_working_days,
                    actor="rasa",
                )
            followups.change_state(session, contact, ConversationState.HUMAN.value, ticket=ticket, reason="handoff")
            followups.tell_owner(session, ticket, kind="handoff_requested")
            opening = runtime.calendar.next_opening(utcnow())
            extra: dict[str, object]
            if runtime.calendar.is_open(utcnow()):
                key, extra = "handoff_ack_open", {"waiting": tickets.waiting_ahead(session, ticket)}
            else:
                when = f"{runtime.replies.date(opening, language)} {runtime.calendar.opening.strftime('%H:%M')}"
                key, extra = "handoff_ack_closed", {"opening": when}
            text = runtime.replies.render(key, language, **_values(runtime, ticket, language), **extra)
            _say(runtime, session, contact, dispatcher, text, ticket.id)
        return [SlotSet("ticket_number", ticket.number), ConversationPaused()]


def serve(port: int = 5055) -> None:
    """Run the rasa-sdk action server with these actions."""
    from rasa_sdk.endpoint import run

    run(action_package_name="hub.rasa_actions", port=port)
