"""Replies through the outbox to the fake Bot Connector: tokens, Arabic, buttons, splitting, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from connectors.base import InboundEvent, OutboundMessage
from connectors.botframework import BotFrameworkConnector, parse_thread_ref
from connectors.registry import ConnectorRegistry
from fakes.botframework import FakeBotFramework
from hub.runtime import Runtime
from tests.connectors.skype.support import APP_ID, APP_PASSWORD, request
from tests.helpers import make_settings
from ticket_core.db import Database
from ticket_core.inbox import store_events
from ticket_core.models import OutboxMessage, OutboxStatus, utcnow


class Hub:
    """A runtime wired to the fake Bot Framework; citizens' messages go through the real intake."""

    def __init__(self, runtime: Runtime, fake: FakeBotFramework) -> None:
        self.runtime = runtime
        self.fake = fake
        self.db = runtime.db

    @property
    def connector(self) -> BotFrameworkConnector:
        connector = self.runtime.registry.get("skype")
        assert isinstance(connector, BotFrameworkConnector)
        return connector

    def incoming(self, channel: str, text: str, **activity: Any) -> InboundEvent:
        """A citizen's activity, parsed by the connector exactly as the webhook would."""
        body = json.dumps(self.fake.activity(channel, text, **activity), ensure_ascii=False).encode()
        [event] = self.connector.parse(request(body))
        return event

    def reply_for(self, channel: str, text: str, **activity: Any) -> tuple[int, InboundEvent]:
        """Run a citizen message through intake; the id of the reply in the outbox, and the event."""
        event = self.incoming(channel, text, **activity)
        with self.db.session() as session:
            [stored] = store_events(session, [event])
        assert stored.inbox_id is not None
        outcome = self.runtime.pipeline.process(stored.inbox_id)
        return outcome.outbox_ids[0], event

    def edit(self, outbox_id: int, **values: Any) -> None:
        with self.db.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(**values))

    def row(self, outbox_id: int) -> OutboxMessage:
        with self.db.read_session() as session:
            row = session.get(OutboxMessage, outbox_id)
            assert row is not None
            return row

    def make_due(self, outbox_id: int) -> None:
        self.edit(outbox_id, next_attempt_at=utcnow())

    async def deliver(self, outbox_id: int) -> str:
        return (await self.runtime.delivery.deliver(outbox_id)).status


def build_hub(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu: Path, fake: FakeBotFramework, **extra: Any
) -> Hub:
    settings = make_settings(
        tmp_path,
        db.url,
        secrets_,
        nlu,
        botframework_app_id=APP_ID,
        botframework_app_password=extra.pop("password", APP_PASSWORD),
        botframework_openid_url=fake.openid_url,
        botframework_token_url=fake.token_url,
        outbox_max_attempts=3,
        **extra,
    )
    runtime = Runtime(settings)
    runtime.db = db
    runtime.registry = ConnectorRegistry.from_settings(settings)
    return Hub(runtime, fake)


@pytest.fixture
async def hub(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path, fake: FakeBotFramework
) -> AsyncIterator[Hub]:
    hub = build_hub(tmp_path, db, secrets_, nlu_model_path, fake)
    yield hub
    await hub.runtime.registry.aclose()


async def test_reply_reaches_the_teams_conversation_with_the_ticket_number(hub: Hub) -> None:
    outbox_id, event = hub.reply_for("msteams", "المعلم يضرب الطلاب في الفصل وما أحد يحاسبه")
    assert await hub.deliver(outbox_id) == "sent"
    row = hub.row(outbox_id)
    [delivery] = hub.fake.deliveries
    ref = parse_thread_ref(event.thread_ref)
    assert delivery.conversation_id == ref.conversation_id
    assert row.content["ticket_number"] in delivery.text
    assert delivery.activity["recipient"] == {"id": event.user_ref}
    assert delivery.activity["channelData"] == {"tenant": {"id": ref.tenant_id}}
    assert row.platform_message_ids == [delivery.activity_id]
    assert delivery.token in hub.fake.issued  # the bearer token came from the client-credentials grant


@pytest.mark.parametrize("channel", ["skype", "msteams", "webchat"])
async def test_arabic_reply_arrives_byte_exact_on_every_channel(hub: Hub, channel: str) -> None:
    outbox_id, _ = hub.reply_for(channel, "السلام عليكم")
    assert await hub.deliver(outbox_id) == "sent"
    assert hub.fake.deliveries[0].text.encode("utf-8") == hub.row(outbox_id).text.encode("utf-8")


