"""X (Twitter): Account Activity / X Activity webhooks in; direct messages out through tweepy.

Inbound: ``GET /webhooks/twitter?crc_token=...`` is X's challenge-response check, answered with
``{"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret, crc_token))}``; every POST
carries ``x-twitter-webhooks-signature``, the same HMAC over the raw body. Both payload families are
parsed: the Account Activity API (``for_user_id`` plus ``direct_message_events``,
``tweet_create_events``, ...) and the X Activity API envelope (``{"data": {"event_type": ...,
"payload": ...}}``). Dedupe key: the DM event id or the tweet id, never XAA's ``event_uuid``, so
the same DM arriving by both paths is stored once. Thread: the DM conversation (``{lo}-{hi}`` for a
one-to-one chat) or ``mention:<conversation id>`` for a public @mention.

Outbound: always a DM (``POST /2/dm_conversations/with/:participant_id/messages``, OAuth 1.0a
user context). Nothing personal is ever posted in public: a reply to an @mention goes to the
citizen by DM, and the mention itself only gets a fixed, neutral public answer that points to the
DM (Arabic or English, with X's "send a private message" button). Reference:
../shared/reference/channels.md §1; docs/channels.md "X (Twitter)".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp
from yarl import URL

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
    SignatureInvalid,
    SignatureMissing,
    WebhookRequest,
    constant_time_equals,
    from_unix,
    load_json_object,
)

if TYPE_CHECKING:
    from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
    from tweepy.asynchronous import AsyncClient

    from hub.config import Settings

log = logging.getLogger("tawasul.connectors.twitter")

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
# tweepy hard-codes this host (channels.md §1.9); another TAWASUL_TWITTER_API_BASE is reached by
# rewriting each request's URL in an aiohttp client middleware (dependencies.md §4).
TWEEPY_HOST = "https://api.twitter.com"
MENTION_PREFIX = "mention:"
MAX_CRC_TOKEN = 1024  # X's tokens are short; refuse to HMAC arbitrary megabytes for strangers

# The only words ever posted in public. They name no person, ticket or detail of the request.
# Several phrasings per language because X refuses a tweet that repeats one of ours word for word.
PUBLIC_ACK: Mapping[str, tuple[str, ...]] = {
    "ar": (
        "شكراً لتواصلك، أرسلنا لك رسالة خاصة لمتابعة طلبك.",
        "شكراً لتواصلك معنا، تجد ردنا في الرسائل الخاصة.",
        "أهلاً بك، أرسلنا لك التفاصيل في رسالة خاصة.",
    ),
    "en": (
        "Thank you for contacting us. We have sent you a direct message to follow up on your request.",
        "Thanks for reaching out. Please check your direct messages for our reply.",
        "Hello, we have sent you the details in a direct message.",
    ),
}
# Posted instead when X refused our DM (the citizen's DM settings): ask them to write to us first.
PUBLIC_INVITE: Mapping[str, tuple[str, ...]] = {
    "ar": (
        "شكراً لتواصلك، نرجو مراسلتنا عبر الرسائل الخاصة لنتمكن من متابعة طلبك.",
        "أهلاً بك، لم نتمكن من مراسلتك بالخاص؛ فضلاً أرسل لنا رسالة خاصة لمتابعة طلبك.",
    ),
    "en": (
        "Thank you for contacting us. Please send us a direct message so we can follow up on your request.",
        "Hello, we could not message you privately. Please send us a direct message to follow up.",
    ),
}

_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_LEADING_MENTIONS = re.compile(r"^(?:@\w{1,15}\s+)+")
_DIGITS = re.compile(r"^\d{1,20}$")
_PAIR = re.compile(r"^(\d{1,20})-(\d{1,20})$")
_PART = re.compile(r"-(\d+)$")


def sign(consumer_secret: str, body: bytes) -> str:
    """``x-twitter-webhooks-signature`` for ``body``: ``sha256=`` + base64 HMAC-SHA256."""
    digest = hmac.new(consumer_secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def crc_response_token(consumer_secret: str, crc_token: str) -> str:
    """The ``response_token`` X expects for a CRC: the same HMAC, over the token."""
    return sign(consumer_secret, crc_token.encode())


def dm_conversation_id(a: str, b: str) -> str:
    """A one-to-one conversation id is ``{smaller user id}-{larger user id}`` (X lookup docs)."""
    lo, hi = sorted((a, b), key=int)
    return f"{lo}-{hi}"


class TwitterConnector(Connector):
    name: ClassVar[str] = "twitter"
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_text_length=10_000,  # DM text limit (tweepy create_direct_message docstring, X docs)
        # The v2 DM endpoint takes only text and one media id: no quick replies, so buttons are
        # sent as numbered lines (render_buttons_as_text).
        rich_types=frozenset(),
        can_initiate=False,  # a citizen writes first; X also refuses DMs the user's settings block
        # X's own quota for our account is 15 DMs per 15 min and 1,440 per 24 h; past it X answers
        # 429 with x-rate-limit-reset and the outbox waits for that instant. The bucket only
        # smooths bursts: a slower one would hold workers past their lease.
        rate_per_s=1.0,
        burst=1,
    )

    def __init__(
        self,
        *,
        consumer_key: str | None,
        consumer_secret: str,
        access_token: str | None,
        access_secret: str | None,
        user_id: str,
        api_base: str = TWEEPY_HOST,
    ) -> None:
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._access_token = access_token
        self._access_secret = access_secret
        self._user_id = user_id
        self._api_base = api_base.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TwitterConnector | None:
        if settings.twitter_consumer_secret is None:
            return None
        access_token = settings.twitter_access_token.get_secret_value() if settings.twitter_access_token else None
        # An OAuth 1.0a access token is "<user id>-<secret part>": it names our account too.
        user_id = settings.twitter_user_id or (access_token.split("-", 1)[0] if access_token else None)
        if not user_id or not _DIGITS.match(user_id):
            return None
        return cls(
            consumer_key=settings.twitter_consumer_key.get_secret_value() if settings.twitter_consumer_key else None,
            consumer_secret=settings.twitter_consumer_secret.get_secret_value(),
            access_token=access_token,
            access_secret=settings.twitter_access_secret.get_secret_value() if settings.twitter_access_secret else None,
            user_id=user_id,
            api_base=settings.twitter_api_base,
        )

    @property
    def account_ref(self) -> str:
        return self._user_id

    # --- inbound ------------------------------------------------------------------------------

    def challenge(self, request: WebhookRequest) -> ChallengeResponse | None:
        token = request.query.get("crc_token")
        if not token or len(token) > MAX_CRC_TOKEN:
            body = {"error": "crc_token_missing", "message": "a crc_token query parameter is expected"}
            return ChallengeResponse(400, json.dumps(body), "application/json")
        body = {"response_token": crc_response_token(self._consumer_secret, token)}
        return ChallengeResponse(200, json.dumps(body), "application/json")

    def verify(self, request: WebhookRequest) -> None:
        given = request.headers.get(SIGNATURE_HEADER)
        if given is None:
            raise SignatureMissing(f"missing {SIGNATURE_HEADER} header")
        if not constant_time_equals(given.strip(), sign(self._consumer_secret, request.body)):
            raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")

    def parse(self, request: WebhookRequest) -> list[InboundEvent]:
        body = load_json_object(request.body)
        data = body.get("data")
        if isinstance(data, dict) and "event_type" in data:
            return self._parse_activity(data, body)
        return self._parse_account_activity(body)

    # Account Activity API: one object with one or more "<kind>_events" lists.
    def _parse_account_activity(self, body: dict[str, Any]) -> list[InboundEvent]:
        users = _users_map(body.get("users"))
        events: list[InboundEvent] = []
        for item in _event_list(body, "direct_message_events"):
            events.append(self._dm_event(item, users, body))
        for item in _event_list(body, "tweet_create_events"):
            events.append(self._tweet_v1_event(item, body))
        for key, kind in _AAA_NOTICES.items():
            for item in _event_list(body, key):
                events.append(self._notice(key, item, kind, body))
        if isinstance(body.get("user_event"), dict):
            revoke = _obj(body["user_event"], "revoke")
            who = _obj(revoke, "source").get("user_id", "")
            events.append(self._unsupported(f"revoke:{who}:{revoke.get('date_time', '')}", "app access revoked", body))
        if isinstance(body.get("replay_job_status"), dict):
            job = body["replay_job_status"]
            events.append(
                self._unsupported(
                    f"replay:{job.get('job_id', '')}:{job.get('job_state', '')}",
                    f"replay job {job.get('job_state', '')}: {job.get('job_state_description', '')}",
                    body,
                )
            )
        for key, value in body.items():
            # Event kinds X adds later are kept for audit rather than refused.
            if key.endswith("_events") and key not in _HANDLED_AAA and isinstance(value, list):
                for n, item in enumerate(value):
                    item_id = item.get("id") if isinstance(item, dict) else None
                    events.append(self._unsupported(f"{key}:{item_id or n}", f"unsupported event: {key}", body))
        if not events:
            raise PayloadInvalid("no Account Activity or X Activity events in the body")
        return self._for_us(events, body.get("for_user_id"))

    # X Activity API: {"data": {"event_uuid", "filter", "event_type", "tag", "payload", "includes"}}.
    def _parse_activity(self, data: dict[str, Any], body: dict[str, Any]) -> list[InboundEvent]:
        event_type = str(data["event_type"])
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise PayloadInvalid(f"data.payload (an object) is required for {event_type}")
        uuid = str(data.get("event_uuid") or "")
        if event_type in ("dm.received", "dm.sent"):
            users = _users_map(payload.get("users"))
            events = [self._dm_event(item, users, body) for item in _event_list(payload, "direct_message_events")]
            if not events:
                raise PayloadInvalid(f"{event_type} without direct_message_events")
        elif event_type in ("post.mention.create", "post.reply.create", "post.quote.create"):
            events = [self._post_v2_event(event_type, payload, _obj(data, "includes"), body)]
        elif event_type in ("dm.read", "dm.indicate_typing"):
            events = [self._status(f"xaa:{uuid}", event_type, body)]
        elif event_type.startswith("chat."):
            # Encrypted XChat: readable only through the X Chat API and its keys (channels.md §1.5).
            note = "encrypted XChat event: the X Chat API is not supported; ask the citizen to use a legacy DM"
            events = [self._unsupported(f"chat:{payload.get('id') or uuid}", f"{event_type}: {note}", body)]
        else:
            events = [self._unsupported(f"xaa:{uuid}", f"unsupported event: {event_type}", body)]
        return self._for_us(events, _obj(data, "filter").get("user_id"))

    def _for_us(self, events: list[InboundEvent], for_user_id: Any) -> list[InboundEvent]:
        """Events delivered for another subscribed account are kept for audit, never acted on."""
        if for_user_id in (None, "") or str(for_user_id) == self._user_id:
            return events
        note = f"event for another subscribed X account ({for_user_id})"
        return [replace(e, kind=EventKind.UNSUPPORTED, text=note) for e in events]

    def _dm_event(self, item: dict[str, Any], users: dict[str, dict[str, Any]], body: dict[str, Any]) -> InboundEvent:
        if "message_create" not in item and item.get("event_type") == "MessageCreate":
            return self._dm_event_v2(item, body)
        event_id = _id(item, "id", "direct_message_events[].id")
        if item.get("type", "message_create") != "message_create":
            return self._unsupported(event_id, f"unsupported DM event type: {item.get('type')}", body)
        create = _obj(item, "message_create")
        sender = str(create.get("sender_id") or "")
        recipient = str(_obj(create, "target").get("recipient_id") or "")
        if not (_DIGITS.match(sender) and _DIGITS.match(recipient)):
            raise PayloadInvalid("message_create.sender_id and target.recipient_id are required")
        data = _obj(create, "message_data")
        text = str(data.get("text") or "")
        attachment = _obj(data, "attachment")
        media = _obj(attachment, "media")
        attachments: tuple[Attachment, ...] = ()
        if media:
            # X appends the media's t.co link to the text; the attachment already carries the media.
            if media.get("url"):
                text = text.replace(str(media["url"]), "").strip()
            ref = str(media.get("media_url_https") or media.get("id_str") or "")
            attachments = (Attachment(_MEDIA_TYPES.get(str(media.get("type")), "file"), ref),)
        echo = sender == self._user_id
        citizen = recipient if echo else sender
        quick = _obj(data, "quick_reply_response")
        kind = EventKind.ECHO if echo else EventKind.POSTBACK if quick.get("metadata") else EventKind.MESSAGE
        return InboundEvent(
            channel=self.name,
            account_ref=self.account_ref,
            event_id=event_id,
            kind=kind,
            thread_ref=dm_conversation_id(sender, recipient),
            user_ref=citizen,
            user_display=_display(users.get(citizen, {})),
            sent_at=_from_ms(item.get("created_timestamp")),
            text=text,
            attachments=attachments,
            postback=str(quick["metadata"]) if kind is EventKind.POSTBACK else None,
            raw=body,
        )

    def _dm_event_v2(self, item: dict[str, Any], body: dict[str, Any]) -> InboundEvent:
        """A v2 ``DmEvent`` (as ``GET /2/dm_events`` returns it), which names its conversation."""
        event_id = _id(item, "id", "dm event id")
        sender = str(item.get("sender_id") or "")
        conversation = str(item.get("dm_conversation_id") or "")
        if not _DIGITS.match(sender) or not conversation:
            raise PayloadInvalid("a DM event needs sender_id and dm_conversation_id")
        pair = _PAIR.match(conversation)
        citizen = sender
        if sender == self._user_id and pair:
            citizen = pair.group(2) if pair.group(1) == self._user_id else pair.group(1)
        keys = _obj(item, "attachments").get("media_keys") or []
        return InboundEvent(
            channel=self.name,
            account_ref=self.account_ref,
            event_id=event_id,
            kind=EventKind.ECHO if sender == self._user_id else EventKind.MESSAGE,
            thread_ref=conversation,
            user_ref=citizen,
            sent_at=_from_iso(item.get("created_at")),
            text=str(item.get("text") or ""),
            attachments=tuple(Attachment("file", f"media_key:{k}") for k in keys if isinstance(k, str)),
            raw=body,
        )

    def _tweet_v1_event(self, tweet: dict[str, Any], body: dict[str, Any]) -> InboundEvent:
        """A v1.1 Tweet object from ``tweet_create_events`` (AAA)."""
        event_id = _id(tweet, "id_str", "tweet_create_events[].id_str")
        author = _obj(tweet, "user")
        author_id = str(author.get("id_str") or author.get("id") or "")
        extended = _obj(tweet, "extended_tweet")
        text = str(extended.get("full_text") or tweet.get("full_text") or tweet.get("text") or "")
        entities = _obj(extended, "entities") or _obj(tweet, "entities")
        mentioned = {
            str(m.get("id_str") or m.get("id")) for m in entities.get("user_mentions") or [] if isinstance(m, dict)
        }
        reply_to = tweet.get("in_reply_to_status_id_str")
        if author_id == self._user_id:
            return self._echo_tweet(event_id, text, body)
        if isinstance(tweet.get("retweeted_status"), dict):
            return self._unsupported(event_id, "retweet of the service account's post", body)
        if self._user_id not in mentioned and str(tweet.get("in_reply_to_user_id_str") or "") != self._user_id:
            return self._unsupported(event_id, "post that does not mention the service account", body)
        media = _obj(extended, "extended_entities").get("media") or _obj(tweet, "extended_entities").get("media") or []
        # v1.1 tweets carry no conversation_id: a new post is its own conversation; a reply deeper in
        # someone's thread is keyed by itself, which is also where our neutral answer must go.
        conversation = str(tweet.get("conversation_id_str") or event_id)
        return InboundEvent(
            channel=self.name,
            account_ref=self.account_ref,
            event_id=event_id,
            kind=EventKind.MESSAGE,
            thread_ref=MENTION_PREFIX + conversation,
            user_ref=author_id,
            user_display=_display(author),
            sent_at=_from_ms(tweet.get("timestamp_ms")) or _from_v1_date(tweet.get("created_at")),
            text=_strip_leading_mentions(text),
            attachments=tuple(
                Attachment(
                    _MEDIA_TYPES.get(str(m.get("type")), "file"), str(m.get("media_url_https") or m.get("id_str"))
                )
                for m in media
                if isinstance(m, dict)
            ),
            reply_to_ref=str(reply_to or tweet.get("quoted_status_id_str") or "") or None,
            language_hint=_lang(tweet.get("lang")),
            raw=body,
        )

    def _post_v2_event(
        self, event_type: str, post: dict[str, Any], includes: dict[str, Any], body: dict[str, Any]
    ) -> InboundEvent:
        """A v2 Post from an XAA ``post.*`` event."""
        event_id = _id(post, "id", "payload.id")
        author_id = str(post.get("author_id") or "")
        text = str(post.get("text") or "")
        if author_id == self._user_id:
            return self._echo_tweet(event_id, text, body)
        mentions = {str(m.get("id")) for m in _obj(post, "entities").get("mentions") or [] if isinstance(m, dict)}
        addressed = (
            event_type == "post.mention.create"
            or self._user_id in mentions
            or (event_type == "post.reply.create" and str(post.get("in_reply_to_user_id") or "") == self._user_id)
        )
        if not addressed:
            return self._unsupported(event_id, f"{event_type} that does not mention the service account", body)
        users = {str(u.get("id")): u for u in map(_unwrap, includes.get("users") or []) if u}
        media = {str(m.get("media_key")): m for m in includes.get("media") or [] if isinstance(m, dict)}
        keys = _obj(post, "attachments").get("media_keys") or []
        refs = [r for r in post.get("referenced_tweets") or [] if isinstance(r, dict)]
        reply_to = next((str(r["id"]) for r in refs if r.get("type") in ("replied_to", "quoted") and r.get("id")), None)
        return InboundEvent(
            channel=self.name,
            account_ref=self.account_ref,
            event_id=event_id,
            kind=EventKind.MESSAGE,
            thread_ref=MENTION_PREFIX + str(post.get("conversation_id") or event_id),
            user_ref=author_id,
            user_display=_display(users.get(author_id, {})),
            sent_at=_from_iso(post.get("created_at")),
            text=_strip_leading_mentions(text),
            attachments=tuple(
                Attachment(
                    _MEDIA_TYPES.get(str(media.get(k, {}).get("type")), "file"),
                    str(media.get(k, {}).get("url") or f"media_key:{k}"),
                )
                for k in keys
                if isinstance(k, str)
            ),
            reply_to_ref=reply_to,
            language_hint=_lang(post.get("lang")),
            raw=body,
        )

    def _echo_tweet(self, event_id: str, text: str, body: dict[str, Any]) -> InboundEvent:
        # Our own posts (the neutral answers included) come back as events: kept, never processed.
        return InboundEvent(
            channel=self.name,
            account_ref=self.account_ref,
            event_id=event_id,
            kind=EventKind.ECHO,
            user_ref=self._user_id,
            text=text,
            raw=body,
        )

    def _notice(self, key: str, item: Any, kind: EventKind, body: dict[str, Any]) -> InboundEvent:
        if not isinstance(item, dict):
            raise PayloadInvalid(f"{key} must hold objects")
        # Only favourites carry an id of their own; the others are named by what they are about.
        who = str(item.get("sender_id") or _unwrap(item.get("source")).get("id") or "")
        when = str(item.get("created_timestamp") or item.get("timestamp_ms") or "")
        about = item.get("last_read_event_id") or _obj(item, "status").get("id") or when
        event_id = str(item.get("id") or f"{key}:{who}:{about}")
        text = f"{key.removesuffix('_events').replace('_', ' ')}"
        return (
            self._status(event_id, text, body) if kind is EventKind.STATUS else self._unsupported(event_id, text, body)
        )

    def _status(self, event_id: str, text: str, body: dict[str, Any]) -> InboundEvent:
        return InboundEvent(
            channel=self.name,
            account_ref=self.account_ref,
            event_id=event_id,
            kind=EventKind.STATUS,
            text=text,
            raw=body,
        )

    def _unsupported(self, event_id: str, text: str, body: dict[str, Any]) -> InboundEvent:
        return InboundEvent(
            channel=self.name,
            account_ref=self.account_ref,
            event_id=event_id,
            kind=EventKind.UNSUPPORTED,
            text=text,
            raw=body,
        )

    # --- outbound -----------------------------------------------------------------------------

    def _get_client(self) -> AsyncClient:
        if self._client is None:
            from tweepy.asynchronous import AsyncClient

            if not (self._consumer_key and self._access_token and self._access_secret):
                raise DeliveryError(
                    "X credentials incomplete: set TAWASUL_TWITTER_CONSUMER_KEY, TAWASUL_TWITTER_ACCESS_TOKEN and "
                    "TAWASUL_TWITTER_ACCESS_SECRET (OAuth 1.0a user context of the service account)",
                    retryable=False,
                )
            middlewares = () if self._api_base == TWEEPY_HOST else (self._redirect,)
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=15, connect=5), middlewares=middlewares
            )
            client = AsyncClient(
                consumer_key=self._consumer_key,
                consumer_secret=self._consumer_secret,
                access_token=self._access_token,
                access_token_secret=self._access_secret,
                wait_on_rate_limit=False,  # the outbox waits, durably; a sleeping worker would not
            )
            client.session = self._session
            self._client = client
        return self._client

    async def _redirect(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        """Send tweepy's api.twitter.com request to TAWASUL_TWITTER_API_BASE instead. The OAuth 1.0a
        signature stays computed over the api.twitter.com URL, which is what X itself checks."""
        url = str(request.url)
        if url.startswith(TWEEPY_HOST):
            request.url = URL(self._api_base + url[len(TWEEPY_HOST) :], encoded=True)
        return await handler(request)

    async def send(self, message: OutboundMessage) -> SendResult:
        from tweepy.errors import TweepyException

        client = self._get_client()
        thread = message.thread_ref
        mention_conversation = thread[len(MENTION_PREFIX) :] if thread.startswith(MENTION_PREFIX) else None
        # The delivery service numbers a long reply's parts in delivery_id ("outbox-<id>-<part>"):
        # the public answer goes with the first part only.
        first_part = _part_index(message.delivery_id) in (None, 0)
        try:
            if mention_conversation is None and _DIGITS.match(thread):
                response = await client.create_direct_message(dm_conversation_id=thread, text=message.text)
            else:
                response = await client.create_direct_message(
                    participant_id=self._recipient(message), text=message.text
                )
        except (TweepyException, aiohttp.ClientError, TimeoutError) as exc:
            error = classify_error(exc)
            if mention_conversation is not None and first_part and _citizen_refused_dm(exc):
                target = _reply_target(message, mention_conversation)
                if await self._public_reply(client, target, PUBLIC_INVITE, message.text):
                    error = DeliveryError(
                        error.reason + " A neutral public reply to the mention asked the citizen to write to us by DM.",
                        retryable=False,
                        status=error.status,
                        code=error.code,
                    )
            raise error from exc
        if mention_conversation is not None and first_part:
            await self._public_reply(client, _reply_target(message, mention_conversation), PUBLIC_ACK, message.text)
        data = response.data if isinstance(response.data, dict) else {}
        return SendResult(platform_message_id=str(data.get("dm_event_id") or "") or None)

    def _recipient(self, message: OutboundMessage) -> str:
        if _DIGITS.match(message.user_ref) and message.user_ref != self._user_id:
            return message.user_ref
        pair = _PAIR.match(message.thread_ref)
        if pair and self._user_id in pair.groups():
            return pair.group(2) if pair.group(1) == self._user_id else pair.group(1)
        raise DeliveryError(
            f"no X user to send to (user_ref={message.user_ref!r}, thread_ref={message.thread_ref!r})",
            retryable=False,
        )

    async def _public_reply(
        self, client: AsyncClient, target: str, phrasings: Mapping[str, tuple[str, ...]], reply_text: str
    ) -> str | None:
        """Answer the mention in public with a neutral phrasing; returns the tweet id or None.

        Best effort by design: the real answer is the DM, so a failure here is logged, never
        retried (a retry would send the DM twice)."""
        from tweepy.errors import Forbidden, TweepyException

        options = phrasings["ar" if _ARABIC.search(reply_text) else "en"]
        start = int(hashlib.sha256(target.encode()).hexdigest(), 16) % len(options)
        for offset in range(len(options)):
            text = options[(start + offset) % len(options)]
            try:
                response = await client.create_tweet(
                    text=text,
                    in_reply_to_tweet_id=target,
                    direct_message_deep_link=f"https://twitter.com/messages/compose?recipient_id={self._user_id}",
                )
            except Forbidden as exc:
                if "duplicate" in _x_detail(exc).lower():
                    continue  # X refuses a repeat of one of our tweets: use the next phrasing
                log.warning("twitter public reply refused in_reply_to=%s reason=%s", target, _x_detail(exc))
                return None
            except (TweepyException, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("twitter public reply failed in_reply_to=%s reason=%s", target, classify_error(exc).reason)
                return None
            data = response.data if isinstance(response.data, dict) else {}
            return str(data.get("id") or "") or None
        log.warning("twitter public reply skipped in_reply_to=%s reason=every phrasing was a duplicate", target)
        return None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._client = None


# --- error classification ---------------------------------------------------------------------


def classify_error(exc: BaseException) -> DeliveryError:
    """Map tweepy/aiohttp failures onto retryable or terminal delivery errors (channels.md §1.8)."""
    from tweepy import errors

    if isinstance(exc, errors.HTTPException):
        detail = _x_detail(exc)
        code = str(exc.api_codes[0]) if exc.api_codes else None
        if isinstance(exc, errors.TooManyRequests):
            reset = exc.reset_time or _int_header(exc.response, "x-rate-limit-reset")
            wait = max(1.0, reset - time.time()) if reset else None
            return DeliveryError(
                f"X rate limit reached (15 DMs per 15 min, 1,440 per 24 h for the service account): {detail}",
                retryable=True,
                retry_after=wait,
                status=429,
                code=code,
            )
        if isinstance(exc, errors.Unauthorized):
            return DeliveryError(
                "X rejected the service account's credentials: re-authorise the account and update "
                f"TAWASUL_TWITTER_ACCESS_TOKEN / TAWASUL_TWITTER_ACCESS_SECRET. X said: {detail}",
                retryable=False,
                status=401,
                code=code,
            )
        if isinstance(exc, errors.Forbidden):
            if _citizen_refused_dm(exc):
                reason = (
                    "X refused the DM: the citizen's DM settings do not accept messages from the service account, "
                    f"or they blocked it. Ask them to write to us by DM first or to use another channel. X said: {detail}"
                )
            else:
                reason = (
                    "the X app is not allowed to send DMs (check its Read, Write and Direct Messages permission "
                    f"and its access tier). X said: {detail}"
                )
            return DeliveryError(reason, retryable=False, status=403, code=code)
        if isinstance(exc, errors.NotFound):
            return DeliveryError(
                f"X user not found (the account may be deleted or suspended). X said: {detail}",
                retryable=False,
                status=404,
                code=code,
            )
        if isinstance(exc, errors.BadRequest):
            return DeliveryError(f"X refused the request as invalid: {detail}", retryable=False, status=400, code=code)
        status = _status_of(exc.response)
        retryable = isinstance(exc, errors.TwitterServerError) or status in (408, 425) or status is None
        return DeliveryError(f"X answered {status}: {detail}", retryable=retryable, status=status, code=code)
    if isinstance(exc, aiohttp.ClientResponseError):
        # An error answer that was not JSON (a proxy's HTML page): judge it by its status alone.
        status = exc.status
        if status == 429:
            return DeliveryError("X rate limit reached (429)", retryable=True, status=429)
        retryable = status >= 500 or status in (408, 425)
        return DeliveryError(f"X answered {status} without a JSON body", retryable=retryable, status=status)
    if isinstance(exc, aiohttp.ClientError | TimeoutError):
        return DeliveryError(f"X unreachable: {type(exc).__name__}: {exc}", retryable=True)
    return DeliveryError(f"X client error: {type(exc).__name__}: {exc}", retryable=True)


def _citizen_refused_dm(exc: BaseException) -> bool:
    """A 403 about the recipient (DM settings, block), not about our app's permissions or tier."""
    from tweepy import errors

    if not isinstance(exc, errors.Forbidden):
        return False
    lowered = _x_detail(exc).lower()
    return 93 not in exc.api_codes and not any(hint in lowered for hint in _APP_ACCESS_HINTS)


