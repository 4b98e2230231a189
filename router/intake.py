"""The intake pipeline: one inbox row becomes a message, a decision, a ticket and a reply in the outbox.

Everything a row causes is written in one transaction together with marking the row ``done``, so
a worker killed at any point leaves either nothing or everything: processing is exactly-once in
effect even though delivery of the task is at-least-once. The NLU runs before the transaction so
no lock is held while it thinks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bots import dialogue
from bots.safety import SupportLines
from bots.templates import ReplyBook, reply_language
from connectors.base import EventKind, InboundEvent
from router import followups
from router.routing import Route, Router
from ticket_core import actions, assignment, audit, deferred, identities, inbox, messages, objections, outbox, tickets
from ticket_core.calendar import BusinessCalendar
from ticket_core.db import Database
from ticket_core.identities import Contact
from ticket_core.models import ConversationState, InboxEvent, InboxStatus, Ticket, utcnow
from ticket_core.tickets import TicketView

log = logging.getLogger("tawasul.intake")

CATEGORIES = ("inquiry", "complaint", "suggestion", "consultation")


class EntityLike(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


class AnalysisLike(Protocol):
    """What the pipeline needs from ``nlu.Analysis``."""

    @property
    def language(self) -> str: ...
    @property
    def intent(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def uncertain(self) -> bool: ...

    @property
    def entities(self) -> tuple[EntityLike, ...]: ...

    @property
    def ranking(self) -> tuple[tuple[str, float], ...]: ...


AnalyseMany = Callable[[list[str]], Sequence[AnalysisLike]]


class FaqMatch(Protocol):
    """What the pipeline needs from a knowledge-base match (bots/faq.py)."""

    @property
    def entry_id(self) -> str: ...
    @property
    def question(self) -> str: ...
    @property
    def answer(self) -> str: ...


FaqLookup = Callable[[str, str], "FaqMatch | None"]


@dataclass
class IntakeOutcome:
    inbox_id: int
    status: str  # processed | skipped | ignored | failed | retry
    ticket_number: str | None = None
    outbox_ids: list[int] = field(default_factory=list)
    intent: str | None = None
    to_assign: tuple[int, int] | None = None  # (ticket id, unit id) of a ticket this row opened
    urgent_ticket: str | None = None  # the number of a ticket that signals danger (for outside alerts)


@dataclass(frozen=True)
class IntakeSettings:
    working_days: int = 5
    max_attempts: int = 5
    rows_per_transaction: int = 20  # one durable commit per chunk; SQLite uses fewer to free its lock sooner


class IntakePipeline:
    """Processes inbox rows; safe to call twice for the same row (the second call is a no-op)."""

    def __init__(
        self,
        db: Database,
        *,
        analyse_many: AnalyseMany,
        replies: ReplyBook,
        calendar: BusinessCalendar,
        router: Router,
        context: Callable[[], actions.Context],
        settings: IntakeSettings,
        faq: FaqLookup | None = None,
        clock: Callable[[], datetime] = utcnow,
        safety: SupportLines | None = None,
    ) -> None:
        self.db = db
        self.analyse_many = analyse_many
        self.replies = replies
        self.calendar = calendar
        self.router = router
        self.context = context  # calendar, SLA policy and escalation ladder, for objections
        self.faq: FaqLookup = faq or (lambda _text, _language: None)
        self.clock = clock  # the time the pipeline works at (tests move it to check working hours)
        self.safety = safety or SupportLines(())
        self.settings = settings

    def process(self, inbox_id: int) -> IntakeOutcome:
        """Process one row (see ``process_many``)."""
        return self.process_many([inbox_id])[0]

    def process_many(self, inbox_ids: list[int]) -> list[IntakeOutcome]:
        """Process rows in chunks, one transaction per chunk (one commit instead of one per row).

        If anything in a chunk fails, the chunk is rolled back and redone row by row, so one bad
        row costs its neighbours nothing but time; its failure is counted on the row, which is
        retried by the sweeper and ends ``failed`` (visible) after ``max_attempts``.
        """
        events = self._pending_events(inbox_ids)
        outcomes = {i: IntakeOutcome(i, "skipped") for i in inbox_ids if i not in events}
        analyses, failures = self._analyse(events)
        for inbox_id, exc in failures.items():
            outcomes[inbox_id] = self._failed(inbox_id, exc)
        pending = [i for i in inbox_ids if i in analyses]
        size = self.settings.rows_per_transaction
        for start in range(0, len(pending), size):
            chunk = pending[start : start + size]
            try:
                outcomes.update(self._commit_chunk(chunk, events, analyses))
            except Exception as exc:
                if len(chunk) == 1:
                    outcomes[chunk[0]] = self._failed(chunk[0], exc)
                    continue
                log.warning("intake chunk failed, redoing row by row inbox_ids=%s", chunk)
                for inbox_id in chunk:
                    try:
                        outcomes.update(self._commit_chunk([inbox_id], events, analyses))
                    except Exception as row_exc:
                        outcomes[inbox_id] = self._failed(inbox_id, row_exc)
        for outcome in outcomes.values():
            if outcome.status == "processed":
                _log_outcome(outcome)
        return [outcomes[i] for i in inbox_ids]

    def _analyse(self, events: dict[int, InboundEvent]) -> tuple[dict[int, AnalysisLike | None], dict[int, Exception]]:
        """NLU for every event with text, in one batch; a batch failure is retried text by text so
        that only the message that breaks the model is held back."""
        analyses: dict[int, AnalysisLike | None] = {i: None for i, e in events.items() if not e.text.strip()}
        texts = {i: e.text for i, e in events.items() if e.text.strip()}
        failures: dict[int, Exception] = {}
        try:
            analyses.update(zip(texts, self.analyse_many(list(texts.values())), strict=True))
        except Exception:
            for inbox_id, text in texts.items():
                try:
                    analyses[inbox_id] = self.analyse_many([text])[0]
                except Exception as exc:
                    failures[inbox_id] = exc
        return analyses, failures

    def _commit_chunk(
        self, chunk: list[int], events: dict[int, InboundEvent], analyses: dict[int, AnalysisLike | None]
    ) -> dict[int, IntakeOutcome]:
        outcomes = {i: IntakeOutcome(i, "skipped") for i in chunk}
        # The chunk's timeline messages and audit events are written together at its end.
        with self.db.session() as session, deferred.writes_at_end(session):
            claimed = inbox.claim_many(session, chunk)  # rows done meanwhile or held elsewhere drop out
            # Who is writing, for every row first: the conversations are locked before any row is
            # handled, in an order every worker shares, so two chunks cannot deadlock.
            now = self.clock()
            contacts = self._contacts(session, claimed, events, analyses, now)
            for inbox_id in claimed:
                outcomes[inbox_id] = self._handle(
                    session, inbox_id, events[inbox_id], analyses[inbox_id], contacts[inbox_id], now
                )
            inbox.mark_done_many(session, claimed)
        # Assignment locks the units' coordinators: in one short transaction for the whole chunk,
        # after the chunk committed, so those locks are never held while the chunk's rows wait.
        self._assign([o.to_assign for o in outcomes.values() if o.to_assign is not None])
        return outcomes

    def _contacts(
        self,
        session: Session,
        inbox_ids: list[int],
        events: dict[int, InboundEvent],
        analyses: dict[int, AnalysisLike | None],
        now: datetime,
    ) -> dict[int, Contact]:
        # Only text tells the language; a button or a photo keeps the conversation's last one.
        items = [(events[i], reply_language(a.language) if (a := analyses[i]) else None) for i in inbox_ids]
        return dict(zip(inbox_ids, identities.resolve_many(session, items, now=now), strict=True))

    def _assign(self, pairs: list[tuple[int, int]]) -> None:
        if not pairs:
            return
        try:
            with self.db.session() as session:
                assignment.assign_many(session, pairs)
        except Exception:  # the tickets are safe in their units' queues; the SLA sweep assigns them later
            log.warning("assignment deferred to the sweep ticket_ids=%s", [t for t, _ in pairs], exc_info=True)

    def _failed(self, inbox_id: int, exc: Exception) -> IntakeOutcome:
        with self.db.session() as session:
            status = inbox.record_failure(
                session, inbox_id, f"{type(exc).__name__}: {exc}", max_attempts=self.settings.max_attempts
            )
        log.error("intake failed inbox_id=%s status=%s", inbox_id, status.value, exc_info=exc)
        return IntakeOutcome(inbox_id, "failed" if status is InboxStatus.FAILED else "retry")

    def _pending_events(self, inbox_ids: list[int]) -> dict[int, InboundEvent]:
        with self.db.read_session() as session:
            rows = session.execute(
                select(InboxEvent.id, InboxEvent.event).where(
                    InboxEvent.id.in_(inbox_ids), InboxEvent.status == InboxStatus.PENDING
                )
            )
            return {row.id: InboundEvent.from_record(row.event) for row in rows}

    # --- decisions ------------------------------------------------------------------------------

    def _handle(
        self,
        session: Session,
        inbox_id: int,
        event: InboundEvent,
        analysis: AnalysisLike | None,
        contact: Contact,
        now: datetime,
    ) -> IntakeOutcome:
        language = reply_language(analysis.language) if analysis else contact.language
        outcome = IntakeOutcome(inbox_id, "processed", intent=analysis.intent if analysis else None)
        decision = self._decide(session, contact, event, analysis, language, now)
        ticket = decision.ticket
        if decision.opened:
            assert ticket is not None
            outcome.to_assign = (ticket.id, ticket.unit.id)
        if decision.urgent and ticket is not None:
            outcome.urgent_ticket = ticket.number
        messages.record_inbound(
            session,
            contact.conversation_id,
            event,
            inbox_id=inbox_id,
            ticket_id=ticket.id if ticket else None,
            language=analysis.language if analysis else None,
            intent=analysis.intent if analysis else None,
            confidence=analysis.confidence if analysis else None,
            entities=[_entity_record(e) for e in analysis.entities] if analysis else [],
            at=now,
        )
        if ticket is not None:
            outcome.ticket_number = ticket.number
        if decision.reply is not None:
            outcome.outbox_ids.append(self._reply(session, contact, decision, language, reply_to=event.reply_target))
        return outcome

    def _decide(
        self,
        session: Session,
        contact: Contact,
        event: InboundEvent,
        analysis: AnalysisLike | None,
        language: str,
        now: datetime,
    ) -> Decision:
        """Gather the facts, let the bot plan (bots/dialogue.py), carry the plan out."""
        current = None if contact.new_conversation else tickets.open_ticket_in(session, contact.conversation_id)
        if current is not None and current.paused:
            self._resume(session, current, now)  # the citizen answered: the SLA clock runs again
        faq = None
        if contact.state != ConversationState.HUMAN.value and analysis is not None and event.kind is EventKind.MESSAGE:
            faq = self.faq(event.text, language)
        situation = dialogue.Situation(
            state=contact.state,
            text=event.text,
            postback=event.postback if event.kind is EventKind.POSTBACK else None,
            has_attachments=bool(event.attachments),
            analysis=analysis,
            faq=faq,
            open_for_business=self.calendar.is_open(now),
            now=now,
            urgency=_urgency(analysis),
        )
        plan = dialogue.plan(situation)
        decision = self._carry_out(plan, session, contact, event, analysis, current, faq, language, now)
        new_state = decision.state or (contact.state if plan.keep_state else ConversationState.BOT.value)
        if new_state != contact.state:
            followups.change_state(session, contact, new_state, ticket=decision.ticket, reason=plan.step.value)
        return decision

    def _carry_out(
        self,
        plan: dialogue.Plan,
        session: Session,
        contact: Contact,
        event: InboundEvent,
        analysis: AnalysisLike | None,
        current: TicketView | None,
        faq: FaqMatch | None,
        language: str,
        now: datetime,
    ) -> Decision:
        step = dialogue.Step
        if plan.step is step.URGENT:
            assert analysis is not None
            return self._urgent(session, contact, event, analysis, current, language, now)
        if plan.step is step.SILENT:
            if current is not None:
                followups.tell_owner(session, current, kind="citizen_message")
            return Decision(current)
        if plan.step is step.KEEP:
            return Decision(current)
        if plan.step is step.SMALL_TALK:
            return Decision(current, plan.argument or "other", None)
        if plan.step is step.STATUS:
            assert analysis is not None
            key, about = self._status(session, contact, analysis, current)
            return Decision(current, key, about)
        if plan.step is step.FAQ:
            assert faq is not None
            return Decision(
                current,
                "faq_answer",
                None,
                values={"answer": faq.answer, "question": faq.question},
                buttons=(("yes", f"faq:yes:{faq.entry_id}"), ("no", f"faq:no:{event.event_id}")),
                faq=faq.entry_id,
            )
        if plan.step is step.FAQ_HELPED:
            audit.record(
                session, "faq.helped", actor="citizen", conversation_id=contact.conversation_id, entry=plan.argument
            )
            return Decision(current, "faq_thanks", None)
        if plan.step is step.FAQ_NOT_HELPED:
            audit.record(session, "faq.not_helped", actor="citizen", conversation_id=contact.conversation_id)
            return self._ticket_from_earlier(session, contact, plan.argument, current, language, now)
        if plan.step is step.RATE:
            score, _, number = (plan.argument or "").partition(":")
            return self._rate(session, contact, int(score), number or None, now)
        if plan.step is step.OBJECTION_ASK:
            numbers = [e.value for e in analysis.entities if e.type == "ticket_number"] if analysis else []
            return self._objection_ask(session, contact, plan.argument or (numbers[0] if numbers else None), now)
        if plan.step is step.OBJECTION:
            return self._object(session, contact, plan.argument, now)
        if plan.step is step.OBJECTION_CANCELLED:
            return Decision(current, "objection_cancelled", None)
        if plan.step is step.HANDOFF:
            return self._handoff(session, contact, event, analysis, current, now)
        return self._ticket(session, contact, event, analysis, current, now)

    def _ticket(
        self,
        session: Session,
        contact: Contact,
        event: InboundEvent,
        analysis: AnalysisLike | None,
        current: TicketView | None,
        now: datetime,
    ) -> Decision:
        """Add to the citizen's open request on the same topic, or open a new one."""
        if analysis is None:  # attachments only: a person must look
            if current is not None:
                return Decision(current, "ack_attached", current)
            ticket = self._open(session, contact, "inquiry", event, None, triage=True)
            return Decision(ticket, "attachment_ack", ticket, opened=True)
        intent = analysis.intent
        category = intent if intent in CATEGORIES else _best_category(analysis)
        route = self.router.route(
            category=category, entities=analysis.entities, text=event.text, urgent=_urgent(analysis)
        )
        same = self._same_request(session, contact, current, category, route, now)
        if same is not None:
            tickets.touch(session, same.id, now)
            audit.record(session, "ticket.message_added", ticket_id=same.id, conversation_id=contact.conversation_id)
            followups.tell_owner(session, same, kind="citizen_message")
            return Decision(same, "ack_attached", same)
        # Uncertain messages and intents that are not a category go to human triage.
        triage = analysis.uncertain or intent not in CATEGORIES
        priority = "elevated" if _urgency(analysis) == "elevated" else "normal"
        ticket = self._open(session, contact, category, event, analysis, triage=triage, route=route, priority=priority)
        return Decision(ticket, "ack_new_ticket", ticket, opened=True, after_hours=not self.calendar.is_open(now))

    def _urgent(
        self,
        session: Session,
        contact: Contact,
        event: InboundEvent,
        analysis: AnalysisLike,
        current: TicketView | None,
        language: str,
        now: datetime,
    ) -> Decision:
        """Danger signalled: the protection unit gets the ticket now (urgent SLA in clock hours), its
        staff are alerted, and the citizen gets a calm reply with the support lines — never an FAQ."""
        policy = self.context().policy
        route = self.router.route(category="complaint", entities=analysis.entities, text=event.text, urgent=True)
        reason = getattr(analysis, "urgency_reason", None) or "urgent-safety signal"
        if current is not None and current.priority != "urgent":
            ticket = tickets.raise_to_urgent(
                session, current, route.unit, due_at=now + policy.urgent_first, reason=reason
            )
        elif current is not None:
            ticket = current  # already urgent: keep the clock, tell the unit again
        else:
            category = analysis.intent if analysis.intent in CATEGORIES else "complaint"
            ticket = self._open(
                session,
                contact,
                category,
                event,
                analysis,
                triage=False,
                route=route,
                priority="urgent",
                urgent_within=policy.urgent_first,
            )
        followups.alert_unit(session, ticket, kind="urgent", reason=reason)
        lines = self.safety.block(language)
        intro = self.replies.render("urgent_lines_intro" if lines else "urgent_lines_missing", language)
        return Decision(
            ticket,
            "urgent_reply",
            ticket,
            opened=ticket.assignee_id is None,
            values={"lines": intro + lines},
            urgent=True,
        )

    def _ticket_from_earlier(
        self,
        session: Session,
        contact: Contact,
        event_id: str | None,
        current: TicketView | None,
        language: str,
        now: datetime,
    ) -> Decision:
        """The FAQ answer did not help: the question it answered becomes a ticket."""
        earlier = inbox.find_event(session, contact.channel, contact.account_ref, event_id) if event_id else None
        if earlier is None or not earlier.text.strip():
            return Decision(current, "faq_ask_details", None)
        [analysis] = self.analyse_many([earlier.text])
        return self._ticket(session, contact, earlier, analysis, current, now)

    def _handoff(
        self,
        session: Session,
        contact: Contact,
        event: InboundEvent,
        analysis: AnalysisLike | None,
        current: TicketView | None,
        now: datetime,
    ) -> Decision:
        """A person takes over: the request is queued for a coordinator and the bot goes quiet."""
        ticket = current
        opened = False
        if ticket is None:
            ticket = self._open(session, contact, "inquiry", event, analysis, triage=True)
            opened = True
        followups.tell_owner(session, ticket, kind="handoff_requested")
        if self.calendar.is_open(now):
            waiting = tickets.waiting_ahead(session, ticket)
            return Decision(
                ticket, "handoff_ack_open", ticket, opened=opened, values={"waiting": waiting}, state="human"
            )
        opening = self.replies.date(self.calendar.next_opening(now), contact_language(contact, analysis))
        time_of_day = self.calendar.opening.strftime("%H:%M")
        return Decision(
            ticket,
            "handoff_ack_closed",
            ticket,
            opened=opened,
            values={"opening": f"{opening} {time_of_day}"},
            state="human",
        )

    def _same_request(
        self,
        session: Session,
        contact: Contact,
        current: TicketView | None,
        category: str,
        route: Route,
        now: datetime,
    ) -> TicketView | None:
        """An open ticket this message continues: the conversation's ticket if it was active in the
        last day, else the citizen's open ticket (on any channel) about the same sub-service, or with
        the same category in the same unit when no sub-service was recognised."""
        if current is not None and current.updated_at is not None and now - current.updated_at <= CONTINUATION:
            return current
        if contact.new_person:  # created by this transaction, before any of its tickets
            return None
        return tickets.open_ticket_on_topic(
            session, contact.beneficiary_id, category=category, service_key=route.service, unit_id=route.unit.id
        )

    def _open(
        self,
        session: Session,
        contact: Contact,
        category: str,
        event: InboundEvent,
        analysis: AnalysisLike | None,
        *,
        triage: bool,
        route: Route | None = None,
        priority: str = "normal",
        urgent_within: timedelta | None = None,
    ) -> TicketView:
        if route is None:
            route = self.router.route(
                category=category, entities=analysis.entities if analysis else (), text=event.text
            )
        spec = tickets.NewTicket(
            category=category,
            language=reply_language(analysis.language if analysis else event.language_hint),
            subject=(event.text or ", ".join(a.type for a in event.attachments)).strip(),
            confidence=analysis.confidence if analysis else None,
            needs_triage=triage or route.unit.is_triage,
            service_key=route.service,
            priority=priority,
        )
        ticket = tickets.open_ticket(
            session,
            contact,
            route.unit,
            spec,
            calendar=self.calendar,
            working_days=self.settings.working_days,
            why={"rule": route.rule, "service": route.service, "entity": route.entity},
            urgent_within=urgent_within,
        )
        return ticket

    def _status(
        self, session: Session, contact: Contact, analysis: AnalysisLike, open_ticket: TicketView | None
    ) -> tuple[str, TicketView | None]:
        numbers = [e.value for e in analysis.entities if e.type == "ticket_number"]
        if numbers:
            ticket = tickets.find_by_number(session, numbers[0])
            # Only the citizen's own tickets: the same answer for "not found" and "not yours".
            if ticket is None or ticket.beneficiary_id != contact.beneficiary_id:
                audit.record(
                    session, "ticket.status_refused", conversation_id=contact.conversation_id, number=numbers[0]
                )
                return "status_unknown", None
        elif open_ticket is not None:
            ticket = open_ticket
        else:
            return "status_ask_number", None
        audit.record(session, "ticket.status_viewed", actor="citizen", ticket_id=ticket.id)
        return "status_found", ticket

    def _rate(self, session: Session, contact: Contact, score: int, number: str | None, now: datetime) -> Decision:
        ticket = followups.rated_ticket(session, contact, number)
        if ticket is None:
            return Decision(None, "csat_unknown", None)
        outcome = followups.rate(session, ticket, score, channel=contact.channel, policy=self.context().policy)
        view = tickets.find_by_number(session, ticket.number)
        return Decision(view, "csat_thanks_low" if outcome.queued_for_review else "csat_thanks", view)

    def _objection_ask(self, session: Session, contact: Contact, number: str | None, now: datetime) -> Decision:
        """Confirm before filing an objection: it escalates the ticket, so it must be meant."""
        ticket = objections.objectable_ticket(session, contact.beneficiary_id, number)
        if ticket is None:
            return Decision(None, "objection_no_ticket", None)
        try:
            objections.check(ticket, self.context(), now=now)
        except objections.ObjectionRefused as refused:
            view = tickets.find_by_number(session, ticket.number)
            return Decision(view, f"objection_refused_{refused.code}", view)
        view = tickets.find_by_number(session, ticket.number)
        return Decision(
            view,
            "objection_confirm",
            view,
            buttons=(("yes", f"objection:yes:{ticket.number}"), ("no", "objection:no")),
            state=ConversationState.AWAITING_OBJECTION_CONFIRM.value,
        )

    def _object(self, session: Session, contact: Contact, number: str | None, now: datetime) -> Decision:
        ticket = objections.objectable_ticket(session, contact.beneficiary_id, number)
        if ticket is None:
            return Decision(None, "objection_no_ticket", None)
        try:
            objections.object_to(session, ticket, self.context(), channel=contact.channel, now=now)
        except objections.ObjectionRefused as refused:
            view = tickets.find_by_number(session, ticket.number)
            return Decision(view, f"objection_refused_{refused.code}", view)
        session.flush()
        view = tickets.find_by_number(session, ticket.number)
        return Decision(view, "objection_ack", view)

    def _resume(self, session: Session, ticket: TicketView, now: datetime) -> None:
        row = session.get(Ticket, ticket.id)
        if row is not None:
            actions.resume(session, row, self.context(), now=now)
            session.flush()

    def _reply(
        self, session: Session, contact: Contact, decision: Decision, language: str, *, reply_to: str | None
    ) -> int:
        ticket = decision.about
        key = decision.reply
        assert key is not None
        values: dict[str, object] = {"days": self.settings.working_days, **decision.values}
        if ticket is not None:
            values.update(
                number=ticket.number,
                category=self.replies.word("categories", ticket.category, language),
                status=self.replies.word("statuses", ticket.status.value, language),
                unit=ticket.unit.name_ar if language == "ar" else ticket.unit.name_en,
                level=ticket.escalation_level,
                due_date=self.replies.date(ticket.due_at, language),
            )
        text = self.replies.render(key, language, **values)
        if decision.after_hours:
            opening = self.calendar.next_opening(self.clock())
            text += "\n\n" + self.replies.render(
                "out_of_hours",
                language,
                opening=f"{self.replies.date(opening, language)} {self.calendar.opening.strftime('%H:%M')}",
            )
        buttons = [
            {"title": self.replies.word("buttons", word, language), "payload": payload}
            for word, payload in decision.buttons
        ]
        content: dict[str, object] = {
            "template": key,
            "ticket_number": ticket.number if ticket else None,
            "reply_to": reply_to,
        }
        if buttons:
            content["buttons"] = buttons
        if decision.faq:
            content["faq"] = decision.faq
        return outbox.enqueue(session, contact, text, ticket_id=ticket.id if ticket else None, content=content)


