"""Snapchat: the signed relay webhook (signature, replay window, shape) and the manual-delivery contract."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from connectors.base import (
    DeliveryError,
    EventKind,
    OutboundMessage,
    PayloadInvalid,
    SignatureInvalid,
    SignatureMissing,
    WebhookRequest,
)
from connectors.snapchat import SIGNATURE_HEADER, RelayDisabled, SnapchatConnector, sign
from hub.config import load_settings

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "9f1c0d7e5b3a48c2a6e4f0b1d3c5e7a9b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2"


def fixture(name: str, **changes: Any) -> dict[str, Any]:
    """A documented relay body, stamped now (the relay signs each request when it sends it)."""
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return {**data, "timestamp": int(time.time()), **changes}


def request(data: dict[str, Any] | bytes, signature: str | None = "sign", secret: str = SECRET) -> WebhookRequest:
    body = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()
    headers = CIMultiDict({"Content-Type": "application/json"})
    if signature == "sign":
        headers[SIGNATURE_HEADER] = sign(secret, body)
    elif signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return WebhookRequest("POST", headers, {}, body)


def connector(secret: str | None = SECRET) -> SnapchatConnector:
    return SnapchatConnector(secret)


def test_signed_relay_is_accepted_and_parsed() -> None:
    req = request(fixture("relay__message_arabic"))
    connector().verify(req)
    [event] = connector().parse(req)
    assert event.kind is EventKind.MESSAGE
    assert (event.channel, event.event_id) == ("snapchat", "snap-relay-000123")
    assert event.user_ref == event.thread_ref == "snap:reem.alharbi22"
    assert event.user_display == "ريم الحربي"
    assert event.text.startswith("السلام عليكم، بنتي ما انضافت")
    assert event.sent_at is not None and event.sent_at.isoformat() == "2026-11-25T08:58:41+00:00"


def test_missing_signature_is_401_and_a_wrong_one_403() -> None:
    data = fixture("relay__message_arabic")
    with pytest.raises(SignatureMissing) as missing:
        connector().verify(request(data, signature=None))
    assert missing.value.status == 401
    for bad in ("sha256=" + "0" * 64, sign("other-secret", b"{}")):
        with pytest.raises(SignatureInvalid) as invalid:
            connector().verify(request(data, signature=bad))
        assert invalid.value.status == 403
    with pytest.raises(SignatureInvalid):
        connector().verify(request(data, secret="another-relay"))


def test_relay_webhook_is_off_without_a_secret() -> None:
    with pytest.raises(RelayDisabled) as exc:
        connector(secret=None).verify(request(fixture("relay__message_arabic")))
    assert exc.value.status == 404 and exc.value.code == "relay_disabled"


@pytest.mark.parametrize("age_s", [301, -301, 86_400])
def test_signed_but_stale_or_future_request_is_refused_as_a_replay(age_s: int) -> None:
    with pytest.raises(SignatureInvalid) as exc:
        connector().parse(request(fixture("relay__message_arabic", timestamp=int(time.time()) - age_s)))
    assert "replayed" in exc.value.message


def test_attachments_are_references_and_conversation_and_reply_are_kept() -> None:
    [event] = connector().parse(request(fixture("relay__with_attachments")))
    assert event.thread_ref == "snapconv-7f3a91" and event.reply_to_ref == "snap-relay-000123"
    assert [(a.type, a.mime, a.name) for a in event.attachments] == [
        ("image", "image/jpeg", "birth-certificate.jpg"),
        ("image", "image/jpeg", None),
    ]
    assert event.attachments[0].ref.startswith("https://relay.tawasul.example.gov.sa/media/")


def test_outbound_copy_from_the_relay_is_an_echo() -> None:
    [event] = connector().parse(request(fixture("relay__outbound_echo")))
    assert event.kind is EventKind.ECHO and event.user_ref == "snap:reem.alharbi22"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event_id": ""}, "event_id"),
        ({"timestamp": None}, "timestamp"),
        ({"timestamp": "1795600000"}, "timestamp"),
        ({"user": "reem"}, "user"),
        ({"user": {"display_name": "ريم"}}, "user.id"),
        ({"direction": "sideways"}, "direction"),
        ({"text": "", "attachments": []}, "text or an attachment"),
        ({"attachments": [{"type": "image"}]}, "ref"),
        ({"attachments": [{"type": "hologram", "ref": "x"}]}, "attachment type"),
        ({"sent_at": "yesterday"}, "sent_at"),
    ],
)
def test_malformed_relay_bodies_are_400_with_a_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(PayloadInvalid) as exc:
        connector().parse(request(fixture("relay__message_arabic", **changes)))
    assert reason in exc.value.message


async def test_send_refuses_terminally_and_says_the_reply_is_sent_by_hand() -> None:
    message = OutboundMessage("snapchat", "default", "snap:reem.alharbi22", "snap:reem.alharbi22", "أهلاً بك")
    with pytest.raises(DeliveryError) as exc:
        await connector().send(message)
    assert not exc.value.retryable and exc.value.code == "manual_delivery"
    assert "by hand" in exc.value.reason


def test_channel_is_manual_and_switched_on_by_the_flag_or_a_relay_secret() -> None:
    caps = SnapchatConnector.capabilities
    assert caps.manual_delivery and not caps.can_initiate
    assert SnapchatConnector.from_settings(load_settings()) is None
    assert SnapchatConnector.from_settings(load_settings(snapchat_enabled=True)) is not None
    assert SnapchatConnector.from_settings(load_settings(snapchat_relay_secret=SECRET)) is not None