_APP_ACCESS_HINTS = (
    "app permissions",
    "attached to a project",
    "client-not-enrolled",
    "application-only",
    "not allowed to access",
)


def _x_detail(exc: Any) -> str:
    messages = [str(m) for m in getattr(exc, "api_messages", []) if m]
    return "; ".join(messages)[:300] or str(exc)[:300]


def _status_of(response: Any) -> int | None:
    status = getattr(response, "status", None) or getattr(response, "status_code", None)
    return int(status) if isinstance(status, int) else None


def _int_header(response: Any, name: str) -> int | None:
    value = getattr(response, "headers", {}).get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# --- parsing helpers -----------------------------------------------------------------------------

_MEDIA_TYPES = {"photo": "image", "animated_gif": "video", "video": "video"}
# AAA event lists that are notices, not messages: receipts are STATUS, the rest UNSUPPORTED.
_AAA_NOTICES = {
    "direct_message_mark_read_events": EventKind.STATUS,
    "direct_message_indicate_typing_events": EventKind.STATUS,
    "favorite_events": EventKind.UNSUPPORTED,
    "follow_events": EventKind.UNSUPPORTED,
    "unfollow_events": EventKind.UNSUPPORTED,
    "block_events": EventKind.UNSUPPORTED,
    "unblock_events": EventKind.UNSUPPORTED,
    "mute_events": EventKind.UNSUPPORTED,
    "unmute_events": EventKind.UNSUPPORTED,
    "tweet_delete_events": EventKind.UNSUPPORTED,
}
_HANDLED_AAA = {"direct_message_events", "tweet_create_events", *_AAA_NOTICES}


