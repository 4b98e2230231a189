"""WhatsApp through the real hub: signed webhooks stored once, receipts and echoes ignored, replies through
the outbox with retries on throttling and a visible "window closed" dead letter."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.meta import SIGNATURE_HEADER
from fakes.meta import PHONE_NUMBER_ID
from tests.connectors.facebook.testbed import MetaTestbed, meta_testbed, post_webhook
from ticket_core import queries
from ticket_core.db import Database
from ticket_core.models import InboxEvent, InboxStatus, OutboxStatus, utcnow

FIXTURES = Path(__file__).parent / "fixtures"
WA_ID = "966501234567"


@pytest.fixture
async def bed(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path
) -> AsyncIterator[MetaTestbed]:
    async with meta_testbed(tmp_path, db, secrets_, nlu_model_path) as testbed:
        yield testbed


async def test_signed_message_is_stored_once_and_a_forged_one_not_at_all(bed: MetaTestbed) -> None:
    call = bed.fake.whatsapp_message(
        WA_ID, "رقم الطلب 88213، ما حالته؟", wamid="wamid.HBgMOTY2NTAxMjM0NTY3FQIAEhgUSFVCMQ"
    )
    forged = json.dumps(json.loads(call.body), ensure_ascii=False).replace("88213", "99999").encode()
    async with bed.web() as client:
        first = await post_webhook(client, "whatsapp", call.body, call.headers)
        again = await post_webhook(client, "whatsapp", call.body, call.headers)
        tampered = await post_webhook(client, "whatsapp", forged, call.headers)
        unsigned = await post_webhook(client, "whatsapp", call.body, {"Content-Type": "application/json"})
        wrong_key = await post_webhook(client, "whatsapp", call.body, {**call.headers, SIGNATURE_HEADER: "sha256=1f"})
    assert (first[1]["stored"], again[1]["duplicates"]) == (1, 1)
    assert (tampered[0], unsigned[0], wrong_key[0]) == (403, 401, 403)
    with bed.db.read_session() as session:
        row = session.execute(select(InboxEvent)).scalar_one()
    assert (row.account_ref, row.event["phone"], row.event["thread_ref"]) == (
        PHONE_NUMBER_ID,
        "+966501234567",
        f"{PHONE_NUMBER_ID}:{WA_ID}",
    )


async def test_statuses_and_business_app_echoes_are_stored_as_ignored(bed: MetaTestbed) -> None:
    async with bed.web() as client:
        for name in ("statuses__delivered_read", "smb_message_echoes__text", "statuses__failed"):
            call = bed.fake.signed("whatsapp", json.loads((FIXTURES / f"{name}.json").read_bytes()))
            status, _ = await post_webhook(client, "whatsapp", call.body, call.headers)
            assert status == 200
        assert client.published == []  # type: ignore[attr-defined]
    with bed.db.read_session() as session:
        rows = session.execute(select(InboxEvent)).scalars().all()
    assert len(rows) == 4 and {r.status for r in rows} == {InboxStatus.IGNORED}


async def test_subscription_handshake_uses_the_shared_meta_verify_token(bed: MetaTestbed) -> None:
    async with bed.web() as client:
        resp = await client.get(
            "/webhooks/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": bed.keys.verify_token, "hub.challenge": "42"},
        )
        assert (resp.status, await resp.text()) == (200, "42")


async def test_arabic_reply_round_trip_is_byte_exact(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.whatsapp_message(WA_ID, "السلام عليكم، تأخر صرف مكافأة ولدي"))
    assert (await bed.deliver(outbox_id)).status == "sent"
    row = bed.row(outbox_id)
    [sent] = bed.fake.sent
    assert sent.text.encode() == row.text.encode() and row.content["ticket_number"] in sent.text
    assert (sent.node, sent.body["to"]) == (PHONE_NUMBER_ID, "+966501234567")


async def test_long_reply_is_split_within_4096_characters(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.whatsapp_message(WA_ID, "متى تبدأ إجازة منتصف العام؟"))
    long_text = ("نفيدكم بأن إجازة منتصف العام تبدأ بنهاية دوام يوم الخميس وفق التقويم الدراسي المعتمد، " * 100).strip()
    bed.set_text(outbox_id, long_text)
    assert (await bed.deliver(outbox_id)).status == "sent"
    parts = bed.fake.texts_to(WA_ID)
    assert len(parts) == 3 and all(len(p) <= 4096 for p in parts)
    assert " ".join(parts).split() == long_text.split()


async def test_reply_buttons_go_out_as_interactive_buttons(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.whatsapp_message(WA_ID, "شكرا لكم"))
    buttons = [{"title": "راضٍ", "payload": "rating:5"}, {"title": "غير راضٍ", "payload": "rating:1"}]
    bed.set_text(outbox_id, "كيف تقيّم الخدمة؟", buttons=buttons)
    assert (await bed.deliver(outbox_id)).status == "sent"
    [sent] = bed.fake.sent
    assert sent.kind == "interactive" and sent.buttons == [("راضٍ", "rating:5"), ("غير راضٍ", "rating:1")]


async def test_pair_rate_and_throughput_limits_are_retried(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.whatsapp_message(WA_ID, "أبغى أعرف نتيجة المفاضلة"))
    bed.fake.fail_next(1, code=131056)
    outcome = await bed.deliver(outbox_id)
    assert outcome.status == "retry" and outcome.retry_in_s is not None and outcome.retry_in_s >= 6
    bed.fake.fail_next(1, code=130429, retry_after=15)
    bed.make_due(outbox_id)
    outcome = await bed.deliver(outbox_id)
    assert outcome.status == "retry" and outcome.retry_in_s is not None and outcome.retry_in_s >= 15
    bed.make_due(outbox_id)
    assert (await bed.deliver(outbox_id)).status == "sent"
    assert bed.row(outbox_id).attempts == 3


async def test_reply_after_the_window_is_dead_with_the_template_only_state(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.whatsapp_message(WA_ID, "عندي مشكلة في التسجيل"))
    bed.fake.user_wrote("whatsapp", WA_ID, utcnow() - timedelta(hours=26))  # the reply waited too long
    assert (await bed.deliver(outbox_id)).status == "dead"
    row = bed.row(outbox_id)
    assert row.status is OutboxStatus.DEAD and row.attempts == 1
    assert (row.last_error or "").startswith("window closed: only an approved template can be sent")
    with bed.db.read_session() as session:
        [listed] = queries.ticket_rows(session)
    assert listed["delivery"] == "dead" and "only an approved template" in listed["delivery_error"]
