"""The intake pipeline on a real database with the real NLU: message -> ticket -> reply in the outbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.base import Attachment, EventKind, InboundEvent
from hub.runtime import Runtime
from router.intake import IntakePipeline
from tests.helpers import make_settings
from ticket_core.db import Database
from ticket_core.inbox import store_events
from ticket_core.models import (
    AuditEvent,
    Conversation,
    InboxEvent,
    InboxStatus,
    MemberRole,
    Message,
    Notification,
    OutboxMessage,
    OutboxStatus,
    Ticket,
    TicketStatus,
    UnitMember,
)


@pytest.fixture
def pipeline(tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path) -> IntakePipeline:
    runtime = Runtime(make_settings(tmp_path, db.url, secrets_, nlu_model_path))
    runtime.db = db
    return runtime.pipeline


def event(
    text: str, *, event_id: str = "1", user: str = "555", channel: str = "telegram", **extra: object
) -> InboundEvent:
    return InboundEvent(
        channel=channel,
        account_ref="7000000001",
        event_id=event_id,
        kind=extra.pop("kind", EventKind.MESSAGE),  # type: ignore[arg-type]
        thread_ref=user,
        user_ref=user,
        user_display="أحمد",
        text=text,
        raw={"update_id": event_id},
        **extra,  # type: ignore[arg-type]
    )


def store(db: Database, *events: InboundEvent) -> list[int]:
    with db.session() as session:
        return [s.inbox_id for s in store_events(session, events) if s.inbox_id is not None]


def count(db: Database, model: type) -> int:
    with db.read_session() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def outbox_texts(db: Database) -> list[str]:
    with db.read_session() as session:
        return list(session.execute(select(OutboxMessage.text).order_by(OutboxMessage.id)).scalars())


def test_complaint_opens_a_ticket_with_number_and_due_date_and_queues_an_arabic_reply(
    db: Database, pipeline: IntakePipeline
) -> None:
    [inbox_id] = store(db, event("صار لي ثلاث شهور ما نزلت مكافأة ولدي في الجامعة، وين حقوقنا؟"))
    outcome = pipeline.process(inbox_id)
    assert outcome.status == "processed" and outcome.ticket_number is not None
    with db.read_session() as session:
        ticket = session.execute(select(Ticket)).scalar_one()
        row = session.get(InboxEvent, inbox_id)
        reply = session.execute(select(OutboxMessage)).scalar_one()
        audit_actions = list(session.execute(select(AuditEvent.action)).scalars())
    assert ticket.number == outcome.ticket_number
    assert ticket.number.startswith(str(ticket.created_at.year)) and len(ticket.number) == 11
    assert ticket.category == "complaint" and ticket.status is TicketStatus.ASSIGNED
    assert ticket.assignee_id is not None  # the least-loaded coordinator of the routed unit
    assert (ticket.due_at - ticket.created_at).days >= 5  # five working days, weekends skipped
    assert row is not None and row.status is InboxStatus.DONE
    assert reply.status is OutboxStatus.PENDING and reply.channel == "telegram" and reply.thread_ref == "555"
    assert ticket.number in reply.text and "5 أيام عمل" in reply.text
    assert "ticket.created" in audit_actions


def test_processing_the_same_row_twice_has_one_effect(db: Database, pipeline: IntakePipeline) -> None:
    [inbox_id] = store(db, event("رفضت المدرسة تسجيل ابني بدون أي سبب واضح"))
    first = pipeline.process(inbox_id)
    second = pipeline.process(inbox_id)
    assert first.status == "processed" and second.status == "skipped"
    assert count(db, Ticket) == 1 and count(db, OutboxMessage) == 1 and count(db, Message) == 2


def test_second_message_in_the_conversation_attaches_to_the_open_ticket(db: Database, pipeline: IntakePipeline) -> None:
    ids = store(
        db,
        event("ولدي يتعرض للتنمر في المدرسة والإدارة ما سوت شي", event_id="1"),
        event("وأبي أضيف إن المعلم شاف الموقف وسكت", event_id="2"),
    )
    numbers = [pipeline.process(i).ticket_number for i in ids]
    assert count(db, Ticket) == 1
    assert numbers[0] == numbers[1]
    assert "أُضيفت إلى طلبك" in outbox_texts(db)[1]


def test_greeting_gets_a_welcome_and_no_ticket(db: Database, pipeline: IntakePipeline) -> None:
    [inbox_id] = store(db, event("السلام عليكم"))
    outcome = pipeline.process(inbox_id)
    assert outcome.ticket_number is None and count(db, Ticket) == 0
    assert "أهلاً وسهلاً" in outbox_texts(db)[0]


def test_english_writer_is_answered_in_english(db: Database, pipeline: IntakePipeline) -> None:
    [inbox_id] = store(
        db, event("How can I get my son's certificate from Jordan equalized? What documents are needed?")
    )
    outcome = pipeline.process(inbox_id)
    assert outcome.ticket_number
    assert outbox_texts(db)[0].startswith("Thank you for contacting")


def test_emoji_only_message_is_kept_and_answered_not_dropped(db: Database, pipeline: IntakePipeline) -> None:
    [inbox_id] = store(db, event("😡😡😡🙏"))
    outcome = pipeline.process(inbox_id)
    assert outcome.status == "processed"
    with db.read_session() as session:
        message = session.execute(select(Message).where(Message.inbox_id == inbox_id)).scalar_one()
    assert message.text == "😡😡😡🙏"
    assert len(outbox_texts(db)) == 1


def test_attachment_without_text_opens_a_triage_ticket(db: Database, pipeline: IntakePipeline) -> None:
    [inbox_id] = store(db, event("", attachments=(Attachment("audio", "AwACvoice", "audio/ogg"),)))
    outcome = pipeline.process(inbox_id)
    with db.read_session() as session:
        ticket = session.execute(select(Ticket)).scalar_one()
        message = session.execute(select(Message).where(Message.inbox_id == inbox_id)).scalar_one()
    assert ticket.needs_triage and outcome.ticket_number == ticket.number
    assert message.attachments == [{"type": "audio", "ref": "AwACvoice", "mime": "audio/ogg", "name": None}]
    assert "المرفق" in outbox_texts(db)[0]


def test_status_of_own_ticket_is_given_and_of_another_is_refused(db: Database, pipeline: IntakePipeline) -> None:
    [mine] = store(db, event("تأخر صرف راتبي لشهرين متتاليين", event_id="1", user="111"))
    [theirs] = store(db, event("رفضوا قبول بنتي في الجامعة بدون سبب", event_id="2", user="222"))
    my_number = pipeline.process(mine).ticket_number
    their_number = pipeline.process(theirs).ticket_number
    [ask_mine, ask_theirs] = store(
        db,
        event(f"وش صار على بلاغي رقم {my_number}", event_id="3", user="111"),
        event(f"وش صار على بلاغ رقم {their_number}", event_id="4", user="111"),
    )
    pipeline.process(ask_mine)
    pipeline.process(ask_theirs)
    texts = outbox_texts(db)
    assert my_number in texts[2] and "حالة طلبك" in texts[2]
    assert their_number not in texts[3] and "لم نجد طلباً" in texts[3]


def test_status_number_written_in_arabic_indic_digits_is_understood(db: Database, pipeline: IntakePipeline) -> None:
    [mine] = store(db, event("انقطعت مكافأتي الجامعية بدون سبب من شهرين", event_id="1"))
    number = pipeline.process(mine).ticket_number
    assert number is not None
    arabic_digits = number.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    [ask] = store(db, event(f"ابغى اعرف حالة التذكرة {arabic_digits}", event_id="2"))
    pipeline.process(ask)
    assert number in outbox_texts(db)[-1]


def test_unknown_update_kinds_and_echoes_never_reach_the_pipeline(db: Database) -> None:
    with db.session() as session:
        stored = store_events(
            session, [event("", kind=EventKind.UNSUPPORTED), event("x", event_id="2", kind=EventKind.ECHO)]
        )
    assert [s.needs_processing for s in stored] == [False, False]
    with db.read_session() as session:
        statuses = list(session.execute(select(InboxEvent.status)).scalars())
    assert statuses == [InboxStatus.IGNORED, InboxStatus.IGNORED]


def test_a_failing_row_is_retried_then_marked_failed_and_visible(db: Database, pipeline: IntakePipeline) -> None:
    [inbox_id] = store(db, event("مرحبا"))

    def broken(_texts: list[str]) -> list[object]:
        raise RuntimeError("model file corrupted")

    pipeline.analyse_many = broken  # type: ignore[assignment]
    outcomes = [pipeline.process(inbox_id).status for _ in range(pipeline.settings.max_attempts)]
    assert outcomes[:-1] == ["retry"] * (pipeline.settings.max_attempts - 1) and outcomes[-1] == "failed"
    with db.read_session() as session:
        row = session.get(InboxEvent, inbox_id)
    assert row is not None and row.status is InboxStatus.FAILED and "model file corrupted" in (row.last_error or "")


def test_conversation_and_identity_are_reused_across_messages(db: Database, pipeline: IntakePipeline) -> None:
    for i in range(3):
        [inbox_id] = store(db, event(f"رسالة رقم {i} عن النقل المدرسي", event_id=str(i)))
        pipeline.process(inbox_id)
    assert count(db, Conversation) == 1


def test_stored_raw_event_is_the_platforms_json(db: Database) -> None:
    [inbox_id] = store(db, event("نص"))
    with db.read_session() as session:
        row = session.get(InboxEvent, inbox_id)
    assert row is not None and json.loads(row.raw) == {"update_id": "1"}


def test_a_message_that_breaks_the_model_holds_back_only_itself(db: Database, pipeline: IntakePipeline) -> None:
    ids = store(
        db,
        event("متى تنزل نتائج القبول الموحد؟", event_id="1", user="1"),
        event("POISON", event_id="2", user="2"),
        event("ولدي يتعرض للتنمر في المدرسة والإدارة ما سوت شي", event_id="3", user="3"),
    )
    real = pipeline.analyse_many

    def fragile(texts: list[str]) -> object:
        if "POISON" in texts:
            raise ValueError("cannot vectorise")
        return real(texts)

    pipeline.analyse_many = fragile  # type: ignore[assignment]
    outcomes = pipeline.process_many(ids)
    assert [o.status for o in outcomes] == ["processed", "retry", "processed"]
    assert count(db, Ticket) == 2


def test_a_chunk_of_new_tickets_is_assigned_together_by_least_load(db: Database, pipeline: IntakePipeline) -> None:
    """Intake assigns a chunk's new tickets in one batch: every one gets a coordinator of its unit,
    spread evenly (least-loaded first), each with an assignment notification and audit event."""
    texts = [f"المعلم يتأخر عن الحصص كل يوم في مدرسة ابني رقم {n} في الرياض" for n in range(8)]
    ids = store(db, *(event(t, event_id=str(100 + n), user=str(900 + n)) for n, t in enumerate(texts)))
    outcomes = pipeline.process_many(ids)
    assert all(o.status == "processed" for o in outcomes)
    with db.read_session() as session:
        rows = session.execute(select(Ticket.id, Ticket.unit_id, Ticket.assignee_id, Ticket.status)).all()
        notified = session.execute(select(func.count()).select_from(Notification)).scalar_one()
        audited = session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "ticket.assigned")
        ).scalar_one()
        members = {
            (m.unit_id, m.user_id)
            for m in session.execute(select(UnitMember).where(UnitMember.role == MemberRole.COORDINATOR)).scalars()
        }
    assert len(rows) == 8
    assert all(r.assignee_id is not None and r.status == TicketStatus.ASSIGNED for r in rows)
    assert all((r.unit_id, r.assignee_id) in members for r in rows)
    per_person: dict[int, int] = {}
    for r in rows:
        per_person[r.assignee_id] = per_person.get(r.assignee_id, 0) + 1
    per_unit_people = {u for u, _ in members if any(r.unit_id == u for r in rows)}
    assert per_unit_people, "the tickets went to units with coordinators"
    # Least-loaded with round robin: nobody gets a second ticket while a colleague of the unit has none.
    for unit_id in {r.unit_id for r in rows}:
        people = [p for u, p in members if u == unit_id]
        counts = [per_person.get(p, 0) for p in people]
        assert max(counts) - min(counts) <= 1, (unit_id, counts)
    assert notified == 8 and audited == 8


def test_a_new_citizen_on_two_channels_in_one_chunk_gets_one_ticket_for_one_request(
    db: Database, pipeline: IntakePipeline
) -> None:
    """The same verified phone on WhatsApp and the portal, both first contacts in one chunk: one
    person, and the second message finds the ticket the first opened moments before."""
    text = "صار لي ثلاث شهور ما نزلت مكافأة ولدي في الجامعة"
    ids = store(
        db,
        event(text, event_id="w1", user="966551112233", channel="whatsapp", phone="+966551112233"),
        event(text + " وش السالفة؟", event_id="p1", user="portal-77", channel="portal", phone="0551112233"),
    )
    first, second = pipeline.process_many(ids)
    assert first.status == second.status == "processed"
    assert count(db, Ticket) == 1
    assert first.ticket_number == second.ticket_number