def _obj(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _unwrap(user: Any) -> dict[str, Any]:
    """XAA wraps user objects in ``{"data": {...}}``; AAA does not."""
    if not isinstance(user, dict):
        return {}
    inner = user.get("data")
    return inner if isinstance(inner, dict) else user


def _users_map(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        return {}
    return {str(k): _unwrap(v) for k, v in value.items()}


def _event_list(body: dict[str, Any], key: str) -> Iterable[dict[str, Any]]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PayloadInvalid(f"{key} must be a list of objects")
    return value


def _id(data: dict[str, Any], key: str, label: str) -> str:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise PayloadInvalid(f"{label} (a non-empty string) is required")
    return value.strip()


def _display(user: dict[str, Any]) -> str | None:
    name = user.get("name") or user.get("screen_name") or user.get("username")
    return str(name) if name else None


def _from_ms(value: Any) -> datetime | None:
    try:
        return from_unix(int(value) / 1000) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _from_iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _from_v1_date(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%a %b %d %H:%M:%S %z %Y") if value else None
    except ValueError:
        return None


def _lang(value: Any) -> str | None:
    return str(value) if value and value not in ("und", "qme", "zxx") else None


def _strip_leading_mentions(text: str) -> str:
    """Drop the ``@handle`` prefix X puts before a reply; the mention is in the event already."""
    stripped = _LEADING_MENTIONS.sub("", text).strip()
    return stripped or text


def _part_index(delivery_id: str) -> int | None:
    match = _PART.search(delivery_id)
    return int(match.group(1)) if match else None


def _reply_target(message: OutboundMessage, conversation: str) -> str:
    """The post to answer in public: the citizen's own mention when the outbox names it."""
    if message.reply_to_ref and _DIGITS.match(message.reply_to_ref):
        return message.reply_to_ref
    return conversation
