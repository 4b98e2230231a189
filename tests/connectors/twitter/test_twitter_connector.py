"""X connector: CRC answer, webhook signature, and parsing of Account Activity and X Activity payloads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from multidict import CIMultiDict

from connectors.base import (
    Button,
    EventKind,
    OutboundMessage,
    PayloadInvalid,
    SignatureInvalid,
    SignatureMissing,
    WebhookRequest,
)
from connectors.twitter import SIGNATURE_HEADER, TwitterConnector, sign
from hub.config import load_settings

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
US = "1500000000000000001"
NOURA = "2222222222222222222"
FAHAD = "3333333333333333333"


def connector() -> TwitterConnector:
    return TwitterConnector(
        consumer_key="xvz1evFS4wEEPTGEFPHBog",
        consumer_secret=SECRET,
        access_token=f"{US}-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        access_secret="LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
        user_id=US,
        api_base="http://127.0.0.1:1",
    )


def request(body: bytes, signature: str | None = "sign") -> WebhookRequest:
    headers = CIMultiDict({"Content-Type": "application/json"})
    if signature == "sign":
        headers[SIGNATURE_HEADER] = sign(SECRET, body)
    elif signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return WebhookRequest("POST", headers, {}, body)


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def parse(name: str) -> list:  # type: ignore[type-arg]
    return connector().parse(request(fixture(name)))


# --- CRC and signature --------------------------------------------------------------------------


def test_crc_answer_is_the_base64_hmac_of_the_token_under_the_consumer_secret() -> None:
    answer = connector().challenge(WebhookRequest("GET", CIMultiDict(), {"crc_token": "challenge_string"}, b""))
    assert answer is not None and answer.status == 200 and answer.content_type == "application/json"
    expected = base64.b64encode(hmac.new(SECRET.encode(), b"challenge_string", hashlib.sha256).digest()).decode()
    assert json.loads(answer.body) == {"response_token": "sha256=" + expected}


def test_crc_without_a_token_is_400() -> None:
    answer = connector().challenge(WebhookRequest("GET", CIMultiDict(), {}, b""))
    assert answer is not None and answer.status == 400


def test_signed_body_is_accepted() -> None:
    connector().verify(request(fixture("direct_message_events__text_arabic")))


def test_missing_signature_is_401() -> None:
    with pytest.raises(SignatureMissing) as exc:
        connector().verify(request(fixture("direct_message_events__text_arabic"), signature=None))
    assert exc.value.status == 401


def test_signature_of_another_body_or_key_is_403() -> None:
    body = fixture("direct_message_events__text_arabic")
    for bad in (sign(SECRET, body + b" "), sign(SECRET + "x", body), "sha256=", "garbage"):
        with pytest.raises(SignatureInvalid) as exc:
            connector().verify(request(body, signature=bad))
        assert exc.value.status == 403


def test_signature_is_checked_on_the_raw_bytes_not_re_serialised_json() -> None:
    # The same payload with Arabic escaped (as some senders do) is different bytes: its own signature
    # verifies, the UTF-8 body's does not.
    data = json.loads(fixture("direct_message_events__text_arabic"))
    escaped = json.dumps(data).encode()
    connector().verify(request(escaped))
    with pytest.raises(SignatureInvalid):
        connector().verify(request(escaped, signature=sign(SECRET, json.dumps(data, ensure_ascii=False).encode())))


# --- direct messages -----------------------------------------------------------------------------


def test_arabic_dm_is_a_message_in_the_one_to_one_conversation() -> None:
    [event] = parse("direct_message_events__text_arabic")
    assert event.kind is EventKind.MESSAGE
    assert (event.channel, event.account_ref, event.event_id) == ("twitter", US, "2080765901528535096")
    assert event.thread_ref == f"{US}-{NOURA}"  # X's {smaller id}-{larger id} conversation id
    assert event.user_ref == NOURA and event.user_display == "نورة العتيبي"
    assert event.text.startswith("السلام عليكم، أرغب في متابعة طلب الإعانة رقم 4471")
    assert event.sent_at is not None and event.sent_at.year == 2026


def test_same_dm_by_both_webhook_products_has_the_same_dedupe_key_and_thread() -> None:
    [aaa] = parse("direct_message_events__text_arabic")
    [xaa] = parse("dm.received__text_arabic")
    assert (aaa.event_id, aaa.thread_ref, aaa.user_ref, aaa.text) == (
        xaa.event_id,
        xaa.thread_ref,
        xaa.user_ref,
        xaa.text,
    )
    assert xaa.user_display == "نورة العتيبي"  # XAA wraps users in {"data": ...}


def test_dm_sent_by_the_service_account_is_an_echo_about_the_citizen() -> None:
    for name in ("direct_message_events__echo", "dm.sent__echo"):
        [event] = parse(name)
        assert event.kind is EventKind.ECHO
        assert event.user_ref == NOURA and event.thread_ref == f"{US}-{NOURA}"


def test_dm_photo_is_an_attachment_reference_and_its_link_leaves_the_text() -> None:
    [event] = parse("direct_message_events__photo")
    [photo] = event.attachments
    assert photo.type == "image" and photo.ref.startswith("https://ton.twitter.com/1.1/ton/data/dm/")
    assert event.text == "هذه صورة رسالة الرفض من نظام نور بعد رفع المستندات"


def test_quick_reply_answer_is_a_postback_with_its_metadata() -> None:
    [event] = parse("direct_message_events__quick_reply")
    assert event.kind is EventKind.POSTBACK and event.postback == "rating:5" and event.text == "راضٍ جداً"


def test_batch_delivery_yields_one_event_per_dm_in_order() -> None:
    events = parse("direct_message_events__batch")
    assert [e.event_id for e in events] == ["2080767311431827461", "2080767340544471048"]
    assert {e.thread_ref for e in events} == {f"{US}-{NOURA}"}


def test_event_for_another_subscribed_account_is_kept_but_not_acted_on() -> None:
    [event] = parse("direct_message_events__other_account")
    assert event.kind is EventKind.UNSUPPORTED and "4444444444444444444" in event.text


def test_typing_and_read_receipts_are_status_events_with_stable_ids() -> None:
    [typing] = parse("direct_message_indicate_typing_events")
    [read] = parse("direct_message_mark_read_events")
    [xaa_read] = parse("dm.read")
    assert typing.kind is read.kind is xaa_read.kind is EventKind.STATUS
    assert read.event_id == f"direct_message_mark_read_events:{NOURA}:2080766120871510017"
    assert parse("direct_message_indicate_typing_events")[0].event_id == typing.event_id


def test_likes_follows_and_encrypted_chats_are_unsupported_not_dropped() -> None:
    for name in ("favorite_events", "follow_events", "chat.received__encrypted"):
        [event] = parse(name)
        assert event.kind is EventKind.UNSUPPORTED, name
    assert "X Chat API" in parse("chat.received__encrypted")[0].text


# --- public posts --------------------------------------------------------------------------------


def test_mention_is_a_message_in_a_mention_thread_without_the_handle() -> None:
    [event] = parse("tweet_create_events__mention")
    assert event.kind is EventKind.MESSAGE
    assert event.event_id == "2080768112540577793"
    assert event.thread_ref == "mention:2080768112540577793"  # a new post is its own conversation
    assert event.user_ref == FAHAD and event.user_display == "فهد الدوسري"
    assert event.text.startswith("لم يصلني رد على طلب نقل ابني")
    assert event.language_hint == "ar"


def test_reply_to_the_service_keeps_what_it_answers() -> None:
    [event] = parse("tweet_create_events__reply_mention")
    assert event.kind is EventKind.MESSAGE and event.reply_to_ref == "2080700000000000001"
    assert event.text == "وهل يلزم إحضار شهادة السكن الأصلية؟"


def test_long_post_is_read_from_its_full_text() -> None:
    [event] = parse("tweet_create_events__longform_mention")
    assert len(event.text) > 280 and not event.text.endswith("https://t.co/Lf0rmXy12b")


def test_xaa_mention_uses_the_posts_conversation_and_media() -> None:
    [event] = parse("post.mention.create__arabic")
    assert event.kind is EventKind.MESSAGE
    assert event.thread_ref == "mention:2080769980140802049"
    assert event.reply_to_ref == "2080769980140802049"
    assert event.user_display == "فهد الدوسري"
    assert [(a.type, a.ref) for a in event.attachments] == [("image", "https://pbs.twimg.com/media/GxYzAbCdEf.jpg")]


def test_own_posts_are_echoes_and_retweets_are_unsupported() -> None:
    [own] = parse("tweet_create_events__own_post")
    [retweet] = parse("tweet_create_events__retweet")
    assert own.kind is EventKind.ECHO
    assert retweet.kind is EventKind.UNSUPPORTED


# --- malformed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"[]", "JSON object"),
        (b"{}", "no Account Activity or X Activity events"),
        (b'{"direct_message_events": {}}', "must be a list"),
        (b'{"direct_message_events": [{"type": "message_create"}]}', "direct_message_events[].id"),
        (b'{"direct_message_events": [{"id": "1", "message_create": {"sender_id": "2"}}]}', "recipient_id"),
        (b'{"tweet_create_events": [{"text": "hi"}]}', "id_str"),
        (b'{"data": {"event_type": "dm.received"}}', "payload"),
        (b'{"data": {"event_type": "dm.received", "payload": {}}}', "without direct_message_events"),
    ],
)
def test_malformed_payloads_raise_payload_invalid_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid) as exc:
        connector().parse(request(body))
    assert reason in exc.value.message


def test_every_fixture_parses() -> None:
    for path in FIXTURES.glob("*.json"):
        assert connector().parse(request(path.read_bytes())), path.name


# --- settings and capabilities -------------------------------------------------------------------


def test_channel_needs_the_consumer_secret_and_learns_its_id_from_the_access_token() -> None:
    assert TwitterConnector.from_settings(load_settings()) is None
    built = TwitterConnector.from_settings(
        load_settings(twitter_consumer_secret=SECRET, twitter_access_token=f"{US}-GmHxMAgYyLbN")
    )
    assert built is not None and built.account_ref == US


def test_buttons_become_numbered_lines_because_v2_dms_have_no_quick_replies() -> None:
    message = OutboundMessage(
        "twitter",
        US,
        f"{US}-{NOURA}",
        NOURA,
        "كيف تقيّم الخدمة؟",
        buttons=(Button("ممتازة", "rating:5"), Button("سيئة", "rating:1")),
    )
    rendered = connector().render_buttons_as_text(message)
    assert rendered.buttons == () and rendered.text.endswith("1. ممتازة\n2. سيئة")
    assert TwitterConnector.capabilities.max_text_length == 10_000 and not TwitterConnector.capabilities.can_initiate
