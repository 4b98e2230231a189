"""Delivery through the outbox to local fake platforms: success, retries with backoff, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from connectors.base import EventKind, InboundEvent
from connectors.registry import ConnectorRegistry
from fakes.portal import FakePortal
from fakes.telegram import FakeTelegram
from hub.delivery import DeliveryService
from hub.runtime import Runtime
from tests.helpers import make_settings
from ticket_core import queries
from ticket_core.db import Database
from ticket_core.inbox import store_events
from ticket_core.models import AuditEvent, Message, OutboxMessage, OutboxStatus, utcnow


class Hub:
    """A runtime wired to fake platforms, plus helpers to make outbox rows the real way."""

    def __init__(self, runtime: Runtime, telegram: FakeTelegram, portal: FakePortal) -> None:
        self.runtime = runtime
        self.telegram = telegram
        self.portal = portal
        self.db = runtime.db
        self._next = 1

    @property
    def delivery(self) -> DeliveryService:
        return self.runtime.delivery

    def reply_for(self, text: str, *, channel: str = "telegram", user: str = "555") -> int:
        """Run a citizen message through intake; return the id of the reply in the outbox."""
        self._next += 1
        event = InboundEvent(
            channel=channel,
            account_ref=self.runtime.registry.get(channel).account_ref,
            event_id=f"e{self._next}",
            kind=EventKind.MESSAGE,
            thread_ref=user,
            user_ref=user,
            text=text,
        )
        with self.db.session() as session:
            [stored] = store_events(session, [event])
        assert stored.inbox_id is not None
        outcome = self.runtime.pipeline.process(stored.inbox_id)
        return outcome.outbox_ids[0]

    def row(self, outbox_id: int) -> OutboxMessage:
        with self.db.read_session() as session:
            row = session.get(OutboxMessage, outbox_id)
            assert row is not None
            return row

    def make_due(self, outbox_id: int) -> None:
        with self.db.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(next_attempt_at=utcnow()))


@pytest.fixture
async def hub(tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path) -> AsyncIterator[Hub]:
    telegram = await FakeTelegram(secrets_["telegram_token"]).start()
    portal = await FakePortal(secrets_["portal_secret"]).start()
    settings = make_settings(
        tmp_path,
        db.url,
        secrets_,
        nlu_model_path,
        telegram_api_base=f"{telegram.url}/bot",
        portal_callback_url=f"{portal.url}/callback",
        outbox_max_attempts=3,
    )
    runtime = Runtime(settings)
    runtime.db = db
    runtime.registry = ConnectorRegistry.from_settings(settings)
    yield Hub(runtime, telegram, portal)
    await runtime.registry.aclose()
    await telegram.stop()
    await portal.stop()


async def test_reply_reaches_telegram_with_the_ticket_number(hub: Hub) -> None:
    outbox_id = hub.reply_for("المعلم يضرب الطلاب في الفصل وما أحد يحاسبه")
    outcome = await hub.delivery.deliver(outbox_id)
    assert outcome.status == "sent"
    row = hub.row(outbox_id)
    assert row.status is OutboxStatus.SENT and row.attempts == 1 and row.sent_at is not None
    [sent] = hub.telegram.sent
    assert sent.chat_id == 555 and row.content["ticket_number"] in sent.text
    with hub.db.read_session() as session:
        message = session.execute(select(Message).where(Message.outbox_id == outbox_id)).scalar_one()
    assert message.platform_message_id == str(sent.message_id)


async def test_arabic_reply_arrives_byte_exact(hub: Hub) -> None:
    outbox_id = hub.reply_for("السلام عليكم")
    await hub.delivery.deliver(outbox_id)
    assert hub.telegram.sent[0].text.encode() == hub.row(outbox_id).text.encode()


async def test_flood_429_is_retried_after_the_platforms_retry_after(hub: Hub) -> None:
    outbox_id = hub.reply_for("تأخر صرف العلاوة السنوية للمعلمين")
    hub.telegram.fail_next(1, status=429, retry_after=7)
    outcome = await hub.delivery.deliver(outbox_id)
    row = hub.row(outbox_id)
    assert outcome.status == "retry" and row.status is OutboxStatus.RETRY
    assert outcome.retry_in_s is not None and outcome.retry_in_s >= 7
    assert row.next_attempt_at - utcnow() > timedelta(seconds=6)
    assert "429" in (row.last_error or "")
    assert (await hub.delivery.deliver(outbox_id)).status == "skipped"  # not due yet
    hub.make_due(outbox_id)
    assert (await hub.delivery.deliver(outbox_id)).status == "sent"
    assert len(hub.telegram.sent) == 1 and hub.row(outbox_id).attempts == 2


async def test_server_errors_back_off_then_dead_letter_visibly(hub: Hub) -> None:
    outbox_id = hub.reply_for("نظام نور معطل من الصباح وما قدرت أسجل بنتي")
    hub.telegram.fail_next(10, status=500)
    delays = []
    for _ in range(3):
        hub.make_due(outbox_id)
        outcome = await hub.delivery.deliver(outbox_id)
        delays.append(outcome.retry_in_s)
    row = hub.row(outbox_id)
    assert row.status is OutboxStatus.DEAD and row.attempts == 3
    assert delays[0] is not None and delays[1] is not None and delays[1] > delays[0]  # exponential
    assert delays[2] is None
    with hub.db.read_session() as session:
        dead = session.execute(select(AuditEvent).where(AuditEvent.action == "delivery.dead")).scalar_one()
        [listed] = queries.ticket_rows(session)
    assert "gave up after 3 attempts" in (dead.reason or "")
    assert listed["delivery"] == "dead" and "Internal Server Error" in listed["delivery_error"]


async def test_blocked_user_is_terminal_at_once_with_the_reason(hub: Hub) -> None:
    outbox_id = hub.reply_for("ابغى اعرف موعد نزول الراتب", user="777")
    hub.telegram.block(777)
    outcome = await hub.delivery.deliver(outbox_id)
    row = hub.row(outbox_id)
    assert outcome.status == "dead" and row.attempts == 1
    assert "blocked" in (row.last_error or "") and "403" in (row.last_error or "")


async def test_long_reply_is_split_and_resumes_after_a_failed_part(hub: Hub) -> None:
    outbox_id = hub.reply_for("متى تبدأ إجازة منتصف العام؟")
    long_text = ("نفيدكم بأن إجازة منتصف العام تبدأ بنهاية دوام يوم الخميس وفق التقويم الدراسي المعتمد، " * 80).strip()
    with hub.db.session() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(text=long_text))
    hub.telegram.fail_next(0)
    # The first part goes out, the second fails with a 502, the retry sends only what is missing.
    sent_before = len(hub.telegram.sent)
    original = hub.telegram._api_sendmessage
    calls = {"n": 0}

    async def flaky(params):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            from aiohttp import web

            return web.json_response({"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502)
        return await original(params)

    hub.telegram._api_sendmessage = flaky  # type: ignore[method-assign]
    assert (await hub.delivery.deliver(outbox_id)).status == "retry"
    assert hub.row(outbox_id).parts_sent == 1
    hub.make_due(outbox_id)
    assert (await hub.delivery.deliver(outbox_id)).status == "sent"
    parts = [m.text for m in hub.telegram.sent[sent_before:]]
    assert len(parts) == 2 and all(len(p) <= 4096 for p in parts)
    assert " ".join(parts).split() == long_text.split()


async def test_rate_limit_keeps_sends_under_the_platforms_flood_limit(hub: Hub) -> None:
    hub.telegram.rate_per_s = 10  # the fake answers 429 above 10 messages per second
    ids = [hub.reply_for(f"استفسار رقم {i} عن النقل المدرسي", user=str(1000 + i)) for i in range(15)]
    hub.runtime.delivery._rates["telegram"] = 4.0  # at most 4 saved + 4/s: under the fake's 10/s
    hub.runtime.delivery._buckets.clear()
    outcomes = await hub.delivery.deliver_many(ids)
    assert [o.status for o in outcomes] == ["sent"] * 15
    assert len(hub.telegram.sent) == 15  # no 429 was ever answered, so no retry was needed


async def test_a_row_held_by_a_slow_rate_limit_keeps_its_lease_or_is_not_sent(hub: Hub) -> None:
    """A claimed row can wait on its channel's token bucket longer than its lease (X allows one
    send a second). The sender renews the lease before sending; a row the sweeper or another
    worker took over meanwhile (its attempt changed) is not sent a second time by this one."""
    ids = [hub.reply_for(f"استفسار رقم {i} عن النقل المدرسي", user=str(2000 + i)) for i in range(3)]
    delivery = hub.runtime.delivery
    delivery.lease = timedelta(seconds=0.4)
    delivery._rates["telegram"] = 4.0  # burst 4: the first three go at once
    delivery._buckets.clear()
    assert [o.status for o in await delivery.deliver_many(ids[:1])] == ["sent"]
    delivery._rates["telegram"] = 1.0  # burst 1, then one a second: well past half the lease
    delivery._buckets.clear()
    task = asyncio.ensure_future(delivery.deliver_many(ids[1:]))
    while len(hub.telegram.sent) < 2:
        await asyncio.sleep(0.01)
    with hub.db.session() as session:  # the sweeper took the third row back, another worker claimed it
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == ids[2]).values(attempts=OutboxMessage.attempts + 1)
        )
    outcomes = await task
    assert [o.status for o in outcomes] == ["sent", "skipped"]
    assert len(hub.telegram.sent) == 2
    assert hub.row(ids[2]).status is OutboxStatus.SENDING  # left to its new owner, untouched

    # Nobody took it over: the lease is renewed and the row goes out.
    fresh = hub.reply_for("متى يبدأ النقل المدرسي؟", user="2999")
    delivery._buckets.clear()
    await delivery.deliver_many([fresh])  # uses up the burst
    later = [hub.reply_for(f"سؤال {i} عن الباص", user=str(3000 + i)) for i in range(3)]
    outcomes = await delivery.deliver_many(later)
    assert [o.status for o in outcomes] == ["sent"] * 3
    assert all(hub.row(i).status is OutboxStatus.SENT and hub.row(i).attempts == 1 for i in later)


async def test_portal_reply_is_signed_and_a_retry_is_deduplicated_by_the_receiver(hub: Hub) -> None:
    outbox_id = hub.reply_for("ابغى أعرف شروط الابتعاث للماجستير", channel="portal", user="u-1")
    assert (await hub.delivery.deliver(outbox_id)).status == "sent"
    [delivery] = hub.portal.deliveries
    assert delivery["user_id"] == "u-1" and delivery["ticket_number"] in delivery["text"]
    assert hub.portal.rejected_signatures == 0
    # The same delivery id again (e.g. a worker died after the portal stored it) is not stored twice.
    with hub.db.session() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id)
            .values(status=OutboxStatus.RETRY, parts_sent=0, next_attempt_at=utcnow())
        )
    assert (await hub.delivery.deliver(outbox_id)).status == "sent"
    assert len(hub.portal.deliveries) == 1 and hub.portal.attempts == 2


async def test_portal_429_with_retry_after_is_honoured(hub: Hub) -> None:
    outbox_id = hub.reply_for("كيف أعادل شهادتي؟", channel="portal", user="u-2")
    hub.portal.fail_next(1, status=429, retry_after=30)
    outcome = await hub.delivery.deliver(outbox_id)
    assert outcome.status == "retry" and outcome.retry_in_s is not None and outcome.retry_in_s >= 30


async def test_portal_4xx_is_terminal(hub: Hub) -> None:
    outbox_id = hub.reply_for("عندي سؤال عن القبول", channel="portal", user="u-3")
    hub.portal.fail_next(1, status=400)
    assert (await hub.delivery.deliver(outbox_id)).status == "dead"


async def test_channel_health_records_the_last_success_and_the_last_error(hub: Hub) -> None:
    from ticket_core import health

    ok = hub.reply_for("متى تبدأ إجازة منتصف العام؟", user="801")
    bad = hub.reply_for("ابي اعرف موعد نزول الراتب", user="802")
    hub.telegram.block(802)
    await hub.delivery.deliver_many([ok, bad])
    with hub.db.read_session() as session:
        seen = health.all_health(session)["telegram"]
    assert seen["sent"] == 1 and seen["failed"] == 1
    assert seen["last_success_at"] and seen["last_error_at"] and "blocked" in seen["last_error"]