@dataclass(frozen=True)
class Decision:
    ticket: TicketView | None  # the ticket the message belongs to
    reply: str | None = None  # the template the bot answers with, if it answers
    about: TicketView | None = None  # the ticket the reply talks about
    opened: bool = False  # the ticket is new (it still needs a coordinator)
    values: dict[str, object] = field(default_factory=dict)  # more template values
    buttons: tuple[tuple[str, str], ...] = ()  # (vocabulary word, payload)
    state: str | None = None  # the conversation's next state, when the step sets one
    after_hours: bool = False  # add when a person will pick the request up
    faq: str | None = None  # the FAQ entry answered
    urgent: bool = False  # danger signalled: alert outside the hub too (TAWASUL_URGENT_ALERT_URL)


def contact_language(contact: Contact, analysis: AnalysisLike | None) -> str:
    return reply_language(analysis.language if analysis else None)


# A message within this time of the conversation's last ticket activity continues that ticket.
CONTINUATION = timedelta(days=1)


def _urgency(analysis: AnalysisLike | None) -> str:
    """The NLU's urgent-safety signal (none | elevated | urgent); "none" if the model has none."""
    return str(getattr(analysis, "urgency", "none") or "none") if analysis is not None else "none"


def _urgent(analysis: AnalysisLike) -> bool:
    return _urgency(analysis) == "urgent"


def _log_outcome(outcome: IntakeOutcome) -> None:
    log.info(
        "intake processed inbox_id=%s intent=%s ticket=%s replies=%s",
        outcome.inbox_id,
        outcome.intent,
        outcome.ticket_number,
        len(outcome.outbox_ids),
    )


def _best_category(analysis: AnalysisLike) -> str:
    for intent, _score in analysis.ranking:
        if intent in CATEGORIES:
            return intent
    return "inquiry"


def _entity_record(entity: EntityLike) -> dict[str, object]:
    return {"type": entity.type, "value": entity.value, "text": entity.text, "start": entity.start, "end": entity.end}