async def test_reply_to_a_stored_activity_uses_the_reply_endpoint(hub: Hub) -> None:
    outbox_id, event = hub.reply_for("webchat", "متى تبدأ إجازة منتصف العام؟")
    hub.edit(outbox_id, content={**hub.row(outbox_id).content, "reply_to": event.event_id})
    assert await hub.deliver(outbox_id) == "sent"
    [delivery] = hub.fake.deliveries
    activity_id = event.raw["id"]
    assert delivery.reply_to_id == activity_id == delivery.activity["replyToId"]


async def test_one_token_serves_many_sends_until_it_nears_expiry(hub: Hub) -> None:
    for i in range(3):
        outbox_id, _ = hub.reply_for("msteams", f"استفسار رقم {i} عن النقل المدرسي")
        assert await hub.deliver(outbox_id) == "sent"
    assert hub.fake.token_requests == 1
    assert hub.connector.token_expires_at is not None and hub.connector.token_expires_at > utcnow()


async def test_a_revoked_token_is_replaced_once_and_the_reply_still_goes_out(hub: Hub) -> None:
    first, _ = hub.reply_for("msteams", "السلام عليكم")
    assert await hub.deliver(first) == "sent"
    hub.fake.revoke_tokens()
    second, _ = hub.reply_for("msteams", "متى يصرف الراتب؟")
    assert await hub.deliver(second) == "sent"
    assert hub.fake.token_requests == 2 and len(hub.fake.deliveries) == 2


async def test_a_token_refused_twice_is_dead_and_asks_to_re_authorise(hub: Hub) -> None:
    outbox_id, _ = hub.reply_for("msteams", "عندي شكوى على المدرسة")
    hub.fake.fail_next(2, status=401, code="Unauthorized", message="Authorization has been denied")
    assert await hub.deliver(outbox_id) == "dead"
    row = hub.row(outbox_id)
    assert row.attempts == 1 and "re-authorise" in (row.last_error or "") and "http=401" in (row.last_error or "")
    assert hub.fake.token_requests == 2


async def test_wrong_app_password_is_dead_with_the_login_reason(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path, fake: FakeBotFramework
) -> None:
    hub = build_hub(tmp_path, db, secrets_, nlu_model_path, fake, password="an-expired-client-secret")
    try:
        outbox_id, _ = hub.reply_for("msteams", "السلام عليكم")
        assert await hub.deliver(outbox_id) == "dead"
        error = hub.row(outbox_id).last_error or ""
        assert "re-authorise" in error and "AADSTS7000215" in error and "an-expired" not in error
        assert hub.fake.deliveries == [] and hub.fake.connector_calls == 0
    finally:
        await hub.runtime.registry.aclose()


async def test_throttling_429_is_retried_after_the_retry_after(hub: Hub) -> None:
    outbox_id, _ = hub.reply_for("msteams", "تأخر صرف العلاوة السنوية للمعلمين")
    hub.fake.fail_next(1, status=429, retry_after=7)
    outcome = await hub.runtime.delivery.deliver(outbox_id)
    assert outcome.status == "retry" and outcome.retry_in_s is not None and outcome.retry_in_s >= 7
    row = hub.row(outbox_id)
    assert row.status is OutboxStatus.RETRY and "429" in (row.last_error or "")
    assert await hub.deliver(outbox_id) == "skipped"  # not due yet
    hub.make_due(outbox_id)
    assert await hub.deliver(outbox_id) == "sent"
    assert len(hub.fake.deliveries) == 1


async def test_server_errors_back_off_then_dead_letter(hub: Hub) -> None:
    outbox_id, _ = hub.reply_for("skype", "نظام نور معطل من الصباح وما قدرت أسجل بنتي")
    hub.fake.fail_next(10, status=502)
    statuses = []
    for _ in range(3):
        hub.make_due(outbox_id)
        statuses.append(await hub.deliver(outbox_id))
    assert statuses == ["retry", "retry", "dead"]
    assert "unavailable (502)" in (hub.row(outbox_id).last_error or "")


async def test_a_citizen_who_blocked_the_bot_is_terminal_at_once(hub: Hub) -> None:
    outbox_id, event = hub.reply_for("msteams", "ابغى اعرف موعد نزول الراتب")
    hub.fake.block(parse_thread_ref(event.thread_ref).conversation_id)
    assert await hub.deliver(outbox_id) == "dead"
    row = hub.row(outbox_id)
    assert (
        row.attempts == 1
        and "blocked" in (row.last_error or "")
        and "ConversationBlockedByUser" in (row.last_error or "")
    )


async def test_a_deleted_conversation_is_terminal(hub: Hub) -> None:
    outbox_id, _ = hub.reply_for("webchat", "عندي سؤال عن القبول")
    hub.fake.accept_any_conversation = False
    assert await hub.deliver(outbox_id) == "dead"
    assert "conversation not found" in (hub.row(outbox_id).last_error or "")


