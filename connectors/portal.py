"""The service's own web portal and mobile app: a signed JSON API channel.

Inbound: ``POST /webhooks/portal`` with a JSON body and ``X-Tawasul-Signature: sha256=<hex>``, the
HMAC-SHA256 of the raw body under ``TAWASUL_PORTAL_SECRET``. Body::

    {"event_id": "evt-1", "sent_at": "2026-11-25T09:00:00Z",
     "user": {"id": "u-42", "name": "سارة", "phone": "+966...", "email": "...", "language": "ar"},
     "thread_id": "optional, defaults to the user id",
     "text": "...", "attachments": [{"type": "image", "url": "https://...", "name": "..."}],
     "reply_to": "optional", "postback": "optional button payload"}

Outbound: the reply is POSTed to ``TAWASUL_PORTAL_CALLBACK_URL``, signed the same way, with an
``Idempotency-Key`` equal to the delivery id so the portal can drop a retried duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp

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
    WebhookRequest,
    constant_time_equals,
    load_json_object,
)

if TYPE_CHECKING:
    from hub.config import Settings

SIGNATURE_HEADER = "X-Tawasul-Signature"


def sign(secret: str, body: bytes) -> str:
    """The header value for ``body``: ``sha256=`` + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class PortalConnector(Connector):
    name: ClassVar[str] = "portal"
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_text_length=4000,
        rich_types=frozenset({"buttons", "attachments"}),
        can_initiate=True,
        rate_per_s=50.0,
        burst=10,
    )

    def __init__(self, secret: str, callback_url: str | None, max_skew_s: float) -> None:
        self._secret = secret
        self._callback_url = callback_url
        self._max_skew_s = max_skew_s
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PortalConnector | None:
        if settings.portal_secret is None:
            return None
        return cls(
            settings.portal_secret.get_secret_value(),
            settings.portal_callback_url,
            settings.portal_max_clock_skew_s,
        )

    # --- inbound ------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        given = request.headers.get(SIGNATURE_HEADER)
        if given is None:
            raise SignatureMissing(f"missing {SIGNATURE_HEADER} header")
        if not constant_time_equals(given.strip(), sign(self._secret, request.body)):
            raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")

    def parse(self, request: WebhookRequest) -> list[InboundEvent]:
        data = load_json_object(request.body)
        event_id = _required_str(data, "event_id")
        user = data.get("user")
        if not isinstance(user, dict):
            raise PayloadInvalid("user (an object with an id) is required")
        user_id = _required_str(user, "id", prefix="user.")
        sent_at = _timestamp(data.get("sent_at"))
        if sent_at is not None and abs((datetime.now(UTC) - sent_at).total_seconds()) > self._max_skew_s:
            # A signed body replayed long after the fact; fresh duplicates are caught by event_id.
            raise SignatureInvalid("sent_at is outside the accepted window (replayed request?)")
        text = data.get("text", "")
        if not isinstance(text, str):
            raise PayloadInvalid("text must be a string")
        postback = data.get("postback")
        attachments = _attachments(data.get("attachments"))
        if not text.strip() and not attachments and not postback:
            raise PayloadInvalid("a message needs text, an attachment or a postback")
        return [
            InboundEvent(
                channel=self.name,
                account_ref=self.account_ref,
                event_id=event_id,
                kind=EventKind.POSTBACK if postback else EventKind.MESSAGE,
                thread_ref=str(data.get("thread_id") or user_id),
                user_ref=user_id,
                user_display=_optional_str(user, "name"),
                sent_at=sent_at,
                text=text,
                attachments=attachments,
                reply_to_ref=_optional_str(data, "reply_to"),
                language_hint=_optional_str(user, "language"),
                phone=_optional_str(user, "phone"),
                email=_optional_str(user, "email"),
                postback=str(postback) if postback else None,
                raw=data,
            )
        ]

    # --- outbound -----------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        if not self._callback_url:
            raise DeliveryError("TAWASUL_PORTAL_CALLBACK_URL is not set", retryable=False)
        body = json.dumps(
            {
                "delivery_id": message.delivery_id,
                "user_id": message.user_ref,
                "thread_id": message.thread_ref,
                "text": message.text,
                "buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons],
                "reply_to": message.reply_to_ref,
                "ticket_number": message.extra.get("ticket_number"),
                "sent_at": datetime.now(UTC).isoformat(),
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self._secret, body),
            "Idempotency-Key": message.delivery_id,
        }
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15, connect=5))
        try:
            async with self._session.post(self._callback_url, data=body, headers=headers) as resp:
                text = await resp.text(errors="replace")
                if resp.status < 300:
                    return SendResult(platform_message_id=_message_id(text) or message.delivery_id)
                raise classify_status(resp.status, resp.headers.get("Retry-After"), text)
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"portal callback unreachable: {exc}", retryable=True) from exc
        except TimeoutError as exc:
            raise DeliveryError("portal callback timed out", retryable=True) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def classify_status(status: int, retry_after: str | None, body: str) -> DeliveryError:
    """429 and 5xx are worth another attempt; other 4xx mean the portal refused the message."""
    wait = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
    retryable = status == 429 or status >= 500 or status == 408
    return DeliveryError(
        f"portal callback answered {status}: {body[:200]}", retryable=retryable, retry_after=wait, status=status
    )


def _message_id(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return str(data["message_id"]) if isinstance(data, dict) and data.get("message_id") else None


def _required_str(data: dict[str, Any], key: str, *, prefix: str = "") -> str:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
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
    if not isinstance(value, list) or not all(isinstance(a, dict) and a.get("url") for a in value):
        raise PayloadInvalid("attachments must be a list of objects with a url")
    return tuple(Attachment(str(a.get("type") or "file"), str(a["url"]), a.get("mime"), a.get("name")) for a in value)
