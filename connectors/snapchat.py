"""Snapchat: an assisted channel (replies sent by hand) plus a signed relay webhook.

Snap publishes no API that lets a business receive or answer a Snapchatter's chats. Snap Kit is
Login Kit and Creative Kit (sharing *into* Snapchat); the Marketing API's Public Profile API is
allow-listed, and its only "Messaging" endpoints are brand-to-creator collaboration conversations,
with no inbound webhook (../shared/reference/channels.md §5, citing developers.snap.com). So:

* Replies are never sent by software. ``capabilities.manual_delivery`` makes the delivery service
  mark each reply ``manual``: the text waits in the outbox for a coordinator to send it in the
  Snapchat app and confirm. ``send`` refuses, terminally, if it is ever called.
* ``POST /webhooks/snapchat`` accepts messages from an official API or an approved bridge, should
  one exist, in the hub's own signed format: ``X-Tawasul-Signature: sha256=<hex HMAC-SHA256 of the
  raw body>`` under ``TAWASUL_SNAPCHAT_RELAY_SECRET``, with a ``timestamp`` (Unix seconds) that
  must be within ``REPLAY_WINDOW_S`` of now. Body::

      {"event_id": "relay-0001", "timestamp": 1764063600,
       "user": {"id": "snap-user-id", "display_name": "نورة"},
       "conversation_id": "optional, defaults to user.id",
       "direction": "inbound | outbound (a copy of what the service sent: stored, not processed)",
       "text": "...", "attachments": [{"type": "image", "ref": "https://bridge/media/1", "mime": "image/jpeg"}],
       "sent_at": "2026-11-25T09:00:00Z", "reply_to": "optional event id"}

The channel is on when ``TAWASUL_SNAPCHAT_ENABLED=true`` or a relay secret is set; without a
secret the relay webhook answers 404 ``relay_disabled``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.base import (
    Attachment,
    Capabilities,
    Connector,
    DeliveryError,
    EventKind,
    InboundEvent,
    OutboundMessage,
    PayloadInvalid,
    SendResult,
    SignatureInvalid,
    SignatureMissing,
    WebhookRejected,
    WebhookRequest,
    constant_time_equals,
    load_json_object,
)

if TYPE_CHECKING:
    from hub.config import Settings

SIGNATURE_HEADER = "X-Tawasul-Signature"
REPLAY_WINDOW_S = 300.0  # a signed body older (or newer) than this is refused as a replay
MANUAL_REASON = (
    "Snapchat has no API for sending chat messages: this reply is sent by hand. A coordinator copies "
    "the text into the Snapchat app, sends it there and confirms it in the hub."
)
_ATTACHMENT_TYPES = frozenset({"image", "video", "audio", "file", "location", "sticker"})


class RelayDisabled(WebhookRejected):
    status = 404
    code = "relay_disabled"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Tawasul-Signature`` value for ``body``: ``sha256=`` + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class SnapchatConnector(Connector):
    name: ClassVar[str] = "snapchat"
    capabilities: ClassVar[Capabilities] = Capabilities(
        # Snap documents no chat length limit; 4,000 keeps each reply one comfortable paste.
        max_text_length=4000,
        rich_types=frozenset(),  # a person types the reply: buttons become numbered lines
        can_initiate=False,
        manual_delivery=True,
    )

    def __init__(self, relay_secret: str | None, *, replay_window_s: float = REPLAY_WINDOW_S) -> None:
        self._relay_secret = relay_secret
        self._replay_window_s = replay_window_s

    @classmethod
    def from_settings(cls, settings: Settings) -> SnapchatConnector | None:
        secret = settings.snapchat_relay_secret.get_secret_value() if settings.snapchat_relay_secret else None
        if not settings.snapchat_enabled and secret is None:
            return None
        return cls(secret)

    # --- inbound (relay) ----------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        if self._relay_secret is None:
            raise RelayDisabled("the Snapchat relay webhook is off: set TAWASUL_SNAPCHAT_RELAY_SECRET to accept relays")
        given = request.headers.get(SIGNATURE_HEADER)
        if given is None:
            raise SignatureMissing(f"missing {SIGNATURE_HEADER} header")
        if not constant_time_equals(given.strip(), sign(self._relay_secret, request.body)):
            raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")

    def parse(self, request: WebhookRequest) -> list[InboundEvent]:
        data = load_json_object(request.body)
        event_id = _required_str(data, "event_id")
        self._check_fresh(data.get("timestamp"))
        user = data.get("user")
        if not isinstance(user, dict):
            raise PayloadInvalid("user (an object with an id) is required")
        user_id = _required_str(user, "id", prefix="user.")
        direction = data.get("direction", "inbound")
        if direction not in ("inbound", "outbound"):
            raise PayloadInvalid("direction must be 'inbound' or 'outbound'")
        text = data.get("text", "")
        if not isinstance(text, str):
            raise PayloadInvalid("text must be a string")
        attachments = _attachments(data.get("attachments"))
        if not text.strip() and not attachments:
            raise PayloadInvalid("a message needs text or an attachment")
        return [
            InboundEvent(
                channel=self.name,
                account_ref=self.account_ref,
                event_id=event_id,
                # What the service itself sent (typed by a coordinator) is recorded, not answered.
                kind=EventKind.ECHO if direction == "outbound" else EventKind.MESSAGE,
                thread_ref=_optional_str(data, "conversation_id") or user_id,
                user_ref=user_id,
                user_display=_optional_str(user, "display_name"),
                sent_at=_timestamp(data.get("sent_at")),
                text=text,
                attachments=attachments,
                reply_to_ref=_optional_str(data, "reply_to"),
                raw=data,
            )
        ]

    def _check_fresh(self, value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise PayloadInvalid("timestamp (Unix seconds when the relay sent the request) is required")
        if abs(time.time() - float(value)) > self._replay_window_s:
            # Signed but stale: a captured request played again. Fresh repeats are caught by event_id.
            raise SignatureInvalid(
                f"timestamp is more than {int(self._replay_window_s)} s from now (replayed request or clock skew)"
            )

    # --- outbound -----------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        # The delivery service never calls this for a manual channel; if anything does, say why
        # nothing was sent instead of pretending.
        raise DeliveryError(MANUAL_REASON, retryable=False, code="manual_delivery")


def _required_str(data: dict[str, Any], key: str, *, prefix: str = "") -> str:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise PayloadInvalid(f"{prefix}{key} (a non-empty string of at most 256 characters) is required")
    return value.strip()


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return str(value) if value not in (None, "") else None


def _timestamp(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise PayloadInvalid("sent_at must be an ISO 8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _attachments(value: Any) -> tuple[Attachment, ...]:
    if value in (None, []):
        return ()
    if not isinstance(value, list) or not all(isinstance(a, dict) and a.get("ref") for a in value):
        raise PayloadInvalid("attachments must be a list of objects with a ref")
    found = []
    for item in value:
        kind = str(item.get("type") or "file")
        if kind not in _ATTACHMENT_TYPES:
            raise PayloadInvalid(f"attachment type must be one of {sorted(_ATTACHMENT_TYPES)}")
        found.append(Attachment(kind, str(item["ref"]), _optional_str(item, "mime"), _optional_str(item, "name")))
    return tuple(found)
