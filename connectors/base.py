"""The connector contract: what every channel provides, and the plain records that cross its border.

A connector verifies a webhook on its raw bytes, parses it into ``InboundEvent`` records, sends an
``OutboundMessage``, declares its ``Capabilities`` and classifies platform errors as retryable or
terminal. It never touches the database or business rules (see docs/architecture.md).
"""

from __future__ import annotations

import enum
import hmac
import json
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from hub.config import Settings


# --- errors -------------------------------------------------------------------------------------


class WebhookRejected(Exception):
    """A webhook request is refused; ``status`` is the HTTP status to answer with."""

    status: int = 400
    code: str = "rejected"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SignatureMissing(WebhookRejected):
    status = 401
    code = "signature_missing"


class SignatureInvalid(WebhookRejected):
    status = 403
    code = "signature_invalid"


class PayloadInvalid(WebhookRejected):
    status = 400
    code = "payload_invalid"


class DeliveryError(Exception):
    """A send failed. ``retryable`` decides between another attempt and the dead-letter state."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.code = code

    def describe(self) -> str:
        parts = [self.reason]
        if self.status is not None:
            parts.append(f"http={self.status}")
        if self.code is not None:
            parts.append(f"code={self.code}")
        return " ".join(parts)


# --- records ------------------------------------------------------------------------------------


class EventKind(enum.StrEnum):
    MESSAGE = "message"  # a citizen wrote something (text and/or attachments)
    POSTBACK = "postback"  # a button the citizen pressed (rating, objection, ...)
    ECHO = "echo"  # the platform's copy of our own outbound message
    STATUS = "status"  # delivery/read receipts
    UNSUPPORTED = "unsupported"  # a valid event we do not act on (kept for audit)


@dataclass(frozen=True)
class Attachment:
    type: str  # image | video | audio | file | location | sticker
    ref: str  # platform file id or URL (Meta CDN URLs expire; download promptly)
    mime: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class InboundEvent:
    """One normalised inbound event (see ../shared/reference/channels.md §8.1)."""

    channel: str
    account_ref: str  # the hub's own account on the platform (bot id, page id, ...)
    event_id: str  # the platform's id for deduplication
    kind: EventKind
    thread_ref: str = ""  # where a reply goes (chat id, conversation id, ...)
    user_ref: str = ""  # who wrote (platform user id)
    user_display: str | None = None
    sent_at: datetime | None = None
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    reply_to_ref: str | None = None
    language_hint: str | None = None
    phone: str | None = None  # only when the platform itself asserts it (WhatsApp, portal)
    email: str | None = None
    postback: str | None = None  # button payload for POSTBACK events
    # The platform's id of this message when it differs from the dedupe key (Telegram: message_id,
    # not update_id); replies quote it. None means the event id is the message id.
    message_ref: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def reply_target(self) -> str:
        """The id a reply should quote (or thread under) on the platform."""
        return self.message_ref or self.event_id

    def to_record(self) -> dict[str, Any]:
        """JSON-safe form for the inbox (``raw`` is stored separately). Hand-written rather than
        ``asdict`` because it runs on the webhook path, where a deep copy is measurable."""
        return {
            "channel": self.channel,
            "account_ref": self.account_ref,
            "event_id": self.event_id,
            "kind": self.kind.value,
            "thread_ref": self.thread_ref,
            "user_ref": self.user_ref,
            "user_display": self.user_display,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "text": self.text,
            "attachments": [{"type": a.type, "ref": a.ref, "mime": a.mime, "name": a.name} for a in self.attachments],
            "reply_to_ref": self.reply_to_ref,
            "language_hint": self.language_hint,
            "phone": self.phone,
            "email": self.email,
            "postback": self.postback,
            "message_ref": self.message_ref,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> InboundEvent:
        values = dict(data)
        values["kind"] = EventKind(values["kind"])
        values["sent_at"] = datetime.fromisoformat(values["sent_at"]) if values.get("sent_at") else None
        values["attachments"] = tuple(Attachment(**a) for a in values.get("attachments") or ())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class Button:
    """A quick reply / button; channels without buttons show it as a numbered line."""

    title: str
    payload: str


@dataclass(frozen=True)
class OutboundMessage:
    channel: str
    account_ref: str
    thread_ref: str
    user_ref: str
    text: str
    buttons: tuple[Button, ...] = ()
    reply_to_ref: str | None = None
    delivery_id: str = ""  # stable across retries; receivers that support it deduplicate on it
    author: str = "bot"  # bot | coordinator | system: platforms allow people more (Meta's HUMAN_AGENT tag)
    last_inbound_at: datetime | None = None  # the citizen's last message: messaging windows start there
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    platform_message_id: str | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a channel can do; the hub reads these instead of switching on channel names."""

    max_text_length: int
    length_unit: str = "chars"  # "chars" or "bytes" (Instagram counts UTF-8 bytes)
    messaging_window: timedelta | None = None  # free-form replies allowed this long after the citizen
    human_agent_window: timedelta | None = None  # longer window for replies written by a person
    rich_types: frozenset[str] = frozenset()  # "buttons", "quick_replies", "attachments"
    can_initiate: bool = False  # may the hub write first?
    manual_delivery: bool = False  # replies are sent by a person (Snapchat)
    rate_per_s: float = 10.0  # token-bucket refill rate for sends
    burst: int = 10


