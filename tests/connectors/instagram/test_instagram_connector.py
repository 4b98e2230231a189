"""Instagram connector: the Messenger envelope with object "instagram", the 1000-byte text limit, story
replies and seen receipts, and the same windows (subcode 2534022) against the fake Graph API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from connectors.base import Button, DeliveryError, EventKind, OutboundMessage, PayloadInvalid, WebhookRequest
from connectors.meta import InstagramConnector, meta_json, sign
from fakes.meta import INSTAGRAM_ID, FakeMetaGraph

FIXTURES = Path(__file__).parent / "fixtures"
APP_SECRET = "0a9b8c7d6e5f40312233445566778899"
TOKEN = "IGQVJtoken0123456789"
IGSID = "1034000000000001"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def connector(api_base: str = "http://127.0.0.1:9/v25.0") -> InstagramConnector:
    return InstagramConnector(APP_SECRET, "verify-me", TOKEN, api_base, clock=lambda: NOW)


def signed(body: bytes) -> WebhookRequest:
    return WebhookRequest("POST", CIMultiDict({"X-Hub-Signature-256": sign(APP_SECRET, body)}), {}, body)


def parse(name: str) -> list[Any]:
    request = signed(meta_json(json.loads((FIXTURES / f"{name}.json").read_bytes())))
    connector().verify(request)
    return connector().parse(request)


def test_capabilities_count_utf8_bytes_up_to_1000() -> None:
    caps = InstagramConnector.capabilities
    assert (caps.max_text_length, caps.length_unit) == (1000, "bytes")
    assert caps.messaging_window == timedelta(hours=24) and caps.human_agent_window == timedelta(days=7)


def test_arabic_direct_message_is_keyed_by_mid_on_the_account_thread() -> None:
    [event] = parse("messages__text")
    assert (event.kind, event.event_id) == (EventKind.MESSAGE, "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx")
    assert (event.account_ref, event.thread_ref, event.user_ref) == (INSTAGRAM_ID, f"{INSTAGRAM_ID}:{IGSID}", IGSID)
    assert "الحساب البنكي" in event.text


def test_echo_is_an_echo_on_the_citizens_thread() -> None:
    [event] = parse("messages__echo")
    assert (event.kind, event.user_ref) == (EventKind.ECHO, IGSID)


def test_story_reply_keeps_the_story_as_quote_and_reference() -> None:
    [event] = parse("messages__story_reply")
    assert event.reply_to_ref == "story:17900000000000001"
    assert [(a.type, a.name) for a in event.attachments] == [("image", "story")]


def test_story_mention_and_reel_share_are_attachment_references() -> None:
    [mention] = parse("messages__story_mention")
    [reel] = parse("messages__ig_reel_share")
    assert [a.type for a in mention.attachments] == ["image"]
    assert [(a.type, a.name) for a in reel.attachments] == [("video", "التقويم الدراسي 1448")]


def test_seen_receipt_is_a_status_keyed_by_the_seen_mid() -> None:
    [event] = parse("messaging_seen__read")
    assert (event.kind, event.event_id) == (
        EventKind.STATUS,
        f"read:{IGSID}:aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQy",
    )


def test_buttons_and_quick_replies_are_postbacks() -> None:
    [button] = parse("messaging_postbacks__button")
    [quick] = parse("messages__quick_reply")
    assert (button.kind, button.postback) == (EventKind.POSTBACK, "objection:1448-000124")
    assert (quick.kind, quick.postback) == (EventKind.POSTBACK, "rating:1")


def test_deleted_message_does_not_collide_with_the_original() -> None:
    [original] = parse("messages__text")
    [deleted] = parse("messages__deleted")
    assert deleted.kind is EventKind.UNSUPPORTED and deleted.event_id == f"{original.event_id}:deleted"


def test_a_page_body_on_the_instagram_endpoint_is_refused() -> None:
    with pytest.raises(PayloadInvalid) as exc:
        connector().parse(signed(b'{"object":"page","entry":[]}'))
    assert "object must be 'instagram'" in exc.value.message


@pytest.fixture
async def graph() -> AsyncIterator[FakeMetaGraph]:
    fake = await FakeMetaGraph(APP_SECRET, instagram_token=TOKEN).start()
    fake.clock = NOW.timestamp
    yield fake
    await fake.stop()


@pytest.fixture
async def instagram(graph: FakeMetaGraph) -> AsyncIterator[InstagramConnector]:
    conn = connector(graph.api_base)
    yield conn
    await conn.aclose()


def reply(
    text: str, *, author: str = "bot", wrote_ago: timedelta | None = timedelta(hours=2), **kw: Any
) -> OutboundMessage:
    return OutboundMessage(
        channel="instagram",
        account_ref=INSTAGRAM_ID,
        thread_ref=f"{INSTAGRAM_ID}:{IGSID}",
        user_ref=IGSID,
        text=text,
        author=author,
        last_inbound_at=NOW - wrote_ago if wrote_ago else None,
        **kw,
    )


async def test_reply_goes_to_me_messages_with_quick_replies(
    graph: FakeMetaGraph, instagram: InstagramConnector
) -> None:
    graph.user_wrote("instagram", IGSID, NOW - timedelta(hours=2))
    await instagram.send(reply("هل تم حل مشكلتك؟", buttons=(Button("نعم", "solved:yes"), Button("لا", "solved:no"))))
    [sent] = graph.sent
    assert (sent.node, sent.recipient, sent.messaging_type) == ("me", IGSID, "RESPONSE")
    assert sent.buttons == [("نعم", "solved:yes"), ("لا", "solved:no")]


async def test_the_fake_refuses_text_over_1000_bytes_even_under_1000_characters(
    graph: FakeMetaGraph, instagram: InstagramConnector
) -> None:
    graph.user_wrote("instagram", IGSID, NOW)
    text = "ش" * 600  # 600 characters, 1200 bytes
    with pytest.raises(DeliveryError) as exc:
        await instagram.send(reply(text))
    assert not exc.value.retryable and "1000" in exc.value.reason


async def test_coordinator_reply_within_seven_days_uses_human_agent(
    graph: FakeMetaGraph, instagram: InstagramConnector
) -> None:
    graph.user_wrote("instagram", IGSID, NOW - timedelta(days=5))
    await instagram.send(reply("تمت معالجة طلبك", author="coordinator", wrote_ago=timedelta(days=5)))
    assert (graph.sent[0].messaging_type, graph.sent[0].tag) == ("MESSAGE_TAG", "HUMAN_AGENT")


async def test_instagrams_own_window_error_is_terminal_and_readable(
    graph: FakeMetaGraph, instagram: InstagramConnector
) -> None:
    graph.user_wrote("instagram", IGSID, NOW - timedelta(days=2))
    with pytest.raises(DeliveryError) as exc:
        await instagram.send(reply("مرحبا", wrote_ago=None))
    assert not exc.value.retryable and exc.value.code == "10/2534022"
    assert exc.value.reason.startswith("window closed: Instagram allows replies only within 24 hours")
