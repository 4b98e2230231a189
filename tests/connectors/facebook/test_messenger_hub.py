"""Messenger through the real hub: the webhook route on a real database, and replies through the outbox
and DeliveryService to the fake Graph API (retries, rate limits, dead letters, windows)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.meta import SIGNATURE_HEADER
from fakes.meta import PAGE_ID
from tests.connectors.facebook.testbed import MetaTestbed, meta_testbed, post_webhook
from ticket_core import queries
from ticket_core.db import Database
from ticket_core.models import AuditEvent, InboxEvent, InboxStatus, OutboxStatus, utcnow

PSID = "6750000000000001"


@pytest.fixture
async def bed(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path
) -> AsyncIterator[MetaTestbed]:
    async with meta_testbed(tmp_path, db, secrets_, nlu_model_path) as testbed:
        yield testbed


# --- the webhook route ------------------------------------------------------------------------------


async def test_signed_arabic_webhook_is_stored_then_acknowledged(bed: MetaTestbed) -> None:
    call = bed.fake.messenger_message(PSID, "السلام عليكم، متى يفتح التسجيل في رياض الأطفال؟", mid="m_hub_0001")
    assert b"\\u0627\\u0644\\u0633\\u0644\\u0627\\u0645" in call.body  # escaped on the wire, as Meta sends it
    async with bed.web() as client:
        status, answer = await post_webhook(client, "facebook", call.body, call.headers)
    assert (status, answer) == (200, {"ok": True, "stored": 1, "duplicates": 0})
    with bed.db.read_session() as session:
        row = session.execute(select(InboxEvent)).scalar_one()
    assert (row.channel, row.account_ref, row.event_id, row.status) == (
        "facebook",
        PAGE_ID,
        "m_hub_0001",
        InboxStatus.PENDING,
    )
    assert row.event["thread_ref"] == f"{PAGE_ID}:{PSID}" and "رياض الأطفال" in row.event["text"]


async def test_batched_webhook_stores_every_item(bed: MetaTestbed) -> None:
    body = (Path(__file__).parent / "fixtures" / "messages__batch.json").read_bytes()
    call = bed.fake.signed("facebook", json.loads(body))
    async with bed.web() as client:
        status, answer = await post_webhook(client, "facebook", call.body, call.headers)
    assert status == 200 and answer["stored"] == 3
    assert bed.inbox_count() == 3


async def test_same_delivery_three_times_is_one_inbox_row(bed: MetaTestbed) -> None:
    call = bed.fake.messenger_message(PSID, "وش شروط النقل الخارجي؟", mid="m_dup_0001")
    async with bed.web() as client:
        answers = [await post_webhook(client, "facebook", call.body, call.headers) for _ in range(3)]
    assert [a[1]["duplicates"] for a in answers] == [0, 1, 1]
    assert bed.inbox_count() == 1


async def test_bad_missing_and_reserialised_signatures_are_refused_and_nothing_stored(bed: MetaTestbed) -> None:
    call = bed.fake.messenger_message(PSID, "مرحبا", mid="m_sig_0001")
    reserialised = json.dumps(json.loads(call.body), ensure_ascii=False).encode()
    async with bed.web() as client:
        bad = await post_webhook(
            client, "facebook", call.body, {**call.headers, SIGNATURE_HEADER: "sha256=" + "a" * 64}
        )
        missing = await post_webhook(client, "facebook", call.body, {"Content-Type": "application/json"})
        rewritten = await post_webhook(client, "facebook", reserialised, call.headers)
    assert (bad[0], bad[1]["error"]) == (403, "signature_invalid")
    assert (missing[0], missing[1]["error"]) == (401, "signature_missing")
    assert rewritten[0] == 403
    assert bed.inbox_count() == 0


async def test_subscription_handshake_through_the_app(bed: MetaTestbed) -> None:
    async with bed.web() as client:
        ok = await client.get(
            "/webhooks/facebook",
            params={"hub.mode": "subscribe", "hub.verify_token": bed.keys.verify_token, "hub.challenge": "991337"},
        )
        wrong = await client.get(
            "/webhooks/facebook", params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "991337"}
        )
        assert (ok.status, await ok.text()) == (200, "991337")
        assert wrong.status == 403 and "991337" not in await wrong.text()


async def test_echoes_and_receipts_are_stored_as_ignored_and_not_enqueued(bed: MetaTestbed) -> None:
    fixtures = Path(__file__).parent / "fixtures"
    async with bed.web() as client:
        for name in ("message_echoes__echo", "message_reads__read", "message_deliveries__delivery"):
            call = bed.fake.signed("facebook", json.loads((fixtures / f"{name}.json").read_bytes()))
            status, answer = await post_webhook(client, "facebook", call.body, call.headers)
            assert status == 200 and answer["stored"] == 1
        assert client.published == []  # type: ignore[attr-defined]
    with bed.db.read_session() as session:
        rows = session.execute(select(InboxEvent)).scalars().all()
    assert {r.status for r in rows} == {InboxStatus.IGNORED}


async def test_an_instagram_body_on_the_messenger_endpoint_is_400_with_the_reason(bed: MetaTestbed) -> None:
    call = bed.fake.instagram_message("1034000000000001", "مرحبا")
    async with bed.web() as client:
        status, answer = await post_webhook(client, "facebook", call.body, call.headers)
    assert status == 400 and "object must be 'page'" in answer["message"]


# --- replies through the outbox ---------------------------------------------------------------------


async def test_arabic_reply_reaches_messenger_byte_exact_as_a_response(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.messenger_message(PSID, "المعلم يضرب الطلاب في الفصل وما أحد يحاسبه"))
    outcome = await bed.deliver(outbox_id)
    assert outcome.status == "sent"
    row = bed.row(outbox_id)
    [sent] = bed.fake.sent
    assert sent.text.encode() == row.text.encode() and row.content["ticket_number"] in sent.text
    assert (sent.node, sent.recipient, sent.messaging_type) == (PAGE_ID, PSID, "RESPONSE")
    assert row.platform_message_ids == [sent.message_id]


async def test_long_reply_is_split_within_messengers_2000_characters(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.messenger_message(PSID, "متى تبدأ إجازة منتصف العام؟"))
    long_text = ("نفيدكم بأن إجازة منتصف العام تبدأ بنهاية دوام يوم الخميس وفق التقويم الدراسي المعتمد، " * 60).strip()
    bed.set_text(outbox_id, long_text)
    assert (await bed.deliver(outbox_id)).status == "sent"
    parts = bed.fake.texts_to(PSID)
    assert len(parts) == 3 and all(len(p) <= 2000 for p in parts)
    assert " ".join(parts).split() == long_text.split()


async def test_rate_limit_613_is_retried_after_retry_after_then_sent(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.messenger_message(PSID, "تأخر صرف العلاوة السنوية للمعلمين"))
    bed.fake.fail_next(1, code=613, retry_after=20)
    outcome = await bed.deliver(outbox_id)
    row = bed.row(outbox_id)
    assert outcome.status == "retry" and outcome.retry_in_s is not None and outcome.retry_in_s >= 20
    assert row.next_attempt_at - utcnow() > timedelta(seconds=19)
    assert "code=613" in (row.last_error or "") and "rate limit" in (row.last_error or "")
    assert (await bed.deliver(outbox_id)).status == "skipped"  # not due yet
    bed.make_due(outbox_id)
    assert (await bed.deliver(outbox_id)).status == "sent"
    assert len(bed.fake.sent) == 1 and bed.row(outbox_id).attempts == 2


async def test_http_429_from_a_proxy_is_retried(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.messenger_message(PSID, "كيف أعادل شهادتي؟"))
    bed.fake.fail_next(1, code=None, status=429, message="Too Many Requests", retry_after=None)
    outcome = await bed.deliver(outbox_id)
    assert outcome.status == "retry" and "http=429" in (bed.row(outbox_id).last_error or "")


async def test_sends_stay_under_the_pages_rate_limit(bed: MetaTestbed) -> None:
    bed.fake.rate_per_s = 5  # the fake answers 613 above 5 calls in any second; 8 at once would exceed it
    ids = [
        bed.intake(bed.fake.messenger_message(f"67500000000001{i:02d}", f"استفسار رقم {i} عن النقل المدرسي"))[0]
        for i in range(8)
    ]
    # A burst of 2 plus 2/s puts at most 4 calls in any second: a margin under the fake's 5 for loopback jitter.
    bed.runtime.delivery._rates["facebook"] = 2.0
    bed.runtime.delivery._buckets.clear()
    outcomes = await bed.runtime.delivery.deliver_many(ids)
    assert [o.status for o in outcomes] == ["sent"] * 8
    assert all(r["status"] == 200 for r in bed.fake.requests)  # no 613 was ever answered


async def test_server_errors_back_off_then_dead_letter_visibly(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.messenger_message(PSID, "نظام نور معطل من الصباح"))
    bed.fake.fail_next(10, code=2)
    delays = []
    for _ in range(3):
        bed.make_due(outbox_id)
        delays.append((await bed.deliver(outbox_id)).retry_in_s)
    assert bed.row(outbox_id).status is OutboxStatus.DEAD
    assert delays[0] is not None and delays[1] is not None and delays[1] > delays[0] and delays[2] is None


async def test_window_closed_at_meta_is_dead_lettered_with_a_reason_the_coordinator_reads(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.messenger_message(PSID, "ابغى اعرف موعد نزول الراتب"))
    bed.fake.user_wrote("facebook", PSID, utcnow() - timedelta(days=3))  # the reply waited three days
    outcome = await bed.deliver(outbox_id)
    row = bed.row(outbox_id)
    assert outcome.status == "dead" and row.attempts == 1
    assert (row.last_error or "").startswith("window closed:") and "code=10/2018278" in (row.last_error or "")
    with bed.db.read_session() as session:
        dead = session.execute(select(AuditEvent).where(AuditEvent.action == "delivery.dead")).scalar_one()
        [listed] = queries.ticket_rows(session)
    assert "window closed" in (dead.reason or "")
    assert listed["delivery"] == "dead" and "window closed" in listed["delivery_error"]


async def test_blocked_citizen_is_dead_lettered_at_once(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.messenger_message(PSID, "عندي سؤال عن القبول"))
    bed.fake.block("facebook", PSID)
    assert (await bed.deliver(outbox_id)).status == "dead"
    assert "not reachable" in (bed.row(outbox_id).last_error or "")
