"""Telegram Bot API: webhook updates in, ``sendMessage`` out through python-telegram-bot.

Authenticity: Telegram repeats the ``secret_token`` given to ``setWebhook`` in the
``X-Telegram-Bot-Api-Secret-Token`` header of every update (compared in constant time here; PTB's
own webhook handler uses ``!=``). Dedupe key: ``update_id``. Thread: ``chat.id`` (plus the forum
topic). Reference: ../shared/reference/channels.md §7.
"""

from __future__ import annotations

import os
from datetime import timedelta
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
    WebhookRequest,
    constant_time_equals,
    from_unix,
    load_json_object,
)

if TYPE_CHECKING:
    from telegram import Bot

    from hub.config import Settings

# Opt in to PTB 22's future behaviour (RetryAfter.retry_after as a timedelta) and its warning-free API.
os.environ.setdefault("PTB_TIMEDELTA", "1")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Update types that carry a citizen's message; everything else is stored as "unsupported".
_MESSAGE_KEYS = ("message", "edited_message", "business_message")


class TelegramConnector(Connector):
    name: ClassVar[str] = "telegram"
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_text_length=4096,
        rich_types=frozenset({"buttons", "attachments"}),
        can_initiate=False,  # a bot may only write to users who started it
        rate_per_s=25.0,  # Telegram allows about 30 messages/s across chats: 25/s + a burst of 5
        burst=5,
    )

    def __init__(self, secret_token: str, bot_token: str | None, api_base: str, rate_per_s: float) -> None:
        self._secret = secret_token
        self._bot_token = bot_token
        self._api_base = api_base
        self._bot: Bot | None = None
        self.rate_per_s = rate_per_s

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramConnector | None:
        if settings.telegram_secret_token is None:
            return None
        bot_token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else None
        return cls(
            settings.telegram_secret_token.get_secret_value(),
            bot_token,
            settings.telegram_api_base,
            settings.telegram_rate_per_s,
        )

    @property
    def account_ref(self) -> str:
        # A bot token is "<bot id>:<secret>"; the id names our account without revealing the secret.
        return self._bot_token.split(":", 1)[0] if self._bot_token else "default"

    # --- inbound ------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            raise SignatureMissing(f"missing {SECRET_HEADER} header")
        if not constant_time_equals(given, self._secret):
            raise SignatureInvalid(f"{SECRET_HEADER} does not match")

    def parse(self, request: WebhookRequest) -> list[InboundEvent]:
        update = load_json_object(request.body)
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise PayloadInvalid("update_id (an integer) is required")
        event_id = str(update_id)
        for key in _MESSAGE_KEYS:
            if isinstance(update.get(key), dict):
                return [self._message_event(event_id, update[key], update)]
        if isinstance(update.get("callback_query"), dict):
            return [self._callback_event(event_id, update["callback_query"], update)]
        kind = next((k for k in update if k != "update_id"), "empty")
        return [
            InboundEvent(
                channel=self.name,
                account_ref=self.account_ref,
                event_id=event_id,
                kind=EventKind.UNSUPPORTED,
                text=f"unsupported update type: {kind}",
                raw=update,
            )
        ]

    def _message_event(self, event_id: str, msg: dict[str, Any], update: dict[str, Any]) -> InboundEvent:
        chat = msg.get("chat")
        if not isinstance(chat, dict) or "id" not in chat:
            raise PayloadInvalid("message.chat.id is required")
        sender = _object(msg, "from")
        thread_ref = str(chat["id"])
        if msg.get("is_topic_message") and msg.get("message_thread_id") is not None:
            thread_ref += f":{msg['message_thread_id']}"
        reply_to = msg.get("reply_to_message")
        contact = _object(msg, "contact")
        # A shared contact is only the citizen's own number when it carries their own user id.
        phone = contact.get("phone_number") if contact and contact.get("user_id") == sender.get("id") else None
        return InboundEvent(
            channel=self.name,
            account_ref=self.account_ref,
            event_id=event_id,
            kind=EventKind.MESSAGE,
            thread_ref=thread_ref,
            user_ref=str(sender.get("id", chat["id"])),
            user_display=_display_name(sender or chat),
            sent_at=from_unix(msg.get("date")),
            text=str(msg.get("text") or msg.get("caption") or ""),
            attachments=_attachments(msg),
            reply_to_ref=str(reply_to["message_id"]) if isinstance(reply_to, dict) else None,
            message_ref=str(msg["message_id"]) if "message_id" in msg else None,
            language_hint=sender.get("language_code"),
            phone=phone,
            raw=update,
        )

    def _callback_event(self, event_id: str, query: dict[str, Any], update: dict[str, Any]) -> InboundEvent:
        sender = _object(query, "from")
        message = _object(query, "message")
        chat = _object(message, "chat")
        if "id" not in sender:
            raise PayloadInvalid("callback_query.from.id is required")
        return InboundEvent(
            channel=self.name,
            account_ref=self.account_ref,
            event_id=event_id,
            kind=EventKind.POSTBACK,
            thread_ref=str(chat.get("id", sender["id"])),
            user_ref=str(sender["id"]),
            user_display=_display_name(sender),
            postback=str(query.get("data") or ""),
            reply_to_ref=str(message["message_id"]) if "message_id" in message else None,
            language_hint=sender.get("language_code"),
            raw=update,
        )

    # --- outbound -----------------------------------------------------------------------------

    def _get_bot(self) -> Bot:
        if self._bot is None:
            from telegram import Bot
            from telegram.request import HTTPXRequest

            if not self._bot_token:
                raise DeliveryError("TAWASUL_TELEGRAM_BOT_TOKEN is not set", retryable=False)
            request = HTTPXRequest(connection_pool_size=16, connect_timeout=5.0, read_timeout=15.0)
            self._bot = Bot(self._bot_token, base_url=self._api_base, request=request)
        return self._bot

    async def send(self, message: OutboundMessage) -> SendResult:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
        from telegram.error import TelegramError

        bot = self._get_bot()
        chat_id, _, topic = message.thread_ref.partition(":")
        markup = None
        if message.buttons:
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(b.title, callback_data=b.payload[:64])] for b in message.buttons]
            )
        reply = None
        if message.reply_to_ref and message.reply_to_ref.isdigit():
            reply = ReplyParameters(int(message.reply_to_ref), allow_sending_without_reply=True)
        try:
            sent = await bot.send_message(
                chat_id=int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id,
                text=message.text,
                message_thread_id=int(topic) if topic.isdigit() else None,
                reply_markup=markup,
                reply_parameters=reply,
            )
        except TelegramError as exc:
            raise classify_error(exc) from exc
        return SendResult(platform_message_id=str(sent.message_id))

    async def aclose(self) -> None:
        if self._bot is not None:
            await self._bot.shutdown()
            self._bot = None


