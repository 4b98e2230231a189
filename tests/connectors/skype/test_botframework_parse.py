"""Bot Framework activities in, events out; the thread reference; error classification. No network."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.base import EventKind, InboundEvent, PayloadInvalid
from connectors.botframework import (
    BotFrameworkConnector,
    ThreadRef,
    classify_status,
    classify_token_error,
    parse_retry_after,
    parse_thread_ref,
)
from tests.connectors.skype.support import APP_ID, FIXTURES, fixture, request

TEAMS_SERVICE = "https://smba.trafficmanager.net/emea/"
TENANT = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"


def connector() -> BotFrameworkConnector:
    return BotFrameworkConnector(
        APP_ID,
        "secret",
        openid_url="https://login.botframework.com/v1/.well-known/openidconfiguration",
        token_url="https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token",
    )


def parse(activity: dict[str, Any]) -> InboundEvent:
    [event] = connector().parse(request(json.dumps(activity, ensure_ascii=False).encode()))
    return event


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("message__msteams_text_arabic", EventKind.MESSAGE),
        ("message__skype_text_arabic", EventKind.MESSAGE),
        ("message__webchat_text_arabic", EventKind.MESSAGE),
        ("message__msteams_file_attachment", EventKind.MESSAGE),
        ("message__webchat_image_attachment", EventKind.MESSAGE),
        ("message__msteams_quoted_reply", EventKind.MESSAGE),
        ("message__msteams_group_mention", EventKind.MESSAGE),
        ("message__msteams_card_action", EventKind.POSTBACK),
        ("invoke__adaptive_card_action", EventKind.POSTBACK),
        ("typing__webchat", EventKind.STATUS),
        ("conversation_update__members_added", EventKind.UNSUPPORTED),
        ("installation_update__add", EventKind.UNSUPPORTED),
        ("message_reaction__like", EventKind.UNSUPPORTED),
    ],
)
def test_every_fixture_parses_to_its_kind_on_its_own_channel(name: str, kind: EventKind) -> None:
    activity = fixture(name)
    event = parse(activity)
    assert event.kind is kind
    assert event.channel == activity["channelId"]  # replies go back through the same connector
    assert event.account_ref == APP_ID
    assert event.raw == activity


def test_teams_message_keeps_ids_tenant_and_service_url_for_the_reply() -> None:
    activity = fixture("message__msteams_text_arabic")
    event = parse(activity)
    assert event.text.startswith("السلام عليكم، أريد الاستفسار عن موعد صرف مكافأة التفوق")
    assert event.event_id == f"{activity['conversation']['id']}|1764000300123"
    assert parse_thread_ref(event.thread_ref) == ThreadRef(activity["conversation"]["id"], TEAMS_SERVICE, TENANT)
    assert event.user_ref == activity["from"]["id"]
    assert event.user_display == "أحمد القحطاني"
    assert event.language_hint == "ar"
    assert event.sent_at == datetime(2026, 11, 22, 10, 5, 0, 123000, tzinfo=UTC)


def test_skype_entity_escaped_xml_text_is_unescaped() -> None:
    event = parse(fixture("message__skype_text_arabic"))
    assert '"النقل الخارجي"' in event.text and "&quot;" not in event.text
    ref = parse_thread_ref(event.thread_ref)
    assert ref.conversation_id == event.user_ref and ref.tenant_id is None
    assert ref.service_url == "https://smba.trafficmanager.net/apis/"


def test_webchat_activity_ids_already_holding_a_pipe_still_round_trip() -> None:
    event = parse(fixture("message__webchat_text_arabic"))
    assert event.event_id == "Kq3vT8mZ1xL9pR4sW6yB2c-us|Kq3vT8mZ1xL9pR4sW6yB2c-us|0000002"
    assert parse_thread_ref(event.thread_ref) == ThreadRef(
        "Kq3vT8mZ1xL9pR4sW6yB2c-us", "https://webchat.botframework.com/"
    )


def test_teams_files_are_kept_as_download_references_and_the_html_copy_is_dropped() -> None:
    event = parse(fixture("message__msteams_file_attachment"))
    assert [(a.type, a.name) for a in event.attachments] == [("file", "شهادة القيد.pdf"), ("image", None)]
    assert "download.aspx" in event.attachments[0].ref
    assert event.attachments[1].ref.endswith("/views/original")
    assert event.text == "مرفق صورة من شهادة القيد"


def test_webchat_image_without_text_is_a_message_with_an_attachment() -> None:
    event = parse(fixture("message__webchat_image_attachment"))
    assert event.text == ""
    [image] = event.attachments
    assert (image.type, image.mime, image.name) == ("image", "image/jpeg", "تقرير.jpg")


def test_quoted_reply_keeps_the_quoted_activity_id() -> None:
    assert parse(fixture("message__msteams_quoted_reply")).reply_to_ref == "1764000300999"


def test_mention_of_the_bot_is_removed_from_group_chat_text() -> None:
    event = parse(fixture("message__msteams_group_mention"))
    assert event.text == "متى يبدأ التسجيل في برنامج موهبة؟"
    assert parse_thread_ref(event.thread_ref).conversation_id.endswith("@thread.v2")


def test_card_button_is_a_postback_with_the_payload_from_its_value() -> None:
    event = parse(fixture("message__msteams_card_action"))
    assert (event.postback, event.text, event.reply_to_ref) == ("rating:5", "ممتاز", "1764000470001")


def test_adaptive_card_invoke_is_a_postback_with_the_action_data() -> None:
    event = parse(fixture("invoke__adaptive_card_action"))
    assert event.postback == "objection"
    assert event.text == "adaptiveCard/action"


def test_activities_we_do_not_act_on_say_what_they_were() -> None:
    assert "members added" in parse(fixture("conversation_update__members_added")).text
    assert parse(fixture("installation_update__add")).text == "installationUpdate: add"
    assert "added ['like']" in parse(fixture("message_reaction__like")).text


def test_message_with_neither_text_nor_attachments_is_kept_as_unsupported() -> None:
    activity = fixture("message__webchat_text_arabic") | {"text": "   "}
    assert parse(activity).kind is EventKind.UNSUPPORTED


def test_very_long_conversation_ids_still_give_a_bounded_dedupe_key() -> None:
    activity = fixture("message__webchat_text_arabic")
    activity["conversation"]["id"] = "c" * 150
    activity["id"] = "c" * 150 + "|0000009"
    event = parse(activity)
    assert event.event_id.startswith("sha256:") and len(event.event_id) <= 256
    assert parse(activity).event_id == event.event_id  # stable: a redelivery is still a duplicate


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"channelId": "directline"}, "not served here"),
        ({"channelId": None}, "not served here"),
        ({"id": None}, "id (a non-empty string) is required"),
        ({"type": None}, "type (a non-empty string) is required"),
        ({"conversation": {}}, "conversation.id"),
        ({"serviceUrl": None}, "serviceUrl"),
        ({"serviceUrl": "ftp://files.example/"}, "http(s) URL"),
        ({"serviceUrl": "https://a.example/|b"}, "http(s) URL"),
        ({"from": {}}, "from.id"),
        ({"conversation": {"id": "x" * 300}}, "exceed 256"),
    ],
)
def test_malformed_activities_raise_payload_invalid_with_a_reason(change: dict[str, Any], reason: str) -> None:
    activity = fixture("message__webchat_text_arabic") | change
    with pytest.raises(PayloadInvalid) as exc:
        parse({k: v for k, v in activity.items() if v is not None})
    assert reason in exc.value.message


@pytest.mark.parametrize("body", [b"", b"[]", b"{broken", '{"type": "message"}'.encode("utf-16")])
def test_non_object_bodies_are_payload_invalid(body: bytes) -> None:
    with pytest.raises(PayloadInvalid):
        connector().parse(request(body))


def test_every_fixture_is_valid_utf8_json() -> None:
    for path in FIXTURES.glob("*.json"):
        assert isinstance(json.loads(path.read_bytes().decode("utf-8")), dict), path.name


@pytest.mark.parametrize(
    "ref",
    [
        ThreadRef("a:1xYz", "https://smba.trafficmanager.net/emea/", TENANT),
        ThreadRef("29:1abc", "https://smba.trafficmanager.net/apis/"),
        ThreadRef("odd|conversation|id", "https://webchat.botframework.com/"),
        ThreadRef("19:abc@thread.v2;messageid=1764000300123", "http://127.0.0.1:8080/amer/", "t-1"),
    ],
)
def test_thread_reference_round_trips(ref: ThreadRef) -> None:
    assert parse_thread_ref(ref.encode()) == ref


@pytest.mark.parametrize("bad", ["no-url-here", "conv|tenant-only", "|https://webchat.botframework.com/"])
def test_malformed_thread_references_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_thread_ref(bad)


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://smba.trafficmanager.net/emea/", True),
        ("https://webchat.botframework.com/", True),
        ("https://europe.webchat.botframework.com/", True),
        ("https://smba.infra.gcc.teams.microsoft.com/amer/", True),
        ("https://smba.infra.gov.teams.microsoft.us/", True),
        ("http://smba.trafficmanager.net/emea/", False),  # never send a token in clear text
        ("https://evil.trafficmanager.net/emea/", False),  # anyone can register a trafficmanager name
        ("https://botframework.com.attacker.example/", False),
        ("https://user:pw@webchat.botframework.com/", False),
        ("https://webchat.botframework.com:8443/", False),
        ("https://login.botframework.com/", True),
    ],
)
def test_bearer_tokens_only_go_to_bot_framework_hosts(url: str, trusted: bool) -> None:
    assert connector().service_url_trusted(url) is trusted


def test_the_configured_metadata_origin_is_trusted_for_local_fakes() -> None:
    local = BotFrameworkConnector(
        APP_ID, "s", openid_url="http://127.0.0.1:18080/v1/.well-known/openidconfiguration", token_url="x"
    )
    assert local.service_url_trusted("http://127.0.0.1:18080/amer/")
    assert not local.service_url_trusted("http://127.0.0.1:18081/amer/")


@pytest.mark.parametrize(
    ("status", "retryable", "words"),
    [
        (429, True, "throttled"),
        (500, True, "unavailable"),
        (502, True, "unavailable"),
        (504, True, "unavailable"),
        (412, True, "unavailable"),
        (401, False, "re-authorise"),
        (403, False, "blocked"),
        (404, False, "conversation not found"),
        (413, False, "too large"),
        (400, False, "refused"),
    ],
)
def test_connector_errors_are_classified_with_readable_reasons(status: int, retryable: bool, words: str) -> None:
    body = json.dumps({"error": {"code": "SomeCode", "message": "details from Microsoft"}})
    error = classify_status(status, body, "7" if status == 429 else None)
    assert error.retryable is retryable and error.status == status and error.code == "SomeCode"
    assert words in error.reason and "details from Microsoft" in error.reason
    if status == 429:
        assert error.retry_after == 7


def test_token_endpoint_errors_say_re_authorise_unless_transient() -> None:
    body = json.dumps(
        {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret.\r\nTrace"}
    )
    refused = classify_token_error(401, body, None)
    assert not refused.retryable and "re-authorise" in refused.reason and "AADSTS7000215" in refused.reason
    assert "Trace" not in refused.reason
    assert classify_token_error(503, "", "30").retryable
    assert classify_token_error(503, "", "30").retry_after == 30


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("12") == 12
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = parse_retry_after("Wed, 21 Oct 2099 07:28:00 GMT")
    assert later is not None and later > 0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
