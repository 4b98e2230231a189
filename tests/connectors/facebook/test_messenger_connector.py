"""Messenger connector: hub.challenge, X-Hub-Signature-256 on Meta's escaped bytes, parsing of realistic
page webhooks, window rules and quick replies against the fake Graph API, and error classification."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from connectors.base import (
    Button,
    DeliveryError,
    EventKind,
    OutboundMessage,
    PayloadInvalid,
    SignatureInvalid,
    SignatureMissing,
    WebhookRequest,
)
from connectors.meta import MessengerConnector, meta_json, sign
from connectors.meta.graph import Channel, GraphError, classify, retry_after_from
from fakes.meta import PAGE_ID, FakeMetaGraph

FIXTURES = Path(__file__).parent / "fixtures"
APP_SECRET = "5f1c7e0b9a2d4c3e8f6a1b0c9d8e7f6a"
VERIFY_TOKEN = "tawasul-verify-2f9c"
PAGE_TOKEN = "EAAGpagetoken0123456789"
PSID = "6750000000000001"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
MESSENGER = Channel("Messenger", "TAWASUL_FACEBOOK_PAGE_TOKEN")


def connector(api_base: str = "http://127.0.0.1:9/v25.0") -> MessengerConnector:
    return MessengerConnector(APP_SECRET, VERIFY_TOKEN, PAGE_TOKEN, api_base, clock=lambda: NOW)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def signed(body: bytes, signature: str | None = None) -> WebhookRequest:
    headers = CIMultiDict({"Content-Type": "application/json"})
    headers["X-Hub-Signature-256"] = signature if signature is not None else sign(APP_SECRET, body)
    return WebhookRequest("POST", headers, {}, body)


def parse(name: str) -> list[Any]:
    return connector().parse(signed(meta_json(fixture(name))))


def handshake(**query: str) -> WebhookRequest:
    return WebhookRequest("GET", CIMultiDict(), query, b"")


# --- signature ------------------------------------------------------------------------------------

# Exactly what Meta puts on the wire for an Arabic message: non-ASCII as lowercase \uXXXX, "/" as "\/".
ESCAPED_ARABIC = (
    b'{"object":"page","entry":[{"id":"104000000000001","time":1764000000123,"messaging":[{"sender":'
    b'{"id":"6750000000000001"},"recipient":{"id":"104000000000001"},"timestamp":1764000000001,"message":'
    b'{"mid":"m_AbCd","text":"\\u0645\\u062a\\u0649 \\u0627\\u0644\\u0635\\u0631\\u0641\\u061f 1\\/2"}}]}]}'
)


def test_escaped_arabic_body_verifies_on_its_raw_bytes() -> None:
    request = signed(ESCAPED_ARABIC)
    connector().verify(request)
    [event] = connector().parse(request)
    assert event.text == "متى الصرف؟ 1/2"


def test_re_serialising_an_arabic_body_breaks_the_signature() -> None:
    signature = sign(APP_SECRET, ESCAPED_ARABIC)
    reserialised = json.dumps(json.loads(ESCAPED_ARABIC), ensure_ascii=False).encode()
    assert reserialised != ESCAPED_ARABIC
    with pytest.raises(SignatureInvalid):
        connector().verify(signed(reserialised, signature))


def test_the_fakes_encoder_writes_bodies_byte_for_byte_like_meta() -> None:
    assert meta_json(json.loads(ESCAPED_ARABIC)) == ESCAPED_ARABIC


def test_missing_signature_is_401_and_the_legacy_sha1_header_does_not_count() -> None:
    headers = CIMultiDict({"X-Hub-Signature": "sha1=0123456789abcdef0123456789abcdef01234567"})
    with pytest.raises(SignatureMissing) as exc:
        connector().verify(WebhookRequest("POST", headers, {}, ESCAPED_ARABIC))
    assert exc.value.status == 401


@pytest.mark.parametrize(
    "signature",
    [
        sign("another-apps-secret", ESCAPED_ARABIC),
        "sha256=" + "0" * 64,
        sign(APP_SECRET, ESCAPED_ARABIC).removeprefix("sha256="),  # no algorithm prefix
        "sha1=" + sign(APP_SECRET, ESCAPED_ARABIC)[7:],
    ],
)
def test_wrong_signatures_are_403(signature: str) -> None:
    with pytest.raises(SignatureInvalid) as exc:
        connector().verify(signed(ESCAPED_ARABIC, signature))
    assert exc.value.status == 403


def test_upper_case_hex_from_a_rewriting_proxy_still_verifies() -> None:
    connector().verify(signed(ESCAPED_ARABIC, "sha256=" + sign(APP_SECRET, ESCAPED_ARABIC)[7:].upper()))


# --- hub.challenge ----------------------------------------------------------------------------------


def test_subscription_handshake_echoes_the_challenge() -> None:
    answer = connector().challenge(
        handshake(**{"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"})
    )
    assert (answer.status, answer.body) == (200, "1158201444")


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}, 403),
        ({"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}, 403),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, 400),
        ({}, 400),
    ],
)
def test_wrong_handshakes_are_refused(query: dict[str, str], status: int) -> None:
    answer = connector().challenge(handshake(**query))
    assert answer.status == status and answer.body != "1"


# --- parsing ------------------------------------------------------------------------------------------


def test_arabic_text_message_becomes_one_event_with_page_and_psid() -> None:
    [event] = parse("messages__text")
    assert event.kind is EventKind.MESSAGE
    assert event.event_id == "m_AbCdEfGhIjKlMnOp1"
    assert event.account_ref == PAGE_ID
    assert event.thread_ref == f"{PAGE_ID}:{PSID}"
    assert event.user_ref == PSID
    assert event.text.startswith("مرحباً، متى يتم صرف المستحقات")
    assert event.sent_at == datetime(2025, 11, 24, 16, 0, 0, 1000, tzinfo=UTC)


def test_batched_entries_and_items_become_one_event_each() -> None:
    events = parse("messages__batch")
    assert [e.event_id for e in events] == ["m_batch_0001", "m_batch_0002", "m_batch_0003"]
    assert [e.user_ref for e in events] == [PSID, "6750000000000002", PSID]
    # Each event keeps only its own item, not the whole batch.
    assert all(len(e.raw["entry"]) == 1 and len(e.raw["entry"][0]["messaging"]) == 1 for e in events)
    assert events[1].raw["entry"][0]["messaging"][0]["message"]["mid"] == "m_batch_0002"


def test_attachments_are_kept_as_references() -> None:
    [event] = parse("messages__attachments")
    assert [(a.type, a.ref.split("?")[0].rsplit("/", 1)[-1]) for a in event.attachments] == [
        ("image", "470000000_noor_error_n.jpg"),
        ("file", "transfer_form.pdf"),
    ]
    assert "نظام نور" in event.text


def test_sticker_is_a_sticker_attachment_without_text() -> None:
    [event] = parse("messages__sticker")
    assert event.kind is EventKind.MESSAGE and event.text == ""
    assert [a.type for a in event.attachments] == ["sticker"]


def test_quick_reply_tap_is_a_postback_with_its_payload() -> None:
    [event] = parse("messages__quick_reply")
    assert event.kind is EventKind.POSTBACK
    assert (event.postback, event.text, event.event_id) == ("rating:5", "راضٍ جدًا", "m_qr_0001")


def test_reply_keeps_the_quoted_message_id() -> None:
    [event] = parse("messages__reply_to")
    assert event.reply_to_ref == "m_OurReplyWithTicketNumber"


def test_echo_of_our_own_message_is_an_echo_on_the_citizens_thread() -> None:
    [event] = parse("message_echoes__echo")
    assert event.kind is EventKind.ECHO
    assert (event.user_ref, event.thread_ref) == (PSID, f"{PAGE_ID}:{PSID}")


def test_postback_button_is_a_postback_keyed_by_its_mid() -> None:
    [event] = parse("messaging_postbacks__rating")
    assert (event.kind, event.event_id, event.postback) == (EventKind.POSTBACK, "m_postback_0001", "rating:5")


def test_postback_without_mid_gets_a_stable_key() -> None:
    first = parse("messaging_postbacks__get_started")[0]
    again = parse("messaging_postbacks__get_started")[0]
    assert first.event_id == again.event_id == "postback:6750000000000002:1764000650001"
    assert first.postback == "GET_STARTED"


@pytest.mark.parametrize(
    ("name", "event_id"),
    [
        ("message_reads__read", f"read:{PSID}:1764000699000"),
        ("message_deliveries__delivery", f"delivery:{PSID}:1764000799000"),
    ],
)
def test_read_and_delivery_receipts_are_status_events(name: str, event_id: str) -> None:
    [event] = parse(name)
    assert (event.kind, event.event_id) == (EventKind.STATUS, event_id)


@pytest.mark.parametrize(
    ("name", "mentions"),
    [
        ("message_reactions__love", "reaction"),
        ("standby__message", "standby"),
        ("feed__changes", "changes"),
    ],
)
def test_valid_events_the_hub_does_not_act_on_are_kept_as_unsupported(name: str, mentions: str) -> None:
    [event] = parse(name)
    assert event.kind is EventKind.UNSUPPORTED and mentions in event.text
    assert event.event_id


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"{not json", "malformed JSON"),
        (b'{"object": "instagram", "entry": []}', "object must be 'page'"),
        (b'{"object": "page"}', "entry"),
        (b'{"object": "page", "entry": [{"time": 1}]}', "entry[0].id"),
        (b'{"object": "page", "entry": [{"id": "1", "messaging": {}}]}', "must be a list"),
        (b'{"object": "page", "entry": [{"id": "1", "messaging": [{"message": {"mid": "m"}}]}]}', "sender.id"),
        (
            b'{"object": "page", "entry": [{"id": "1", "messaging": [{"sender": {"id": "2"}, "message": {}}]}]}',
            "message.mid",
        ),
    ],
)
def test_malformed_bodies_raise_payload_invalid_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid) as exc:
        connector().parse(signed(body))
    assert reason in exc.value.message


def test_every_fixture_parses_the_same_in_readable_and_wire_form() -> None:
    for path in FIXTURES.glob("*.json"):
        readable = path.read_bytes()
        wire = meta_json(json.loads(readable))
        assert connector().parse(signed(readable)) == connector().parse(signed(wire)), path.name


# --- sending against the fake Graph API --------------------------------------------------------------


@pytest.fixture
async def graph() -> AsyncIterator[FakeMetaGraph]:
    fake = await FakeMetaGraph(APP_SECRET, page_token=PAGE_TOKEN, require_appsecret_proof=True).start()
    fake.clock = NOW.timestamp
    yield fake
    await fake.stop()


@pytest.fixture
async def messenger(graph: FakeMetaGraph) -> AsyncIterator[MessengerConnector]:
    conn = connector(graph.api_base)
    yield conn
    await conn.aclose()


def reply(
    text: str, *, author: str = "bot", wrote_ago: timedelta | None = timedelta(hours=1), **kw: Any
) -> OutboundMessage:
    return OutboundMessage(
        channel="facebook",
        account_ref=PAGE_ID,
        thread_ref=f"{PAGE_ID}:{PSID}",
        user_ref=PSID,
        text=text,
        author=author,
        last_inbound_at=NOW - wrote_ago if wrote_ago is not None else None,
        **kw,
    )


async def test_reply_inside_the_window_is_a_response_with_quick_replies(
    graph: FakeMetaGraph, messenger: MessengerConnector
) -> None:
    graph.user_wrote("facebook", PSID, NOW - timedelta(hours=1))
    buttons = (Button("راضٍ", "rating:5"), Button("غير راضٍ", "rating:1"))
    result = await messenger.send(reply("كيف تقيّم خدمتنا؟", buttons=buttons))
    [sent] = graph.sent
    assert (sent.node, sent.recipient, sent.messaging_type, sent.tag) == (PAGE_ID, PSID, "RESPONSE", None)
    assert sent.buttons == [("راضٍ", "rating:5"), ("غير راضٍ", "rating:1")]
    assert result.platform_message_id == sent.message_id


async def test_coordinator_reply_after_two_days_carries_the_human_agent_tag(
    graph: FakeMetaGraph, messenger: MessengerConnector
) -> None:
    graph.user_wrote("facebook", PSID, NOW - timedelta(days=2))
    await messenger.send(reply("نعتذر عن التأخير، تمت معالجة طلبك.", author="coordinator", wrote_ago=timedelta(days=2)))
    [sent] = graph.sent
    assert (sent.messaging_type, sent.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")


async def test_automated_reply_after_two_days_is_refused_without_calling_meta(
    graph: FakeMetaGraph, messenger: MessengerConnector
) -> None:
    with pytest.raises(DeliveryError) as exc:
        await messenger.send(reply("تم استلام طلبك", wrote_ago=timedelta(days=2)))
    assert not exc.value.retryable
    assert "window closed" in exc.value.reason and "coordinator can still answer until" in exc.value.reason
    assert graph.requests == []


async def test_any_reply_after_seven_days_is_terminal_window_closed(
    graph: FakeMetaGraph, messenger: MessengerConnector
) -> None:
    with pytest.raises(DeliveryError) as exc:
        await messenger.send(reply("مرحبا", author="coordinator", wrote_ago=timedelta(days=8)))
    assert not exc.value.retryable
    assert exc.value.reason.startswith("window closed:") and "8 days ago" in exc.value.reason
    assert graph.requests == []


async def test_meta_enforces_the_window_when_the_hub_does_not_know_the_last_message(
    graph: FakeMetaGraph, messenger: MessengerConnector
) -> None:
    graph.user_wrote("facebook", PSID, NOW - timedelta(days=3))
    with pytest.raises(DeliveryError) as exc:
        await messenger.send(reply("مرحبا", wrote_ago=None))
    assert not exc.value.retryable and exc.value.code == "10/2018278"
    assert exc.value.reason.startswith("window closed:")


async def test_buttons_beyond_quick_reply_limits_become_numbered_text(
    graph: FakeMetaGraph, messenger: MessengerConnector
) -> None:
    graph.user_wrote("facebook", PSID, NOW)
    long_title = reply("اختر:", buttons=(Button("اعتراض على قرار اللجنة الفرعية", "objection"),))
    rendered = messenger.render_buttons_as_text(long_title)
    assert rendered.buttons == () and rendered.text.endswith("1. اعتراض على قرار اللجنة الفرعية")
    fourteen = reply("اختر:", buttons=tuple(Button(str(i), f"p{i}") for i in range(14)))
    await messenger.send(fourteen)  # defensive: send itself degrades what does not fit
    [sent] = graph.sent
    assert sent.buttons == [] and "14. 13" in sent.text


async def test_expired_page_token_is_terminal_and_asks_to_re_authorise(
    graph: FakeMetaGraph, messenger: MessengerConnector
) -> None:
    graph.user_wrote("facebook", PSID, NOW)
    graph.expire_token("facebook")
    with pytest.raises(DeliveryError) as exc:
        await messenger.send(reply("مرحبا"))
    assert not exc.value.retryable and exc.value.status == 401 and exc.value.code == "190/463"
    assert "re-authorise" in exc.value.reason and "TAWASUL_FACEBOOK_PAGE_TOKEN" in exc.value.reason


async def test_blocked_citizen_is_terminal(graph: FakeMetaGraph, messenger: MessengerConnector) -> None:
    graph.user_wrote("facebook", PSID, NOW)
    graph.block("facebook", PSID)
    with pytest.raises(DeliveryError) as exc:
        await messenger.send(reply("مرحبا"))
    assert not exc.value.retryable and exc.value.code == "551/1545041"
    assert "not reachable" in exc.value.reason


async def test_token_travels_in_the_header_with_an_appsecret_proof(
    graph: FakeMetaGraph, messenger: MessengerConnector
) -> None:
    graph.user_wrote("facebook", PSID, NOW)
    await messenger.send(reply("مرحبا"))  # the fake requires appsecret_proof and rejects a wrong one
    assert graph.requests[0]["status"] == 200 and len(graph.sent) == 1


# --- error classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "subcode", "status", "retryable", "phrase"),
    [
        (613, None, 400, True, "rate limit"),
        (4, None, 400, True, "application request limit"),
        (17, None, 400, True, "user request limit"),
        (32, None, 400, True, "Page request limit"),
        (2, None, 503, True, "temporarily unavailable"),
        (1200, None, 500, True, "temporary send failure"),
        (130429, None, 400, True, "throughput"),
        (131056, None, 400, True, "pair rate"),
        (551, 1545041, 400, False, "not reachable"),
        (10, 2018278, 400, False, "window closed"),
        (10, 2534022, 400, False, "window closed"),
        (131047, None, 400, False, "window closed: only an approved template can be sent"),
        (190, 463, 401, False, "re-authorise"),
        (10, None, 403, False, "permission"),
        (100, 2018001, 400, False, "no such Messenger user"),
        (100, None, 400, False, "refused the message"),
    ],
)
def test_graph_errors_are_classified_by_code(
    code: int, subcode: int | None, status: int, retryable: bool, phrase: str
) -> None:
    error = GraphError(status, f"(#{code}) message", code, subcode, "OAuthException", "AbC")
    result = classify(error, MESSENGER)
    assert result.retryable is retryable and phrase in result.reason
    assert result.code == (f"{code}/{subcode}" if subcode else str(code)) and result.status == status


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (502, True), (503, True), (400, False), (404, False)])
def test_http_errors_without_a_graph_body_follow_the_status(status: int, retryable: bool) -> None:
    error = GraphError.from_response(status, "<html><body>Bad Gateway</body></html>")
    assert error.code is None
    assert classify(error, MESSENGER).retryable is retryable


def test_pair_rate_without_retry_after_waits_the_pair_spacing() -> None:
    error = GraphError(400, "(#131056) pair rate limit hit", 131056)
    assert classify(error, MESSENGER).retry_after == 6.0
    assert classify(error, MESSENGER, retry_after=40).retry_after == 40


def test_retry_after_comes_from_the_header_or_metas_usage_header() -> None:
    assert retry_after_from({"Retry-After": "12"}) == 12
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after_from({"Retry-After": past}) == 0
    usage = json.dumps({PAGE_ID: [{"type": "messenger", "call_count": 100, "estimated_time_to_regain_access": 3}]})
    assert retry_after_from({"X-Business-Use-Case-Usage": usage}) == 180
    assert retry_after_from({}) is None


def test_whatsapp_details_are_preferred_over_the_title() -> None:
    body = json.dumps(
        {
            "error": {
                "message": "(#131047) Re-engagement message",
                "type": "OAuthException",
                "code": 131047,
                "error_data": {"messaging_product": "whatsapp", "details": "more than 24 hours have passed"},
                "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
            }
        }
    )
    error = GraphError.from_response(400, body)
    assert (error.code, error.details, error.fbtrace_id) == (
        131047,
        "more than 24 hours have passed",
        "Az8or2yhqkZfEZ-_4Qn_Bam",
    )