def classify_error(exc: Exception) -> DeliveryError:
    """Map python-telegram-bot's exceptions onto retryable/terminal delivery errors."""
    from telegram import error

    if isinstance(exc, error.RetryAfter):
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return DeliveryError("Telegram flood control", retryable=True, retry_after=seconds, status=429)
    if isinstance(exc, error.Forbidden):
        return DeliveryError(f"citizen blocked the bot or never started it: {exc.message}", retryable=False, status=403)
    if isinstance(exc, error.InvalidToken):
        return DeliveryError(f"bot token rejected: {exc.message}", retryable=False, status=401)
    if isinstance(exc, error.BadRequest):
        return DeliveryError(f"Telegram refused the message: {exc.message}", retryable=False, status=400)
    if isinstance(exc, error.ChatMigrated):
        return DeliveryError(f"chat moved to {exc.new_chat_id}", retryable=False)
    # TimedOut, NetworkError (5xx, connection errors) and anything unexpected: try again later.
    return DeliveryError(f"Telegram unavailable: {exc}", retryable=True)


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` when it is a JSON object, else an empty one (platforms omit fields freely)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _display_name(who: dict[str, Any]) -> str | None:
    name = " ".join(str(who[k]) for k in ("first_name", "last_name") if who.get(k))
    return name or who.get("title") or who.get("username")


def _attachments(msg: dict[str, Any]) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    photos = msg.get("photo")
    if isinstance(photos, list) and photos:
        largest = max(photos, key=lambda p: p.get("file_size") or p.get("width", 0))
        found.append(Attachment("image", str(largest.get("file_id")), "image/jpeg"))
    for key, kind in (
        ("document", "file"),
        ("video", "video"),
        ("voice", "audio"),
        ("audio", "audio"),
        ("video_note", "video"),
        ("sticker", "sticker"),
    ):
        item = msg.get(key)
        if isinstance(item, dict) and item.get("file_id"):
            found.append(Attachment(kind, str(item["file_id"]), item.get("mime_type"), item.get("file_name")))
    location = msg.get("location")
    if isinstance(location, dict) and "latitude" in location:
        found.append(Attachment("location", f"geo:{location['latitude']},{location['longitude']}"))
    return tuple(found)