@dataclass(frozen=True)
class WebhookRequest:
    """What a connector sees of an HTTP request: independent of the web framework."""

    method: str
    headers: Mapping[str, str]  # case-insensitive mapping
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class ChallengeResponse:
    """A direct answer to a verification handshake (e.g. Meta ``hub.challenge``, X CRC)."""

    status: int
    body: str
    content_type: str = "text/plain"


# --- the contract -------------------------------------------------------------------------------


class Connector(ABC):
    """One platform. Subclasses set ``name`` and ``capabilities`` and implement the four steps."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()  # more channel names served by the same connector
    capabilities: ClassVar[Capabilities]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Connector | None:
        """Build the connector from settings, or return None when its credentials are not set."""

    @property
    def account_ref(self) -> str:
        """The hub's own account on this platform; part of the inbox's dedupe key."""
        return "default"

    def challenge(self, request: WebhookRequest) -> ChallengeResponse | None:
        """Answer a GET verification handshake; None means the channel has none (405)."""
        return None

    @abstractmethod
    def verify(self, request: WebhookRequest) -> None:
        """Check authenticity on the raw body; raise SignatureMissing/SignatureInvalid."""

    @abstractmethod
    def parse(self, request: WebhookRequest) -> list[InboundEvent]:
        """Turn a verified request into events; raise PayloadInvalid on a malformed body."""

    @abstractmethod
    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one message part (already split to ``max_text_length``); raise DeliveryError."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release network clients."""

    def render_buttons_as_text(self, message: OutboundMessage) -> OutboundMessage:
        """Degrade buttons to numbered lines for channels without them."""
        if not message.buttons or "buttons" in self.capabilities.rich_types:
            return message
        lines = [message.text, ""] + [f"{i}. {b.title}" for i, b in enumerate(message.buttons, 1)]
        return OutboundMessage(**{**asdict_shallow(message), "text": "\n".join(lines), "buttons": ()})


def asdict_shallow(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


# --- helpers shared by connectors -------------------------------------------------------------------


def constant_time_equals(given: str | bytes | None, expected: str | bytes) -> bool:
    """Compare secrets without leaking timing; None (header absent) never matches."""
    if given is None:
        return False
    a = given.encode() if isinstance(given, str) else given
    b = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def load_json_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON object body strictly (UTF-8), raising PayloadInvalid with a clear reason."""
    if not body.strip():
        raise PayloadInvalid("empty body; a JSON object is expected")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadInvalid(f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadInvalid(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise PayloadInvalid(f"a JSON object is expected, got {type(data).__name__}")
    return data


def from_unix(seconds: float | int | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(float(seconds), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def split_text(text: str, limit: int, *, unit: str = "chars") -> list[str]:
    """Split ``text`` into parts of at most ``limit`` on word boundaries, preferring paragraph and
    line breaks, never separating an Arabic letter from its diacritics. ``unit="bytes"`` counts
    UTF-8 bytes (an Arabic letter is two bytes)."""
    text = text.strip()
    parts: list[str] = []
    while text:
        if _size(text, unit) <= limit:
            parts.append(text)
            break
        cut = _longest_prefix(text, limit, unit)
        window = text[:cut]
        for sep in ("\n\n", "\n", ". ", "، ", "؛ ", " "):
            pos = window.rfind(sep)
            if pos > cut // 3:  # a break this early would leave a tiny part
                cut = pos + len(sep)
                break
        else:  # one very long word: cut it, but not inside a letter+diacritics cluster
            while 1 < cut < len(text) and unicodedata.combining(text[cut]):
                cut -= 1
        parts.append(text[:cut].strip())
        text = text[cut:].lstrip()
    return [p for p in parts if p]


def _size(text: str, unit: str) -> int:
    return len(text.encode("utf-8")) if unit == "bytes" else len(text)


def _longest_prefix(text: str, limit: int, unit: str) -> int:
    if unit != "bytes":
        return min(len(text), limit)
    lo, hi = 1, len(text)
    while lo < hi:  # binary search on the UTF-8 length
        mid = (lo + hi + 1) // 2
        if _size(text[:mid], unit) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo
