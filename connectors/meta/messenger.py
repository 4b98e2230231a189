"""Facebook Messenger: Page webhooks in, the Send API out (../shared/reference/channels.md §2).

Inbound: ``POST /webhooks/facebook`` with ``{"object": "page", "entry": [{"id": PAGE_ID, "messaging":
[...]}]}`` signed with ``X-Hub-Signature-256``; the subscription handshake is ``GET /webhooks/facebook``
with ``hub.*`` parameters. One body may batch several entries and several messaging items: each
item becomes one event. Dedupe key: ``message.mid`` (``postback.mid`` for buttons); receipts are
keyed by their watermark. Thread: ``PAGE_ID:PSID``.

Outbound: ``POST {TAWASUL_META_API_BASE}/{PAGE_ID}/messages`` with the Page token. Inside 24 hours
of the citizen's last message a ``RESPONSE``; up to 7 days a coordinator's reply with the
``HUMAN_AGENT`` tag; otherwise a terminal "window closed" (see ``connectors.meta.policy``).
Buttons become quick replies (13 at most, titles of 20 characters) or numbered text.

Instagram reuses this class (``connectors.meta.instagram``): same envelope, same Send API.
"""

from __future__ import annotations

from collections.abc import Callable
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
    HUMAN_AGENT_WINDOW,
    QUICK_REPLIES,
    STANDARD_WINDOW,
    ButtonLimits,
    as_numbered_text,
    buttons_fit,
    messenger_send_mode,
)
from connectors.meta.signature import answer_challenge, verify_signature

if TYPE_CHECKING:
    from hub.config import Settings

Clock = Callable[[], datetime]

# Attachment types Meta sends -> the hub's small vocabulary (Attachment.type); anything else is a
# shared link or post, kept as a "file" reference named after Meta's type.
_ATTACHMENT_TYPES = {
    "image": "image",
    "audio": "audio",
    "video": "video",
    "file": "file",
    "reel": "video",
    "ig_reel": "video",
    "story_mention": "image",
    "location": "location",
}
# Messaging items we keep for audit but do not act on, and the key that holds their details.
_OTHER_ITEMS = (
    "reaction",
    "message_edit",
    "referral",
    "optin",
    "policy_enforcement",
    "account_linking",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MessengerConnector(Connector):
    name: ClassVar[str] = "facebook"
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_text_length=2000,  # the Send API's limit for message.text
        messaging_window=STANDARD_WINDOW,
        human_agent_window=HUMAN_AGENT_WINDOW,
        rich_types=frozenset({"buttons", "quick_replies"}),
        can_initiate=False,  # a Page may only answer people who wrote to it
        rate_per_s=40.0,  # Meta: a Page above ~40 messages/s falls under high-volume restrictions
        burst=10,
    )
    #: The webhook ``object`` this endpoint accepts.
    webhook_object: ClassVar[str] = "page"
    channel: ClassVar[Channel] = Channel("Messenger", "TAWASUL_FACEBOOK_PAGE_TOKEN")
    button_limits: ClassVar[ButtonLimits] = QUICK_REPLIES
    #: Messenger's Send API accepts ``reply_to.mid`` to quote the citizen's message.
    quotes_replies: ClassVar[bool] = True

    def __init__(
        self,
        app_secret: str,
        verify_token: str,
        access_token: str,
        api_base: str,
        *,
        clock: Clock = _utcnow,
    ) -> None:
        self._app_secret = app_secret
        self._verify_token = verify_token
        self._clock = clock
        self._graph = GraphClient(api_base, access_token, self.channel, app_secret=app_secret)

    @classmethod
    def _token(cls, settings: Settings) -> str | None:
        token = settings.facebook_page_token
        return token.get_secret_value() if token else None

    @classmethod
    def from_settings(cls, settings: Settings) -> MessengerConnector | None:
        token = cls._token(settings)
        if settings.meta_app_secret is None or settings.meta_verify_token is None or not token:
            return None
        return cls(
            settings.meta_app_secret.get_secret_value(),
            settings.meta_verify_token.get_secret_value(),
            token,
            settings.meta_api_base,
        )

    @property
    def account_ref(self) -> str:
        # The Page id arrives with every webhook (entry.id) and travels with each event; without a
        # webhook in hand, "me" is the Graph name of the Page the token belongs to.
        return "me"

    # --- inbound ------------------------------------------------------------------------------

    def challenge(self, request: WebhookRequest) -> ChallengeResponse:
        return answer_challenge(self._verify_token, request)

    def verify(self, request: WebhookRequest) -> None:
        verify_signature(self._app_secret, request)

    def parse(self, request: WebhookRequest) -> list[InboundEvent]:
        data = load_json_object(request.body)
        obj = data.get("object")
        if obj != self.webhook_object:
            raise PayloadInvalid(
                f"object must be {self.webhook_object!r} on /webhooks/{self.name}, got {obj!r} "
                "(is the webhook subscribed on the right endpoint?)"
            )
        entries = data.get("entry")
        if not isinstance(entries, list):
            raise PayloadInvalid("entry (a list) is required")
        events: list[InboundEvent] = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or entry.get("id") in (None, ""):
                raise PayloadInvalid(f"entry[{index}].id is required")
            account = str(entry["id"])
            found = False
            for key, standby in (("messaging", False), ("standby", True)):
                items = entry.get(key)
                if items is None:
                    continue
                if not isinstance(items, list):
                    raise PayloadInvalid(f"entry[{index}].{key} must be a list")
                for item in items:
                    if not isinstance(item, dict):
                        raise PayloadInvalid(f"entry[{index}].{key}[] must be objects")
                    raw = {"object": obj, "entry": [{"id": entry["id"], "time": entry.get("time"), key: [item]}]}
                    events.append(self._item_event(account, item, raw, standby=standby))
                    found = True
            if not found:  # e.g. a feed "changes" entry on the same subscription: keep, do not act
                fields = ",".join(k for k in entry if k not in ("id", "time")) or "empty"
                events.append(
                    self._event(
                        EventKind.UNSUPPORTED,
                        account,
                        f"entry:{account}:{entry.get('time')}:{fields}",
                        text=f"unsupported entry ({fields})",
                        raw={"object": obj, "entry": [entry]},
                    )
                )
        return events

    def _item_event(self, account: str, item: dict[str, Any], raw: dict[str, Any], *, standby: bool) -> InboundEvent:
        sender = str(_object(item, "sender").get("id") or "")
        recipient = str(_object(item, "recipient").get("id") or "")
        sent_at = _from_ms(item.get("timestamp"))
        common: dict[str, Any] = {"sent_at": sent_at, "raw": raw}
        if not sender:
            raise PayloadInvalid("messaging[].sender.id is required")

        message = item.get("message")
        if isinstance(message, dict):
            mid = message.get("mid")
            if not mid:
                raise PayloadInvalid("messaging[].message.mid is required")
            mid = str(mid)
            text = str(message.get("text") or "")
            if message.get("is_echo"):
                # Our own message (or one a person sent from the Page inbox): sender is the Page.
                return self._event(EventKind.ECHO, account, mid, user=recipient or sender, text=text, **common)
            if standby:
                return self._event(
                    EventKind.UNSUPPORTED,
                    account,
                    mid,
                    user=sender,
                    text="standby: another app controls this conversation (handover protocol)",
                    **common,
                )
            if message.get("is_deleted"):
                # Same mid as the original message, so the deletion needs its own key.
                return self._event(
                    EventKind.UNSUPPORTED, account, f"{mid}:deleted", user=sender, text="message deleted", **common
                )
            if message.get("is_unsupported") or message.get("is_self"):
                return self._event(
                    EventKind.UNSUPPORTED, account, mid, user=sender, text="unsupported message type", **common
                )
            reply_to = _object(message, "reply_to")
            story = _object(reply_to, "story")
            quoted = reply_to.get("mid") or (f"story:{story['id']}" if story.get("id") else None)
            quick_reply = _object(message, "quick_reply")
            if quick_reply.get("payload"):
                return self._event(
                    EventKind.POSTBACK,
                    account,
                    mid,
                    user=sender,
                    text=text,
                    postback=str(quick_reply["payload"]),
                    reply_to_ref=str(quoted) if quoted else None,
                    **common,
                )
            attachments = _attachments(message.get("attachments"))
            if story.get("url"):
                attachments += (Attachment("image", str(story["url"]), name="story"),)
            return self._event(
                EventKind.MESSAGE,
                account,
                mid,
                user=sender,
                text=text,
                attachments=attachments,
                reply_to_ref=str(quoted) if quoted else None,
                **common,
            )

        postback = item.get("postback")
        if isinstance(postback, dict):
            # postback.mid exists since Graph v11; older payloads fall back to sender + time.
            event_id = str(postback.get("mid") or f"postback:{sender}:{item.get('timestamp')}")
            kind = EventKind.UNSUPPORTED if standby else EventKind.POSTBACK
            return self._event(
                kind,
                account,
                event_id,
                user=sender,
                text=str(postback.get("title") or ""),
                postback=str(postback.get("payload") or postback.get("title") or ""),
                **common,
            )

        for key in ("read", "delivery"):
            receipt = item.get(key)
            if isinstance(receipt, dict):
                # Messenger reports a watermark (everything before it), Instagram the mid it saw.
                marker = receipt.get("mid") or receipt.get("watermark") or ",".join(receipt.get("mids") or [])
                return self._event(
                    EventKind.STATUS,
                    account,
                    f"{key}:{sender}:{marker or item.get('timestamp')}",
                    user=sender,
                    text=f"{key} receipt",
                    **common,
                )

        kind_name = next((k for k in _OTHER_ITEMS if k in item), None) or next(
            (k for k in item if k not in ("sender", "recipient", "timestamp")), "empty"
        )
        detail = _object(item, kind_name)
        # The time keeps a reaction, its removal and a second reaction to one message apart.
        parts = (
            kind_name,
            sender,
            detail.get("mid"),
            item.get("timestamp"),
            detail.get("action"),
            detail.get("num_edit"),
        )
        return self._event(
            EventKind.UNSUPPORTED,
            account,
            ":".join(str(p) for p in parts if p not in (None, "")),
            user=sender,
            text=f"unsupported messaging event: {kind_name}",
            **common,
        )

    def _event(
        self,
        kind: EventKind,
        account: str,
        event_id: str,
        *,
        user: str = "",
        text: str = "",
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
            text=text,
            raw=raw,
            **fields,
        )

    # --- outbound -----------------------------------------------------------------------------

    def render_buttons_as_text(self, message: OutboundMessage) -> OutboundMessage:
        """Keep native quick replies when they fit Meta's limits, else numbered lines."""
        caps = self.capabilities
        if buttons_fit(message, self.button_limits, caps.max_text_length, caps.length_unit):
            return message
        return as_numbered_text(message)

    def _send_path(self, message: OutboundMessage) -> str:
        account = message.account_ref or message.thread_ref.partition(":")[0]
        return f"{account}/messages" if account.isdigit() else "me/messages"

    async def send(self, message: OutboundMessage) -> SendResult:
        mode = messenger_send_mode(message, self._clock(), self.channel.label)
        recipient = message.thread_ref.partition(":")[2] or message.user_ref
        if not recipient:
            raise DeliveryError(f"{self.channel.label}: no recipient id on the conversation", retryable=False)
        if message.buttons and not self.button_limits.fit(message.buttons, message.text):
            message = as_numbered_text(message)
        body: dict[str, Any] = {"recipient": {"id": recipient}, **mode.fields(), "message": {"text": message.text}}
        if message.buttons:
            body["message"]["quick_replies"] = [
                {"content_type": "text", "title": b.title.strip(), "payload": b.payload} for b in message.buttons
            ]
        if self.quotes_replies and message.reply_to_ref and not message.reply_to_ref.startswith("story:"):
            body["reply_to"] = {"mid": message.reply_to_ref}
        answer = await self._graph.post(self._send_path(message), body)
        return SendResult(platform_message_id=str(answer["message_id"]) if answer.get("message_id") else None)

    async def aclose(self) -> None:
        await self._graph.aclose()


# --- payload helpers ---------------------------------------------------------------------------------


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _from_ms(value: Any) -> datetime | None:
    try:
        return from_unix(float(value) / 1000) if value is not None else None
    except (TypeError, ValueError):
        return None


def _attachments(value: Any) -> tuple[Attachment, ...]:
    """Attachments as references: Meta's CDN URLs (they expire; the hub downloads them promptly)."""
    if not isinstance(value, list):
        return ()
    found: list[Attachment] = []
    for item in value:
        if not isinstance(item, dict):
            continue
        meta_type = str(item.get("type") or "file")
        payload = _object(item, "payload")
        coordinates = _object(payload, "coordinates")
        if meta_type == "location" and "lat" in coordinates:
            found.append(Attachment("location", f"geo:{coordinates['lat']},{coordinates.get('long')}"))
            continue
        ref = payload.get("url") or payload.get("attachment_id") or payload.get("reel_video_id")
        if not ref:
            continue
        kind = "sticker" if payload.get("sticker_id") else _ATTACHMENT_TYPES.get(meta_type, "file")
        name = payload.get("title") or (meta_type if kind == "file" and meta_type != "file" else None)
        found.append(Attachment(kind, str(ref), name=str(name) if name else None))
    return tuple(found)