async def test_long_reply_is_split_within_the_channel_limit(hub: Hub) -> None:
    outbox_id, _ = hub.reply_for("msteams", "متى تبدأ إجازة منتصف العام؟")
    long_text = ("نفيدكم بأن إجازة منتصف العام تبدأ بنهاية دوام يوم الخميس وفق التقويم الدراسي المعتمد، " * 120).strip()
    hub.edit(outbox_id, text=long_text)
    assert await hub.deliver(outbox_id) == "sent"
    parts = [d.text for d in hub.fake.deliveries]
    limit = BotFrameworkConnector.capabilities.max_text_length
    assert len(parts) >= 3 and all(len(p) <= limit for p in parts)
    assert " ".join(parts).split() == long_text.split()
    assert len(hub.row(outbox_id).platform_message_ids) == len(parts)


async def test_buttons_become_a_hero_card_whose_presses_come_back_as_postbacks(hub: Hub) -> None:
    outbox_id, event = hub.reply_for("msteams", "شكرا لكم")
    buttons = [{"title": "ممتاز", "payload": "rating:5"}, {"title": "ضعيف", "payload": "rating:1"}]
    hub.edit(outbox_id, content={**hub.row(outbox_id).content, "buttons": buttons})
    assert await hub.deliver(outbox_id) == "sent"
    [delivery] = hub.fake.deliveries
    assert [(b["type"], b["title"], b["value"]) for b in delivery.buttons] == [
        ("messageBack", "ممتاز", {"payload": "rating:5"}),
        ("messageBack", "ضعيف", {"payload": "rating:1"}),
    ]
    # The citizen presses the first button: Teams posts a message carrying its value.
    press = hub.incoming(
        "msteams",
        "ممتاز",
        conversation_id=parse_thread_ref(event.thread_ref).conversation_id,
        value=delivery.buttons[0]["value"],
    )
    assert (press.kind.value, press.postback) == ("postback", "rating:5")


async def test_more_buttons_than_a_card_shows_fall_back_to_numbered_text(hub: Hub) -> None:
    outbox_id, _ = hub.reply_for("webchat", "شكرا")
    buttons = [{"title": f"خيار {i}", "payload": f"p{i}"} for i in range(1, 9)]
    hub.edit(outbox_id, content={**hub.row(outbox_id).content, "buttons": buttons})
    assert await hub.deliver(outbox_id) == "sent"
    [delivery] = hub.fake.deliveries
    assert delivery.buttons == [] and "8. خيار 8" in delivery.text


async def test_the_rate_limit_keeps_one_conversation_under_the_teams_per_thread_limit(hub: Hub) -> None:
    user = "29:1-same-citizen"
    ids = [hub.reply_for("skype", f"استفسار رقم {i}", user_id=user, conversation_id=user)[0] for i in range(12)]
    hub.runtime.delivery._rates["skype"] = 3.0  # at most 3 saved + 3/s: under the fake's 7 per second
    hub.runtime.delivery._buckets.clear()
    outcomes = await hub.runtime.delivery.deliver_many(ids)
    assert [o.status for o in outcomes] == ["sent"] * 12
    assert len(hub.fake.texts_to(user)) == 12  # no 429 was answered, so nothing waits for a retry


async def test_a_service_url_off_the_allow_list_never_receives_the_token(hub: Hub) -> None:
    stranger = FakeBotFramework(APP_ID, APP_PASSWORD).start_in_thread()  # another origin
    try:
        outbox_id, event = hub.reply_for("webchat", "السلام عليكم")
        ref = parse_thread_ref(event.thread_ref)
        hub.edit(outbox_id, thread_ref=f"{ref.conversation_id}|{stranger.service_url}")
        assert await hub.deliver(outbox_id) == "dead"
        assert "not a Bot Framework host" in (hub.row(outbox_id).last_error or "")
        assert stranger.connector_calls == 0 and hub.fake.token_requests == 0
    finally:
        stranger.stop_thread()


async def test_no_messaging_window_a_month_old_conversation_is_still_answered(hub: Hub) -> None:
    event = hub.incoming("msteams", "السلام عليكم")
    month_ago = utcnow() - timedelta(days=30)
    for author in ("bot", "coordinator"):
        result = await hub.connector.send(
            OutboundMessage(
                channel=event.channel,
                account_ref=event.account_ref,
                thread_ref=event.thread_ref,
                user_ref=event.user_ref,
                text="نعتذر عن التأخر في الرد",
                author=author,
                last_inbound_at=month_ago,
            )
        )
        assert result.platform_message_id
    assert BotFrameworkConnector.capabilities.messaging_window is None
    assert len(hub.fake.deliveries) == 2
