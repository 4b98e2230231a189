"""Portal connector: HMAC signature on the raw body, payload validation, replay window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from multidict import CIMultiDict

from connectors.base import EventKind, PayloadInvalid, SignatureInvalid, SignatureMissing, WebhookRequest
from connectors.portal import SIGNATURE_HEADER, PortalConnector, classify_status, sign

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "f" * 64


def connector(max_skew_s: float = 10 * 365 * 86400) -> PortalConnector:
    return PortalConnector(SECRET, "http://127.0.0.1:1/callback", max_skew_s)


def signed(body: bytes, secret: str = SECRET) -> WebhookRequest:
    return WebhookRequest("POST", CIMultiDict({SIGNATURE_HEADER: sign(secret, body)}), {}, body)


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def test_correct_signature_over_raw_arabic_bytes_is_accepted() -> None:
    body = fixture("message__complaint")
    connector().verify(signed(body))


def test_signature_of_reserialised_json_does_not_match_raw_bytes() -> None:
    body = fixture("message__complaint")
    reserialised = json.dumps(json.loads(body)).encode()  # \u-escaped Arabic: different bytes
    request = WebhookRequest("POST", CIMultiDict({SIGNATURE_HEADER: sign(SECRET, reserialised)}), {}, body)
    with pytest.raises(SignatureInvalid):
        connector().verify(request)


def test_missing_signature_is_401_and_wrong_secret_is_403() -> None:
    body = fixture("message__complaint")
    with pytest.raises(SignatureMissing):
        connector().verify(WebhookRequest("POST", CIMultiDict(), {}, body))
    with pytest.raises(SignatureInvalid):
        connector().verify(signed(body, secret="0" * 64))


def test_message_with_user_contact_details_is_parsed() -> None:
    [event] = connector().parse(signed(fixture("message__complaint")))
    assert event.kind is EventKind.MESSAGE
    assert (event.event_id, event.user_ref, event.thread_ref) == ("portal-evt-0001", "u-10293", "web-u-10293")
    assert event.phone == "+966501112233" and event.email == "mona@example.sa"
    assert event.user_display == "منى العتيبي"


def test_thread_defaults_to_the_user_and_attachments_are_references() -> None:
    [event] = connector().parse(signed(fixture("message__with_attachment")))
    assert event.thread_ref == "u-55201"
    assert event.attachments[0].ref == "https://portal.example.sa/files/8f2c9a.jpg"


def test_postback_is_parsed_as_a_button_press() -> None:
    [event] = connector().parse(signed(fixture("postback__rating")))
    assert event.kind is EventKind.POSTBACK and event.postback == "rating:4"


def test_a_request_replayed_outside_the_window_is_rejected() -> None:
    old = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    body = json.dumps({"event_id": "e1", "sent_at": old, "user": {"id": "u"}, "text": "مرحبا"}).encode()
    with pytest.raises(SignatureInvalid):
        connector(max_skew_s=86400).parse(signed(body))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"user": {"id": "u"}, "text": "x"}, "event_id"),
        ({"event_id": "e", "text": "x"}, "user"),
        ({"event_id": "e", "user": {"name": "x"}, "text": "x"}, "user.id"),
        ({"event_id": "e", "user": {"id": "u"}, "text": "   "}, "needs text"),
        ({"event_id": "e", "user": {"id": "u"}, "text": 5}, "text must be a string"),
        ({"event_id": "e", "user": {"id": "u"}, "text": "x", "sent_at": "yesterday"}, "ISO 8601"),
        ({"event_id": "e", "user": {"id": "u"}, "text": "x", "attachments": [{"type": "image"}]}, "url"),
    ],
)
def test_invalid_payloads_are_rejected_with_a_reason(payload: dict, reason: str) -> None:
    with pytest.raises(PayloadInvalid) as exc:
        connector().parse(signed(json.dumps(payload, ensure_ascii=False).encode()))
    assert reason in exc.value.message


def test_callback_statuses_are_classified() -> None:
    assert classify_status(429, "3", "").retryable and classify_status(429, "3", "").retry_after == 3.0
    assert classify_status(503, None, "").retryable
    assert not classify_status(400, None, "bad").retryable
    assert not classify_status(404, None, "").retryable
