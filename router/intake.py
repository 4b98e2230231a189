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
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bots.templates import ReplyBook, reply_language
from connectors.base import EventKind, InboundEvent
from router.routing import Router
from ticket_core import audit, identities, inbox, messages, outbox, tickets
from ticket_core.calendar import BusinessCalendar
from ticket_core.db import Database
from ticket_core.identities import Contact
from ticket_core.models import InboxEvent, InboxStatus, utcnow
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


@dataclass
class IntakeOutcome:
    inbox_id: int
    status: str  # processed | skipped | ignored | failed | retry
    ticket_number: str | None = None
    outbox_ids: list[int] = field(default_factory=list)
    intent: str | None = None


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
        settings: IntakeSettings,
    ) -> None:
        self.db = db
        self.analyse_many = analyse_many
        self.replies = replies
        self.calendar = calendar
        self.router = router
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

    def _analyse(
        self, events: dict[int, InboundEvent]
    ) -> tuple[dict[int, AnalysisLike | None], dict[int, Exception]]:
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
        with self.db.session() as session:
            claimed = inbox.claim_many(session, chunk)  # rows done meanwhile or held elsewhere drop out
            for inbox_id in claimed:
                outcomes[inbox_id] = self._handle(session, inbox_id, events[inbox_id], analyses[inbox_id])
            inbox.mark_done_many(session, claimed)
        return outcomes

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
        self, session: Session, inbox_id: int, event: InboundEvent, analysis: AnalysisLike | None
    ) -> IntakeOutcome:
        language = reply_language(analysis.language if analysis else event.language_hint)
        now = utcnow()
        contact = identities.resolve(session, event, language=language, now=now)
        outcome = IntakeOutcome(inbox_id, "processed", intent=analysis.intent if analysis else None)
        open_ticket = None if contact.new_conversation else tickets.open_ticket_in(session, contact.conversation_id)
        ticket, reply = self._decide(session, contact, event, analysis, open_ticket, language)
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
        if reply is not None:
            key, about = reply
            outcome.outbox_ids.append(self._reply(session, contact, about, key, language))
        return outcome

    def _decide(
        self,
        session: Session,
        contact: Contact,
        event: InboundEvent,
        analysis: AnalysisLike | None,
        open_ticket: TicketView | None,
        language: str,
    ) -> tuple[TicketView | None, tuple[str, TicketView | None] | None]:
        """Which ticket the message belongs to, and which reply (template, about which ticket)."""
        if event.kind is EventKind.POSTBACK:
            # Buttons (rating, objection) belong to the dialogue layer; until it exists the press
            # is kept on the open ticket for the coordinator to see.
            return open_ticket, None

        if analysis is None:  # attachments only
            if open_ticket is not None:
                return open_ticket, ("ack_attached", open_ticket)
            ticket = self._open(session, contact, "inquiry", event, None, triage=True)
            return ticket, ("attachment_ack", ticket)

        intent = analysis.intent
        if intent == "ticket_status":
            return open_ticket, self._status(session, contact, analysis, open_ticket)
        if intent in ("greeting", "thanks", "other") and not analysis.uncertain:
            return open_ticket, (intent, None)
        if open_ticket is not None and intent in (*CATEGORIES, "greeting", "thanks", "other"):
            # Same conversation, ticket still open: add to it rather than open a duplicate.
            audit.record(
                session, "ticket.message_added", ticket_id=open_ticket.id, conversation_id=contact.conversation_id
            )
            return open_ticket, ("ack_attached", open_ticket)

        category = intent if intent in CATEGORIES else _best_category(analysis)
        # Uncertain messages and the dialogue intents that need a person go to human triage.
        triage = analysis.uncertain or intent not in CATEGORIES
        ticket = self._open(session, contact, category, event, analysis, triage=triage)
        key = {"handoff": "handoff_ack", "objection": "objection_ack"}.get(intent, "ack_new_ticket")
        return ticket, (key, ticket)

    def _open(
        self,
        session: Session,
        contact: Contact,
        category: str,
        event: InboundEvent,
        analysis: AnalysisLike | None,
        *,
        triage: bool,
    ) -> TicketView:
        unit = self.router.unit_for(session, category, analysis)
        spec = tickets.NewTicket(
            category=category,
            language=reply_language(analysis.language if analysis else event.language_hint),
            subject=(event.text or ", ".join(a.type for a in event.attachments)).strip(),
            confidence=analysis.confidence if analysis else None,
            needs_triage=triage or unit.is_triage,
        )
        return tickets.open_ticket(
            session, contact, unit, spec, calendar=self.calendar, working_days=self.settings.working_days
        )

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

    def _reply(self, session: Session, contact: Contact, ticket: TicketView | None, key: str, language: str) -> int:
        values: dict[str, object] = {"days": self.settings.working_days}
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
        return outbox.enqueue(
            session,
            contact,
            text,
            ticket_id=ticket.id if ticket else None,
            content={"template": key, "ticket_number": ticket.number if ticket else None},
        )


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
