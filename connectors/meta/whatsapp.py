"""WhatsApp Cloud API: business-account webhooks in, ``/{PHONE_NUMBER_ID}/messages`` out (channels.md §4).

Inbound: ``POST /webhooks/whatsapp`` with ``{"object": "whatsapp_business_account", "entry": [{"id":
WABA_ID, "changes": [{"field": "messages", "value": {...}}]}]}``, signed like every Meta webhook.
One ``value`` can carry several ``messages`` and ``statuses``; each becomes an event. Dedupe key:
the message's ``wamid``; a status is keyed ``(wamid, status)`` because one message has several.
Thread: ``PHONE_NUMBER_ID:WA_ID``. The sender's number is asserted by WhatsApp itself, so it is
passed on as the event's phone. Messages the business sent from the WhatsApp Business app come
back on the ``smb_message_echoes`` field and are echoes.

Outbound: free-form text within 24 hours of the citizen's last message; after that WhatsApp accepts
only an approved template, so the send stops with the terminal reason "window closed: only an
approved template can be sent" unless the message carries one (``extra["whatsapp_template"] =
{"name", "language", "parameters"}``). Buttons become interactive reply buttons (3 at most, titles
of 20 characters, body of 1024) or numbered text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.base import (
    Attachment,
    Capabilities,
    ChallengeResponse,
    Connector,
    DeliveryError,
    EventKind,
    InboundEvent,
    OutboundMessage,
    PayloadInvalid,
    SendResult,
    WebhookRequest,
    from_unix,
    load_json_object,
)
from connectors.meta.graph import Channel, GraphClient
from connectors.meta.policy import (
    STANDARD_WINDOW,
    WHATSAPP_REPLY_BUTTONS,
    as_numbered_text,
    buttons_fit,
    whatsapp_window_error,
    whatsapp_window_open,
)
from connectors.meta.signature import answer_challenge, verify_signature

if TYPE_CHECKING:
    from hub.config import Settings

_MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio", "document": "file", "sticker": "sticker"}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WhatsAppConnector(Connector):
    name: ClassVar[str] = "whatsapp"
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_text_length=4096,
        messaging_window=STANDARD_WINDOW,
        human_agent_window=None,  # WhatsApp has no human-agent extension: templates only after 24 h
        rich_types=frozenset({"buttons"}),
        can_initiate=False,  # only with an approved template, which the hub does not write on its own
        rate_per_s=40.0,  # half the default 80 messages/s of a Cloud API number
        burst=10,
    )
    channel: ClassVar[Channel] = Channel("WhatsApp", "TAWASUL_WHATSAPP_TOKEN")

    def __init__(
        self,
        app_secret: str,
        verify_token: str,
        access_token: str,
        phone_number_id: str,
        api_base: str,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._app_secret = app_secret
        self._verify_token = verify_token
        self._phone_number_id = phone_number_id
        self._clock = clock
        self._graph = GraphClient(api_base, access_token, self.channel, app_secret=app_secret)

    @classmethod
    def from_settings(cls, settings: Settings) -> WhatsAppConnector | None:
        if (
            settings.meta_app_secret is None
            or settings.meta_verify_token is None
            or settings.whatsapp_token is None
            or not settings.whatsapp_phone_number_id
        ):
            return None
        return cls(
            settings.meta_app_secret.get_secret_value(),
            settings.meta_verify_token.get_secret_value(),
            settings.whatsapp_token.get_secret_value(),
            settings.whatsapp_phone_number_id,
            settings.meta_api_base,
        )

    @property
    def account_ref(self) -> str:
        return self._phone_number_id

    # --- inbound ------------------------------------------------------------------------------

    def challenge(self, request: WebhookRequest) -> ChallengeResponse:
        return answer_challenge(self._verify_token, request)

    def verify(self, request: WebhookRequest) -> None:
        verify_signature(self._app_secret, request)

    def parse(self, request: WebhookRequest) -> list[InboundEvent]:
        data = load_json_object(request.body)
        if data.get("object") != "whatsapp_business_account":
            raise PayloadInvalid(
                f"object must be 'whatsapp_business_account' on /webhooks/whatsapp, got {data.get('object')!r}"
            )
        entries = data.get("entry")
        if not isinstance(entries, list):
            raise PayloadInvalid("entry (a list) is required")
        events: list[InboundEvent] = []
        for i, entry in enumerate(entries):
            changes = entry.get("changes") if isinstance(entry, dict) else None
            if not isinstance(changes, list):
                raise PayloadInvalid(f"entry[{i}].changes (a list) is required")
            for j, change in enumerate(changes):
                value = change.get("value") if isinstance(change, dict) else None
                if not isinstance(value, dict):
                    raise PayloadInvalid(f"entry[{i}].changes[{j}].value (an object) is required")
                events.extend(self._change_events(entry, str(change.get("field") or ""), value))
        return events

    def _change_events(self, entry: dict[str, Any], field: str, value: dict[str, Any]) -> list[InboundEvent]:
        account = str(_object(value, "metadata").get("phone_number_id") or self._phone_number_id)

        def raw(key: str, item: dict[str, Any]) -> dict[str, Any]:
            # Each event keeps its own slice of a batch, not the whole body N times.
            sliced = {k: v for k, v in value.items() if k not in ("messages", "statuses", "message_echoes", "errors")}
            if key == "messages":
                sliced["contacts"] = [c for c in value.get("contacts") or [] if _wa_id(c) == item.get("from")]
            sliced[key] = [item]
            return {
                "object": "whatsapp_business_account",
                "entry": [{"id": entry.get("id"), "changes": [{"field": field, "value": sliced}]}],
            }

        events: list[InboundEvent] = []
        if field == "messages":
            names = {w: _object(c, "profile").get("name") for c in value.get("contacts") or [] if (w := _wa_id(c))}
            for msg in _items(value, "messages"):
                events.append(self._message_event(account, msg, names, raw("messages", msg)))
            for status in _items(value, "statuses"):
                events.append(self._status_event(account, status, raw("statuses", status)))
            for error in _items(value, "errors"):
                events.append(
                    self._event(
                        EventKind.UNSUPPORTED,
                        account,
                        f"error:{_digest(error)}",
                        text=f"WhatsApp reported error {error.get('code')}: {error.get('title') or error.get('message')}",
                        raw=raw("errors", error),
                    )
                )
        elif field == "smb_message_echoes":
            for echo in _items(value, "message_echoes"):
                events.append(
                    self._event(
                        EventKind.ECHO,
                        account,
                        _required_id(echo, "message_echoes"),
                        user=str(echo.get("to") or ""),
                        text=str(_object(echo, "text").get("body") or ""),
                        sent_at=from_unix(_number(echo.get("timestamp"))),
                        raw=raw("message_echoes", echo),
                    )
                )
        if not events:  # template reviews, account updates, an empty "messages" change...
            events.append(
                self._event(
                    EventKind.UNSUPPORTED,
                    account,
                    f"{field or 'change'}:{_digest(value)}",
                    text=f"unsupported change field: {field or 'none'}",
                    raw={"object": "whatsapp_business_account", "entry": [entry]},
                )
            )
        return events

    def _message_event(
        self, account: str, msg: dict[str, Any], names: Mapping[str, Any], raw: dict[str, Any]
    ) -> InboundEvent:
        event_id = _required_id(msg, "messages")
        sender = str(msg.get("from") or "")
        if not sender:
            raise PayloadInvalid("messages[].from is required")
        msg_type = str(msg.get("type") or "")
        context = _object(msg, "context")
        common: dict[str, Any] = {
            "user": sender,
            "user_display": names.get(sender),
            "sent_at": from_unix(_number(msg.get("timestamp"))),
            "reply_to_ref": str(context["id"]) if context.get("id") else None,
            "phone": f"+{sender}" if sender.isdigit() else None,
            "raw": raw,
        }
        if msg_type == "text":
            return self._event(
                EventKind.MESSAGE, account, event_id, text=str(_object(msg, "text").get("body") or ""), **common
            )
        if msg_type in _MEDIA_TYPES:
            media = _object(msg, msg_type)
            if not media.get("id"):
                raise PayloadInvalid(f"messages[].{msg_type}.id is required")
            attachment = Attachment(
                "audio" if msg_type == "audio" else _MEDIA_TYPES[msg_type],
                str(media["id"]),  # a media id: fetch with GET /{media-id}, then download within minutes
                media.get("mime_type"),
                media.get("filename"),
            )
            text = str(media.get("caption") or "")
            return self._event(EventKind.MESSAGE, account, event_id, text=text, attachments=(attachment,), **common)
        if msg_type == "location":
            place = _object(msg, "location")
            attachment = Attachment(
                "location",
                f"geo:{place.get('latitude')},{place.get('longitude')}",
                name=place.get("name") or place.get("address"),
            )
            return self._event(EventKind.MESSAGE, account, event_id, attachments=(attachment,), **common)
        if msg_type == "interactive":
            interactive = _object(msg, "interactive")
            choice = _object(interactive, "button_reply") or _object(interactive, "list_reply")
            if choice.get("id"):
                return self._event(
                    EventKind.POSTBACK,
                    account,
                    event_id,
                    text=str(choice.get("title") or ""),
                    postback=str(choice["id"]),
                    **common,
                )
        if msg_type == "button":  # a template's quick-reply button
            button = _object(msg, "button")
            return self._event(
                EventKind.POSTBACK,
                account,
                event_id,
                text=str(button.get("text") or ""),
                postback=str(button.get("payload") or button.get("text") or ""),
                **common,
            )
        # reaction, contacts, order, system, unsupported, request_welcome, flows...: kept, not acted on
        return self._event(
            EventKind.UNSUPPORTED, account, event_id, text=f"unsupported message type: {msg_type or 'none'}", **common
        )

    def _status_event(self, account: str, status: dict[str, Any], raw: dict[str, Any]) -> InboundEvent:
        wamid = _required_id(status, "statuses")
        state = str(status.get("status") or "unknown")
        text = state
        errors = [e for e in status.get("errors") or [] if isinstance(e, dict)]
        if errors:
            first = errors[0]
            details = _object(first, "error_data").get("details") or first.get("title") or first.get("message")
            text = f"{state}: ({first.get('code')}) {details}"
        return self._event(
            EventKind.STATUS,
            account,
            f"{wamid}:{state}",
            user=str(status.get("recipient_id") or ""),
            text=text,
            sent_at=from_unix(_number(status.get("timestamp"))),
            reply_to_ref=wamid,
            raw=raw,
        )

    def _event(
        self,
        kind: EventKind,
        account: str,
        event_id: str,
        *,
        user: str = "",
        raw: dict[str, Any],
        **fields: Any,
    ) -> InboundEvent:
        return InboundEvent(
            channel=self.name,
            account_ref=account,
            event_id=event_id,
            kind=kind,
            thread_ref=f"{account}:{user}" if user else "",
            user_ref=user,
            raw=raw,
            **fields,
        )

    # --- outbound -----------------------------------------------------------------------------

    def render_buttons_as_text(self, message: OutboundMessage) -> OutboundMessage:
        """Keep interactive reply buttons when they fit WhatsApp's limits, else numbered lines."""
        caps = self.capabilities
        if buttons_fit(message, WHATSAPP_REPLY_BUTTONS, caps.max_text_length, caps.length_unit):
            return message
        return as_numbered_text(message)

    async def send(self, message: OutboundMessage) -> SendResult:
        wa_id = message.thread_ref.partition(":")[2] or message.user_ref
        if not wa_id:
            raise DeliveryError("WhatsApp: no recipient number on the conversation", retryable=False)
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": wa_id if wa_id.startswith("+") else f"+{wa_id}",  # Meta asks for + and the country code
        }
        template = message.extra.get("whatsapp_template")
        if not whatsapp_window_open(message, self._clock()):
            if not isinstance(template, Mapping) or not template.get("name"):
                raise whatsapp_window_error(message, self._clock())
            body |= _template(template)
        else:
            if message.buttons and not WHATSAPP_REPLY_BUTTONS.fit(message.buttons, message.text):
                message = as_numbered_text(message)
            if message.buttons:
                body["type"] = "interactive"
                body["interactive"] = {
                    "type": "button",
                    "body": {"text": message.text},
                    "action": {
                        "buttons": [
                            {"type": "reply", "reply": {"id": b.payload, "title": b.title.strip()}}
                            for b in message.buttons
                        ]
                    },
                }
            else:
                body["type"] = "text"
                body["text"] = {"preview_url": False, "body": message.text}
            if message.reply_to_ref and message.reply_to_ref.startswith("wamid."):
                body["context"] = {"message_id": message.reply_to_ref}
        account = message.account_ref if message.account_ref.isdigit() else self._phone_number_id
        answer = await self._graph.post(f"{account}/messages", body)
        sent = answer.get("messages")
        wamid = sent[0].get("id") if isinstance(sent, list) and sent and isinstance(sent[0], dict) else None
        return SendResult(platform_message_id=str(wamid) if wamid else None)

    async def aclose(self) -> None:
        await self._graph.aclose()


# --- payload helpers ---------------------------------------------------------------------------------


def _template(template: Mapping[str, Any]) -> dict[str, Any]:
    """An approved template message: positional body parameters as text."""
    parameters = [{"type": "text", "text": str(p)} for p in template.get("parameters") or ()]
    body: dict[str, Any] = {"name": str(template["name"]), "language": {"code": str(template.get("language") or "ar")}}
    if parameters:
        body["components"] = [{"type": "body", "parameters": parameters}]
    return {"type": "template", "template": body}


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _items(value: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = value.get(key)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise PayloadInvalid(f"value.{key} must be a list of objects")
    return items


def _required_id(item: dict[str, Any], key: str) -> str:
    if not item.get("id"):
        raise PayloadInvalid(f"{key}[].id is required")
    return str(item["id"])


def _wa_id(contact: Any) -> str | None:
    return str(contact.get("wa_id")) if isinstance(contact, dict) and contact.get("wa_id") else None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _digest(value: Any) -> str:
    """A stable id for changes that carry none, so Meta's redelivery still deduplicates."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:20]
