"""WhatsApp Cloud API connector: business-account webhooks (messages, statuses, echoes), interactive
reply buttons, the 24-hour customer-service window and templates, against the fake Graph API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from connectors.base import Button, DeliveryError, EventKind, OutboundMessage, PayloadInvalid, WebhookRequest
from connectors.meta import WhatsAppConnector, meta_json, sign
from fakes.meta import PHONE_NUMBER_ID, FakeMetaGraph

FIXTURES = Path(__file__).parent / "fixtures"
APP_SECRET = "77aa66bb55cc44dd33ee22ff11009988"
TOKEN = "EAAWsystemusertoken0123"
WA_ID = "966501234567"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
WINDOW_CLOSED = "window closed: only an approved template can be sent"


def connector(api_base: str = "http://127.0.0.1:9/v25.0") -> WhatsAppConnector:
    return WhatsAppConnector(APP_SECRET, "verify-me", TOKEN, PHONE_NUMBER_ID, api_base, clock=lambda: NOW)


def signed(body: bytes) -> WebhookRequest:
    return WebhookRequest("POST", CIMultiDict({"X-Hub-Signature-256": sign(APP_SECRET, body)}), {}, body)


def parse(name: str) -> list[Any]:
    request = signed(meta_json(json.loads((FIXTURES / f"{name}.json").read_bytes())))
    connector().verify(request)
    return connector().parse(request)


# --- parsing ------------------------------------------------------------------------------------------


def test_arabic_text_carries_the_wamid_the_number_and_the_profile_name() -> None:
    [event] = parse("messages__text")
    assert (event.kind, event.event_id) == (EventKind.MESSAGE, "wamid.HBgMOTY2NTAxMjM0NTY3FQIAEhgUM0E2")
    assert (event.account_ref, event.thread_ref, event.user_ref) == (
        PHONE_NUMBER_ID,
        f"{PHONE_NUMBER_ID}:{WA_ID}",
        WA_ID,
    )
    assert (event.phone, event.user_display) == ("+966501234567", "محمد العتيبي")
    assert event.text.startswith("رقم الطلب 88213") and event.sent_at == datetime(2025, 11, 24, 16, 3, 20, tzinfo=UTC)


def test_batch_gives_one_event_per_message_with_its_own_contact() -> None:
    events = parse("messages__batch")
    assert [(e.user_ref, e.user_display) for e in events] == [(WA_ID, "محمد العتيبي"), ("966551112233", "نورة")]
    assert [len(e.raw["entry"][0]["changes"][0]["value"]["messages"]) for e in events] == [1, 1]
    assert events[1].raw["entry"][0]["changes"][0]["value"]["contacts"] == [
        {"profile": {"name": "نورة"}, "wa_id": "966551112233"}
    ]


@pytest.mark.parametrize(
    ("name", "kind", "mime", "text"),
    [
        ("messages__image_with_caption", "image", "image/jpeg", "صورة إشعار الرفض من المنصة"),
        ("messages__voice_note", "audio", "audio/ogg; codecs=opus", ""),
        ("messages__document", "file", "application/pdf", "نموذج طلب النقل"),
    ],
)
def test_media_are_kept_as_media_id_references(name: str, kind: str, mime: str, text: str) -> None:
    [event] = parse(name)
    [attachment] = event.attachments
    assert (attachment.type, attachment.mime, event.text) == (kind, mime, text)
    assert attachment.ref.isdigit()  # a media id, fetched from Graph when the hub downloads it


def test_document_keeps_its_file_name() -> None:
    [event] = parse("messages__document")
    assert event.attachments[0].name == "نموذج_النقل.pdf"


def test_location_is_a_geo_reference_with_the_place_name() -> None:
    [event] = parse("messages__location")
    assert [(a.type, a.ref, a.name) for a in event.attachments] == [
        ("location", "geo:24.7136,46.6753", "مدرسة الرياض الابتدائية")
    ]


def test_reply_button_press_is_a_postback_quoting_our_message() -> None:
    [event] = parse("messages__interactive_button_reply")
    assert (event.kind, event.postback, event.text) == (EventKind.POSTBACK, "rating:5", "راضٍ جدًا")
    assert event.reply_to_ref == "wamid.HBgMOTY2NTAxMjM0NTY3FQIAERgSOUR1Q0VB"


def test_quoted_reply_keeps_the_context_id() -> None:
    [event] = parse("messages__reply_context")
    assert event.kind is EventKind.MESSAGE and event.reply_to_ref == "wamid.HBgMOTY2NTUxMTEyMjMzFQIAERgSQUJDREVG"


def test_statuses_are_status_events_keyed_by_message_and_state() -> None:
    delivered, read = parse("statuses__delivered_read")
    wamid = "wamid.HBgMOTY2NTAxMjM0NTY3FQIAERgSOUR1Q0VB"
    assert [(e.kind, e.event_id) for e in (delivered, read)] == [
        (EventKind.STATUS, f"{wamid}:delivered"),
        (EventKind.STATUS, f"{wamid}:read"),
    ]


def test_failed_status_keeps_metas_reason() -> None:
    [event] = parse("statuses__failed")
    assert event.kind is EventKind.STATUS and event.text.startswith("failed: (131047) Message failed to send")


def test_business_app_echo_is_an_echo_on_the_citizens_thread() -> None:
    [event] = parse("smb_message_echoes__text")
    assert (event.kind, event.user_ref, event.thread_ref) == (EventKind.ECHO, WA_ID, f"{PHONE_NUMBER_ID}:{WA_ID}")


@pytest.mark.parametrize("name", ["messages__reaction", "message_template_status_update__approved"])
def test_valid_events_the_hub_does_not_act_on_are_unsupported_with_a_stable_id(name: str) -> None:
    [first] = parse(name)
    [again] = parse(name)
    assert first.kind is EventKind.UNSUPPORTED and first.event_id == again.event_id


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"object": "page", "entry": []}', "whatsapp_business_account"),
        (b'{"object": "whatsapp_business_account", "entry": [{"id": "1"}]}', "changes"),
        (b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages"}]}]}', "value"),
        (
            b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value":'
            b' {"messages": [{"from": "966500000000", "type": "text"}]}}]}]}',
            "messages[].id",
        ),
    ],
)
def test_malformed_bodies_raise_payload_invalid(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid) as exc:
        connector().parse(signed(body))
    assert reason in exc.value.message


def test_every_fixture_is_valid_json_and_parses() -> None:
    for path in FIXTURES.glob("*.json"):
        assert connector().parse(signed(path.read_bytes())), path.name


# --- sending ------------------------------------------------------------------------------------------


@pytest.fixture
async def graph() -> AsyncIterator[FakeMetaGraph]:
    fake = await FakeMetaGraph(APP_SECRET, whatsapp_token=TOKEN, require_appsecret_proof=True).start()
    fake.clock = NOW.timestamp
    yield fake
    await fake.stop()


@pytest.fixture
async def whatsapp(graph: FakeMetaGraph) -> AsyncIterator[WhatsAppConnector]:
    conn = connector(graph.api_base)
    yield conn
    await conn.aclose()


def reply(text: str, *, wrote_ago: timedelta | None = timedelta(hours=3), **kw: Any) -> OutboundMessage:
    return OutboundMessage(
        channel="whatsapp",
        account_ref=PHONE_NUMBER_ID,
        thread_ref=f"{PHONE_NUMBER_ID}:{WA_ID}",
        user_ref=WA_ID,
        text=text,
        last_inbound_at=NOW - wrote_ago if wrote_ago else None,
        **kw,
    )


async def test_text_reply_goes_to_the_phone_number_with_plus_and_country_code(
    graph: FakeMetaGraph, whatsapp: WhatsAppConnector
) -> None:
    graph.user_wrote("whatsapp", WA_ID, NOW - timedelta(hours=3))
    result = await whatsapp.send(reply("تم استلام طلبك", reply_to_ref="wamid.HBgMOTY2NTAxMjM0NTY3FQIAEhgUM0E2"))
    [sent] = graph.sent
    assert (sent.node, sent.recipient, sent.kind, sent.text) == (PHONE_NUMBER_ID, WA_ID, "text", "تم استلام طلبك")
    assert sent.body["to"] == "+966501234567" and sent.reply_to == "wamid.HBgMOTY2NTAxMjM0NTY3FQIAEhgUM0E2"
    assert result.platform_message_id == sent.message_id and sent.message_id.startswith("wamid.")


async def test_up_to_three_short_buttons_are_interactive_reply_buttons(
    graph: FakeMetaGraph, whatsapp: WhatsAppConnector
) -> None:
    graph.user_wrote("whatsapp", WA_ID, NOW)
    buttons = (Button("راضٍ جدًا", "rating:5"), Button("راضٍ", "rating:3"), Button("غير راضٍ", "rating:1"))
    message = reply("كيف تقيّم الخدمة؟", buttons=buttons)
    assert whatsapp.render_buttons_as_text(message) is message
    await whatsapp.send(message)
    [sent] = graph.sent
    assert sent.kind == "interactive" and [t for t, _ in sent.buttons] == ["راضٍ جدًا", "راضٍ", "غير راضٍ"]


@pytest.mark.parametrize(
    "buttons",
    [
        tuple(Button(f"خيار {i}", f"choice:{i}") for i in range(4)),  # more than 3
        (Button("اعتراض على قرار اللجنة", "objection"),),  # title over 20 characters
        (Button("نعم", "a"), Button("نعم", "b")),  # titles must be unique
    ],
)
async def test_buttons_whatsapp_cannot_carry_become_numbered_text(
    graph: FakeMetaGraph, whatsapp: WhatsAppConnector, buttons: tuple[Button, ...]
) -> None:
    graph.user_wrote("whatsapp", WA_ID, NOW)
    rendered = whatsapp.render_buttons_as_text(reply("اختر:", buttons=buttons))
    assert rendered.buttons == () and rendered.text.splitlines()[2].startswith("1. ")
    await whatsapp.send(rendered)
    assert graph.sent[0].kind == "text" and f"{len(buttons)}. " in graph.sent[0].text


def test_buttons_ride_as_text_when_the_last_part_is_longer_than_an_interactive_body() -> None:
    message = reply("ش" * 1500, buttons=(Button("نعم", "yes"),))
    assert connector().render_buttons_as_text(message).buttons == ()


async def test_outside_24_hours_free_text_is_refused_with_the_template_only_reason(
    graph: FakeMetaGraph, whatsapp: WhatsAppConnector
) -> None:
    with pytest.raises(DeliveryError) as exc:
        await whatsapp.send(reply("هل ما زلت بحاجة للمساعدة؟", wrote_ago=timedelta(hours=30)))
    assert not exc.value.retryable and exc.value.reason.startswith(WINDOW_CLOSED)
    assert "30 hours ago" in exc.value.reason and graph.requests == []


async def test_outside_24_hours_an_approved_template_is_sent(graph: FakeMetaGraph, whatsapp: WhatsAppConnector) -> None:
    template = {"name": "ticket_update", "language": "ar", "parameters": ["1448-000123", "مغلق"]}
    await whatsapp.send(reply("", wrote_ago=timedelta(days=3), extra={"whatsapp_template": template}))
    [sent] = graph.sent
    assert (sent.kind, sent.template, sent.text) == ("template", "ticket_update", "1448-000123 | مغلق")


async def test_unapproved_template_is_terminal(graph: FakeMetaGraph, whatsapp: WhatsAppConnector) -> None:
    with pytest.raises(DeliveryError) as exc:
        await whatsapp.send(reply("", wrote_ago=timedelta(days=3), extra={"whatsapp_template": {"name": "promo"}}))
    assert not exc.value.retryable and exc.value.code == "132001"


async def test_whatsapps_own_131047_is_terminal_with_the_template_only_reason(
    graph: FakeMetaGraph, whatsapp: WhatsAppConnector
) -> None:
    graph.user_wrote("whatsapp", WA_ID, NOW - timedelta(days=2))
    with pytest.raises(DeliveryError) as exc:
        await whatsapp.send(reply("مرحبا", wrote_ago=None))
    assert not exc.value.retryable and exc.value.code == "131047"
    assert exc.value.reason.startswith(WINDOW_CLOSED)


async def test_pair_rate_limit_is_retryable_after_the_pair_spacing(
    graph: FakeMetaGraph, whatsapp: WhatsAppConnector
) -> None:
    graph.user_wrote("whatsapp", WA_ID, NOW)
    graph.pair_burst = 2
    await whatsapp.send(reply("الجزء الأول"))
    await whatsapp.send(reply("الجزء الثاني"))
    with pytest.raises(DeliveryError) as exc:
        await whatsapp.send(reply("الجزء الثالث"))
    assert exc.value.retryable and exc.value.code == "131056" and exc.value.retry_after == 6.0


async def test_throughput_limit_130429_is_retryable(graph: FakeMetaGraph, whatsapp: WhatsAppConnector) -> None:
    graph.user_wrote("whatsapp", WA_ID, NOW)
    graph.whatsapp_rate_per_s = 1
    await whatsapp.send(reply("أ"))
    with pytest.raises(DeliveryError) as exc:
        await whatsapp.send(reply("ب"))
    assert exc.value.retryable and exc.value.code == "130429"


async def test_expired_system_user_token_says_re_authorise(graph: FakeMetaGraph, whatsapp: WhatsAppConnector) -> None:
    graph.user_wrote("whatsapp", WA_ID, NOW)
    graph.expire_token("whatsapp")
    with pytest.raises(DeliveryError) as exc:
        await whatsapp.send(reply("مرحبا"))
    assert (
        not exc.value.retryable and "re-authorise" in exc.value.reason and "TAWASUL_WHATSAPP_TOKEN" in exc.value.reason
    )
