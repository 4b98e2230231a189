"""Telegram connector: secret-token check, parsing of realistic updates, error classification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from multidict import CIMultiDict

from connectors.base import EventKind, PayloadInvalid, SignatureInvalid, SignatureMissing, WebhookRequest
from connectors.telegram import SECRET_HEADER, TelegramConnector, classify_error

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "s3cr3t_Token-value"


def connector() -> TelegramConnector:
    return TelegramConnector(SECRET, "7000000001:AAE-test-token", "http://127.0.0.1:1/bot", 25.0)


def request(body: bytes, secret: str | None = SECRET) -> WebhookRequest:
    headers = CIMultiDict({"Content-Type": "application/json"})
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return WebhookRequest("POST", headers, {}, body)


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def test_matching_secret_header_is_accepted() -> None:
    connector().verify(request(fixture("message__text_arabic")))


def test_missing_secret_header_is_401() -> None:
    with pytest.raises(SignatureMissing) as exc:
        connector().verify(request(fixture("message__text_arabic"), secret=None))
    assert exc.value.status == 401


def test_wrong_secret_header_is_403() -> None:
    with pytest.raises(SignatureInvalid) as exc:
        connector().verify(request(fixture("message__text_arabic"), secret=SECRET + "x"))
    assert exc.value.status == 403


def test_header_lookup_is_case_insensitive() -> None:
    headers = CIMultiDict({SECRET_HEADER.lower(): SECRET})
    connector().verify(WebhookRequest("POST", headers, {}, b"{}"))


def test_arabic_text_message_is_parsed_with_ids_and_language_hint() -> None:
    [event] = connector().parse(request(fixture("message__text_arabic")))
    assert event.kind is EventKind.MESSAGE
    assert event.event_id == "700000001"
    assert event.account_ref == "7000000001"  # the bot id, never the secret part of the token
    assert event.thread_ref == "555000111"
    assert event.user_ref == "555000111"
    assert event.user_display == "أحمد القحطاني"
    assert event.text.startswith("السلام عليكم، صار لي ثلاث شهور")
    assert event.language_hint == "ar"
    assert event.sent_at is not None and event.sent_at.year == 2025


def test_photo_keeps_largest_size_as_reference_and_caption_as_text() -> None:
    [event] = connector().parse(request(fixture("message__photo_with_caption")))
    assert [a.ref for a in event.attachments] == ["AgACAgQAAxkBAAIBsmaLarge"]
    assert event.attachments[0].type == "image"
    assert "نظام نور" in event.text


def test_voice_note_is_an_attachment_without_text() -> None:
    [event] = connector().parse(request(fixture("message__voice_note")))
    assert event.text == ""
    assert [(a.type, a.mime) for a in event.attachments] == [("audio", "audio/ogg")]


def test_reply_keeps_the_quoted_message_id() -> None:
    [event] = connector().parse(request(fixture("message__reply_to")))
    assert event.reply_to_ref == "1042"


def test_own_contact_gives_a_phone_number() -> None:
    [event] = connector().parse(request(fixture("message__contact_own")))
    assert event.phone == "+966551234567"


def test_forum_topic_is_part_of_the_thread() -> None:
    [event] = connector().parse(request(fixture("message__forum_topic")))
    assert event.thread_ref == "-1001234567890:42"


def test_edited_message_is_a_message_with_the_same_chat() -> None:
    [event] = connector().parse(request(fixture("edited_message__text")))
    assert event.kind is EventKind.MESSAGE and event.thread_ref == "555000111"


def test_callback_query_is_a_postback_with_its_data() -> None:
    [event] = connector().parse(request(fixture("callback_query__rating")))
    assert event.kind is EventKind.POSTBACK
    assert event.postback == "rating:5"
    assert event.reply_to_ref == "1050"


def test_unknown_update_type_is_kept_as_unsupported_not_dropped() -> None:
    [event] = connector().parse(request(fixture("my_chat_member__blocked")))
    assert event.kind is EventKind.UNSUPPORTED
    assert "my_chat_member" in event.text


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
        ('{"update_id": 1}'.encode("utf-16"), "UTF-8"),
        (b'{"message": {}}', "update_id"),
        (b'{"update_id": "7"}', "update_id"),
        (b'{"update_id": 7, "message": {"text": "hi"}}', "chat.id"),
    ],
)
def test_malformed_updates_raise_payload_invalid_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid) as exc:
        connector().parse(request(body))
    assert reason in exc.value.message


def test_every_fixture_is_valid_json_and_parses() -> None:
    for path in FIXTURES.glob("*.json"):
        data = json.loads(path.read_bytes())
        assert connector().parse(request(json.dumps(data, ensure_ascii=False).encode()))


def test_error_classification_follows_the_bot_api() -> None:
    from telegram import error

    flood = classify_error(error.RetryAfter(7))
    assert flood.retryable and flood.retry_after == 7
    assert not classify_error(error.Forbidden("Forbidden: bot was blocked by the user")).retryable
    assert not classify_error(error.BadRequest("Bad Request: chat not found")).retryable
    assert not classify_error(error.InvalidToken()).retryable
    assert classify_error(error.NetworkError("Bad Gateway")).retryable
    assert classify_error(error.TimedOut()).retryable
