"""Bot Framework (Azure Bot Service): Skype, Microsoft Teams and Web Chat through one connector.

Consumer Skype was retired on 2025-05-05; the protocol its bots used lives on in Teams and Web Chat,
so one connector serves the channels ``skype``, ``msteams`` and ``webchat``. The bot has one messaging
endpoint (``/webhooks/skype``; the aliases ``/webhooks/msteams`` and ``/webhooks/webchat`` reach the
same instance); each event's ``channel`` is the activity's ``channelId``, so its reply goes back
through this connector. Reference: ../shared/reference/channels.md §6.

Inbound authenticity (§6.2): every POST carries ``Authorization: Bearer <JWT>``. The token must be
RS256-signed by a key from the JWKS named by the OpenID metadata at
``TAWASUL_BOTFRAMEWORK_OPENID_URL``, issued by ``https://api.botframework.com``, meant for our app id
(``aud``), unexpired (5 minutes of clock skew, as Microsoft specifies), carry a ``serviceurl`` claim
equal to the activity's ``serviceUrl``, and its signing key's ``endorsements`` must list the
activity's ``channelId``. No token is 401; any failed check is 403 with a reason that names the
check, never the token.

Why the key cache looks like this: ``verify`` is synchronous (it runs on the web server's event
loop) and key material has to come over HTTP. The keys change rarely (Microsoft's SDKs refresh them
daily), so:

* the first verification, and a token signed with a key id we have not seen, fetch the metadata
  and the JWKS synchronously with a short timeout (2.5 s per request). This blocks the loop, but
  only at start-up and at a key rotation; an unknown ``kid`` forces at most one fetch per
  5 minutes, so forged tokens with random key ids cannot turn the hub into a fetch amplifier;
* keys older than a day are refreshed on a background thread while the cached ones keep serving
  (while Microsoft is unreachable, one attempt a minute), so the steady state never waits on the
  network;
* when no key set can be had at all the request gets 503 (``KeysUnavailable``), not 403: the
  message is not forged, we just cannot check it yet.

A thread rather than an asyncio task, because ``verify`` is also called without a running loop
(the CLI, tests) and the fetch itself is blocking ``urllib``. ``PyJWKClient`` was not used: it has
no OpenID-metadata step, hides the ``endorsements`` of each key, and refetches on every unknown
``kid`` with no cool-down.

The reply needs the activity's ``serviceUrl`` (and, on Teams, the tenant), but an outbox row only
has ``thread_ref``, ``user_ref`` and ``reply_to_ref``. So ``thread_ref`` carries them::

    <conversation.id>|<serviceUrl>            or   <conversation.id>|<serviceUrl>|<tenant id>

parsed from the right (``parse_thread_ref``): a service URL and a tenant id never contain ``|``,
a conversation id may. The dedupe key is ``<conversation.id>|<activity.id>`` (Teams message ids are
millisecond timestamps, unique only within a conversation); ``channel`` is already part of the
inbox key.

Outbound: an OAuth2 client-credentials token from ``TAWASUL_BOTFRAMEWORK_TOKEN_URL`` (app id +
``TAWASUL_BOTFRAMEWORK_APP_PASSWORD``, scope ``https://api.botframework.com/.default``), cached
until five minutes before it expires, then ``POST {serviceUrl}/v3/conversations/{id}/activities/
{activityId}`` (a reply) or ``.../activities`` (no activity to answer). The bearer token is only
ever sent to a service URL on Microsoft's Bot Framework hosts (``*.botframework.com``,
``smba.trafficmanager.net``, ``*.teams.microsoft.com``, the US-government clouds) over HTTPS, or to
the origin of the configured OpenID metadata (the key server is already the root of trust; this is
what lets tests and the demo use a local fake). Buttons become a hero card with ``messageBack``
actions (more than six fall back to numbered text).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import http.client
import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit

import aiohttp
import jwt

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
    asdict_shallow,
    load_json_object,
)

if TYPE_CHECKING:
    from hub.config import Settings

ISSUER = "https://api.botframework.com"
SCOPE = "https://api.botframework.com/.default"
CLOCK_SKEW_S = 300  # "Check validity with 5 min clock skew" (channels.md §6.2)
ALGORITHMS: tuple[str, ...] = ("RS256",)
SERVICE_URL_CLAIMS = ("serviceurl", "serviceUrl")  # the SDKs read "serviceurl"; accept both spellings
SERVED_CHANNELS = ("skype", "msteams", "webchat")
MAX_BUTTONS = 6  # Teams shows at most six buttons on a hero card; more become numbered text
MAX_REF_LENGTH = 256  # inbox.event_id and conversations.thread_ref are VARCHAR(256)

# Hosts Microsoft serves the Bot Connector API from (public cloud, Teams GCC, US government).
_SERVICE_HOST_EXACT = frozenset({"smba.trafficmanager.net"})
_SERVICE_HOST_SUFFIXES = (".botframework.com", ".botframework.azure.us", ".teams.microsoft.com", ".teams.microsoft.us")
_TENANT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_TEXT_ATTACHMENT_TYPES = ("text/html", "text/plain")  # Teams repeats the message body as an attachment


class KeysUnavailable(WebhookRejected):
    """The Bot Framework signing keys could not be fetched, so nothing can be verified yet."""

    status = 503
    code = "verification_unavailable"


# --- thread reference ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadRef:
    """Where a reply goes: the conversation, the Bot Connector endpoint that serves it, the tenant."""

    conversation_id: str
    service_url: str
    tenant_id: str | None = None

    def encode(self) -> str:
        parts = [self.conversation_id, self.service_url]
        if self.tenant_id:
            parts.append(self.tenant_id)
        return "|".join(parts)


def parse_thread_ref(ref: str) -> ThreadRef:
    """Inverse of ``ThreadRef.encode``; raises ValueError on anything else."""
    head, sep, last = ref.rpartition("|")
    if not sep:
        raise ValueError("no service URL in the thread reference")
    tenant: str | None = None
    if not _looks_like_url(last):
        tenant = last
        head, sep, last = head.rpartition("|")
        if not sep or not _looks_like_url(last):
            raise ValueError("no service URL in the thread reference")
    if not head:
        raise ValueError("no conversation id in the thread reference")
    return ThreadRef(head, last, tenant)


def _looks_like_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))


# --- signing keys -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: Any  # a cryptography public key, as PyJWT wants it
    endorsements: frozenset[str]


def _http_get_json(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


class OpenIdKeys:
    """The JWKS behind an OpenID metadata document, cached; see the module docstring for the policy."""

    def __init__(
        self,
        metadata_url: str,
        *,
        refresh_after_s: float = 24 * 3600,
        unknown_kid_cooldown_s: float = 300.0,
        stale_retry_s: float = 60.0,
        failure_backoff_s: float = 5.0,
        timeout_s: float = 2.5,
        fetch_json: Callable[[str, float], Any] = _http_get_json,
    ) -> None:
        self.metadata_url = metadata_url
        self.refresh_after_s = refresh_after_s
        self.unknown_kid_cooldown_s = unknown_kid_cooldown_s
        self.stale_retry_s = stale_retry_s
        self.failure_backoff_s = failure_backoff_s
        self.timeout_s = timeout_s
        self._fetch_json = fetch_json
        self._keys: dict[str, SigningKey] = {}
        self._algorithms: tuple[str, ...] = ALGORITHMS
        self._fetched_at: float | None = None  # monotonic time of the last successful fetch
        self._attempted_at = float("-inf")  # monotonic time of the last attempt, successful or not
        self._lock = threading.Lock()
        self._background: threading.Thread | None = None
        self.fetches = 0  # successful fetches, for health and tests

    @property
    def algorithms(self) -> tuple[str, ...]:
        return self._algorithms

    def get(self, kid: str) -> SigningKey | None:
        """The key ``kid``, fetching or refreshing the set as the policy allows; None if unknown.

        Raises KeysUnavailable when no key set has ever been fetched and fetching fails now."""
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is not None:
            stale = self._fetched_at is not None and now - self._fetched_at > self.refresh_after_s
            # While Microsoft is unreachable, try again now and then, not on every request.
            if stale and now - self._attempted_at > self.stale_retry_s:
                self.refresh_in_background()
            return key
        if self._fetched_at is None:
            if now - self._attempted_at < self.failure_backoff_s:
                raise KeysUnavailable("Bot Framework signing keys are unavailable; retry shortly")
            self._refresh_or_raise()
        elif now - self._attempted_at >= self.unknown_kid_cooldown_s:
            # A key id we have not seen: perhaps Microsoft rotated keys. Look once, then wait.
            with contextlib.suppress(KeysUnavailable):  # the old set stays; the token stays unknown
                self._refresh_or_raise()
        return self._keys.get(kid)

    def refresh_in_background(self) -> None:
        """Start a refresh on a daemon thread unless one is running (cached keys keep serving)."""
        with self._lock:
            if self._background is not None and self._background.is_alive():
                return
            self._background = threading.Thread(target=self._refresh_quietly, name="botframework-jwks", daemon=True)
            self._background.start()

    def _refresh_quietly(self) -> None:
        with contextlib.suppress(KeysUnavailable):
            self._refresh_or_raise()

    def _refresh_or_raise(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            metadata = self._fetch_json(self.metadata_url, self.timeout_s)
            jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
            if not isinstance(jwks_uri, str) or not _looks_like_url(jwks_uri):
                raise ValueError("the OpenID metadata has no http(s) jwks_uri")
            jwks = self._fetch_json(jwks_uri, self.timeout_s)
            keys = _signing_keys(jwks)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise KeysUnavailable(f"Bot Framework signing keys could not be fetched: {type(exc).__name__}") from exc
        supported = metadata.get("id_token_signing_alg_values_supported")
        algorithms = ALGORITHMS
        if isinstance(supported, list):
            algorithms = tuple(a for a in ALGORITHMS if a in supported) or ALGORITHMS
        with self._lock:
            self._keys = keys
            self._algorithms = algorithms
            self._fetched_at = time.monotonic()
            self.fetches += 1


def _signing_keys(jwks: Any) -> dict[str, SigningKey]:
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no keys list")
    keys: dict[str, SigningKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("kid") or entry.get("kty") != "RSA":
            continue
        try:
            public_key = jwt.PyJWK(entry, algorithm="RS256").key
        except jwt.PyJWTError:
            continue  # one malformed key must not take the others down
        endorsements = entry.get("endorsements")
        keys[str(entry["kid"])] = SigningKey(
            str(entry["kid"]),
            public_key,
            frozenset(str(e) for e in endorsements) if isinstance(endorsements, list) else frozenset(),
        )
    return keys


# --- the connector ------------------------------------------------------------------------------


@dataclass
class _AccessToken:
    value: str
    refresh_at: float  # monotonic: when to fetch a new one
    expires_at: datetime


class BotFrameworkConnector(Connector):
    name: ClassVar[str] = "skype"
    aliases: ClassVar[tuple[str, ...]] = ("msteams", "webchat")
    capabilities: ClassVar[Capabilities] = Capabilities(
        # Teams refuses activities over ~28 KB; 4000 Arabic characters are ~8 KB of UTF-8.
        max_text_length=4000,
        rich_types=frozenset({"buttons"}),
        messaging_window=None,  # a stored conversation can be answered at any time
        can_initiate=False,  # only conversations the citizen opened (we keep no reference otherwise)
        # Teams throttles per conversation (7 per second, 60 per 30 s) and per app and tenant (50/s).
        rate_per_s=10.0,
        burst=7,
    )

    def __init__(
        self,
        app_id: str,
        app_password: str | None,
        *,
        openid_url: str,
        token_url: str,
        keys: OpenIdKeys | None = None,
    ) -> None:
        self._app_id = app_id
        self._app_password = app_password
        self._openid_url = openid_url
        self._token_url = token_url
        self.keys = keys or OpenIdKeys(openid_url)
        self._token: _AccessToken | None = None
        self._token_lock: asyncio.Lock | None = None  # made on the loop that sends
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> BotFrameworkConnector | None:
        if not settings.botframework_app_id:
            return None
        password = settings.botframework_app_password
        return cls(
            settings.botframework_app_id,
            password.get_secret_value() if password else None,
            openid_url=settings.botframework_openid_url,
            token_url=settings.botframework_token_url,
        )

    @property
    def account_ref(self) -> str:
        return self._app_id

    @property
    def token_expires_at(self) -> datetime | None:
        """When the cached outbound token expires (for channel health)."""
        return self._token.expires_at if self._token else None

    # --- inbound: verify ----------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        header = request.headers.get("Authorization") or ""
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise SignatureMissing("missing Authorization: Bearer token")

        try:
            header_fields = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise SignatureInvalid("token format check failed: the bearer token is not a JWT") from None
        alg = header_fields.get("alg")
        if alg not in self.keys.algorithms:
            raise SignatureInvalid(
                f"algorithm check failed: {alg!r} is not an accepted signing algorithm ({', '.join(self.keys.algorithms)})"
            )
        kid = header_fields.get("kid")
        if not isinstance(kid, str) or not kid:
            raise SignatureInvalid("signing key check failed: the token names no key id (kid)")
        key = self.keys.get(kid)
        if key is None:
            raise SignatureInvalid("signing key check failed: the key id is not in the Bot Framework key set")

        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self._app_id,
                issuer=ISSUER,
                leeway=CLOCK_SKEW_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise SignatureInvalid(_jwt_failure(exc)) from None

        # Only an authenticated caller gets this far; the rest binds the token to this activity.
        activity = load_json_object(request.body)
        service_url = activity.get("serviceUrl")
        claimed = next((claims[c] for c in SERVICE_URL_CLAIMS if c in claims), None)
        if not isinstance(service_url, str) or claimed != service_url:
            raise SignatureInvalid(
                "serviceUrl check failed: the token's serviceurl claim does not match the activity's serviceUrl"
            )
        channel_id = activity.get("channelId")
        if not isinstance(channel_id, str) or channel_id not in key.endorsements:
            shown = channel_id[:40] if isinstance(channel_id, str) else channel_id
            raise SignatureInvalid(
                f"channel endorsement check failed: the signing key is not endorsed for channel {shown!r}"
            )

    # --- inbound: parse -----------------------------------------------------------------------

    def parse(self, request: WebhookRequest) -> list[InboundEvent]:
        activity = load_json_object(request.body)
        channel = activity.get("channelId")
        if channel not in SERVED_CHANNELS:
            raise PayloadInvalid(f"channelId {channel!r} is not served here (served: {', '.join(SERVED_CHANNELS)})")
        kind_name = _required_str(activity, "type")
        activity_id = _required_str(activity, "id")
        conversation = _object(activity, "conversation")
        conversation_id = _required_str(conversation, "id", prefix="conversation.")
        service_url = _required_str(activity, "serviceUrl")
        if not _looks_like_url(service_url) or "|" in service_url or any(c.isspace() for c in service_url):
            raise PayloadInvalid("serviceUrl must be an http(s) URL without spaces or '|'")
        sender = _object(activity, "from")

        event_id = f"{conversation_id}|{activity_id}"
        if len(event_id) > MAX_REF_LENGTH:  # still unique and stable, and fits the inbox column
            event_id = "sha256:" + hashlib.sha256(event_id.encode()).hexdigest()
        base: dict[str, Any] = {
            "channel": channel,
            "account_ref": self.account_ref,
            "event_id": event_id,
            "thread_ref": _thread_ref(conversation_id, service_url, _tenant(activity)),
            "user_ref": str(sender.get("id") or ""),
            "user_display": str(sender["name"]) if sender.get("name") else None,
            "sent_at": _timestamp(activity.get("timestamp")),
            "language_hint": _language(activity.get("locale")),
            "raw": activity,
        }

        if kind_name == "message":
            return [self._message_event(activity, base)]
        if kind_name == "invoke" and activity.get("value") not in (None, "", {}):
            # Teams card actions (Adaptive Card Action.Execute, task modules) arrive as invokes.
            return [
                InboundEvent(
                    **base,
                    kind=EventKind.POSTBACK,
                    postback=_postback(activity["value"]),
                    reply_to_ref=_optional_str(activity, "replyToId"),
                    text=str(activity.get("name") or ""),
                )
            ]
        if kind_name == "typing":
            return [InboundEvent(**base, kind=EventKind.STATUS, text="typing")]
        return [InboundEvent(**base, kind=EventKind.UNSUPPORTED, text=_describe(kind_name, activity))]

    def _message_event(self, activity: dict[str, Any], base: dict[str, Any]) -> InboundEvent:
        if not base["user_ref"]:
            raise PayloadInvalid("from.id is required on a message")
        text = activity.get("text")
        text = text if isinstance(text, str) else ""
        if activity.get("textFormat") == "xml":  # Skype sent entity-escaped text
            text = html.unescape(text)
        text = _without_bot_mention(text, activity)
        reply_to = _optional_str(activity, "replyToId")
        value = activity.get("value")
        if value not in (None, "", {}):
            # A card button (messageBack, Action.Submit): the payload is in value, the text is its label.
            return InboundEvent(
                **base, kind=EventKind.POSTBACK, postback=_postback(value), text=text, reply_to_ref=reply_to
            )
        attachments = _attachments(activity.get("attachments"))
        if not text.strip() and not attachments:
            return InboundEvent(**base, kind=EventKind.UNSUPPORTED, text="message without text or attachments")
        return InboundEvent(**base, kind=EventKind.MESSAGE, text=text, attachments=attachments, reply_to_ref=reply_to)

    # --- outbound -----------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        try:
            ref = parse_thread_ref(message.thread_ref)
        except ValueError as exc:
            raise DeliveryError(
                f"cannot reply: malformed Bot Framework thread reference ({exc})", retryable=False
            ) from None
        if not self.service_url_trusted(ref.service_url):
            # Never send our bearer token to a host that is not Microsoft's (or our configured fake).
            raise DeliveryError(
                f"cannot reply: serviceUrl host {urlsplit(ref.service_url).hostname!r} is not a Bot Framework host",
                retryable=False,
            )
        activity_id = self._activity_id(message.reply_to_ref, ref.conversation_id)
        url = f"{ref.service_url.rstrip('/')}/v3/conversations/{quote(ref.conversation_id, safe='')}/activities"
        if activity_id:
            url += f"/{quote(activity_id, safe='')}"
        body = json.dumps(self._activity(message, ref, activity_id), ensure_ascii=False).encode("utf-8")

        session = self._client()
        for attempt in (1, 2):
            token = await self._access_token(session)
            status, text, retry_after = await self._post(session, url, body, token)
            if status < 300:
                return SendResult(platform_message_id=_json_field(text, "id") or message.delivery_id or None)
            if status == 401 and attempt == 1:
                self._token = None  # revoked or rotated early: get a fresh one and try once more
                continue
            raise classify_status(status, text, retry_after)
        raise AssertionError("unreachable")  # pragma: no cover

    def service_url_trusted(self, service_url: str) -> bool:
        """True for Microsoft's Bot Connector hosts over HTTPS, or the configured metadata's origin."""
        try:
            parts = urlsplit(service_url)
            port = parts.port
        except ValueError:
            return False
        host = (parts.hostname or "").lower()
        if parts.username or parts.password or not host:
            return False
        configured = urlsplit(self._openid_url)
        if (parts.scheme, host, port) == (configured.scheme, (configured.hostname or "").lower(), configured.port):
            return True
        if parts.scheme != "https" or port not in (None, 443):
            return False
        return host in _SERVICE_HOST_EXACT or host.endswith(_SERVICE_HOST_SUFFIXES)

    @staticmethod
    def _activity_id(reply_to_ref: str | None, conversation_id: str) -> str | None:
        """The activity to answer: our own dedupe key (``<conversation>|<activity>``) or a bare id."""
        if not reply_to_ref:
            return None
        prefix = f"{conversation_id}|"
        return reply_to_ref[len(prefix) :] if reply_to_ref.startswith(prefix) else reply_to_ref

    def _activity(self, message: OutboundMessage, ref: ThreadRef, activity_id: str | None) -> dict[str, Any]:
        if len(message.buttons) > MAX_BUTTONS:
            message = _numbered(message)
        activity: dict[str, Any] = {
            "type": "message",
            "recipient": {"id": message.user_ref},
            "conversation": {"id": ref.conversation_id},
            "text": message.text,
            "textFormat": "plain",
        }
        if activity_id:
            activity["replyToId"] = activity_id
        if ref.tenant_id:
            activity["conversation"]["tenantId"] = ref.tenant_id
            activity["channelData"] = {"tenant": {"id": ref.tenant_id}}
        if message.buttons:
            activity["attachments"] = [
                {
                    "contentType": "application/vnd.microsoft.card.hero",
                    "content": {
                        "buttons": [
                            # messageBack: the label shows in the chat, the payload comes back in value.
                            {
                                "type": "messageBack",
                                "title": b.title,
                                "displayText": b.title,
                                "text": b.title,
                                "value": {"payload": b.payload},
                            }
                            for b in message.buttons
                        ]
                    },
                }
            ]
        return activity

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15, connect=5))
        return self._session

    async def _post(
        self, session: aiohttp.ClientSession, url: str, body: bytes, token: str
    ) -> tuple[int, str, str | None]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}
        try:
            # No redirects: a 3xx must not carry the bearer token to wherever it points.
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                return resp.status, await resp.text(errors="replace"), resp.headers.get("Retry-After")
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"Bot Connector unreachable: {type(exc).__name__}", retryable=True) from exc
        except TimeoutError as exc:
            raise DeliveryError("Bot Connector timed out", retryable=True) from exc

    async def _access_token(self, session: aiohttp.ClientSession) -> str:
        if self._token is not None and time.monotonic() < self._token.refresh_at:
            return self._token.value
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:  # many parallel sends, one token request
            if self._token is not None and time.monotonic() < self._token.refresh_at:
                return self._token.value
            self._token = await self._fetch_token(session)
            return self._token.value

    async def _fetch_token(self, session: aiohttp.ClientSession) -> _AccessToken:
        if not self._app_password:
            raise DeliveryError("TAWASUL_BOTFRAMEWORK_APP_PASSWORD is not set: replies cannot be sent", retryable=False)
        form = {
            "grant_type": "client_credentials",
            "client_id": self._app_id,
            "client_secret": self._app_password,
            "scope": SCOPE,
        }
        try:
            async with session.post(self._token_url, data=form, allow_redirects=False) as resp:
                status, text, retry_after = (
                    resp.status,
                    await resp.text(errors="replace"),
                    resp.headers.get("Retry-After"),
                )
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"Bot Framework login unreachable: {type(exc).__name__}", retryable=True) from exc
        except TimeoutError as exc:
            raise DeliveryError("Bot Framework login timed out", retryable=True) from exc
        if status != 200:
            raise classify_token_error(status, text, retry_after)
        data = _json_object(text)
        value = data.get("access_token")
        lifetime = data.get("expires_in")
        if not isinstance(value, str) or not value:
            raise DeliveryError("Bot Framework login answered without an access_token", retryable=True, status=status)
        try:
            seconds = max(60.0, float(lifetime))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            seconds = 3600.0  # the documented lifetime of these tokens
        # Refresh five minutes early (half the lifetime for short-lived tokens) so no send carries
        # a token that expires in flight.
        margin = min(300.0, seconds / 2)
        return _AccessToken(value, time.monotonic() + seconds - margin, datetime.now(UTC) + timedelta(seconds=seconds))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# --- error classification -----------------------------------------------------------------------


def classify_status(status: int, body: str, retry_after: str | None) -> DeliveryError:
    """Map a Bot Connector answer onto retryable/terminal delivery errors (readable reasons)."""
    code, detail = _connector_error(body)
    suffix = f": {detail}" if detail else ""
    if status == 429:
        return DeliveryError(
            f"Bot Connector throttled the bot{suffix}",
            retryable=True,
            retry_after=parse_retry_after(retry_after),
            status=status,
            code=code,
        )
    if status >= 500 or status in (408, 412):  # Teams asks bots to retry 412, 502 and 504 as well
        return DeliveryError(
            f"Bot Connector unavailable ({status}){suffix}",
            retryable=True,
            retry_after=parse_retry_after(retry_after),
            status=status,
            code=code,
        )
    if status == 401:
        return DeliveryError(
            "Bot Connector rejected the bot's token twice: re-authorise the bot (check TAWASUL_BOTFRAMEWORK_APP_ID, "
            f"TAWASUL_BOTFRAMEWORK_APP_PASSWORD and the Azure Bot registration){suffix}",
            retryable=False,
            status=status,
            code=code,
        )
    if status == 403:
        return DeliveryError(
            "the bot may not write in this conversation: the citizen blocked or removed it, or an admin disabled "
            f"it; ask the citizen to write again or use another channel{suffix}",
            retryable=False,
            status=status,
            code=code,
        )
    if status == 404:
        return DeliveryError(
            f"conversation not found: the chat was deleted or the bot was removed from it{suffix}",
            retryable=False,
            status=status,
            code=code,
        )
    if status == 413:
        return DeliveryError(f"message too large for the channel{suffix}", retryable=False, status=status, code=code)
    return DeliveryError(
        f"Bot Connector refused the message ({status}){suffix}", retryable=False, status=status, code=code
    )


def classify_token_error(status: int, body: str, retry_after: str | None) -> DeliveryError:
    """Classify a failed client-credentials request (Microsoft identity platform error JSON)."""
    data = _json_object(body)
    code = str(data.get("error") or "") or None
    description = str(data.get("error_description") or "").splitlines()[0][:200] if data else ""
    suffix = f": {description}" if description else ""
    if status == 429 or status >= 500:
        return DeliveryError(
            f"Bot Framework login unavailable ({status}){suffix}",
            retryable=True,
            retry_after=parse_retry_after(retry_after),
            status=status,
            code=code,
        )
    return DeliveryError(
        "Bot Framework login refused the app credentials: re-authorise the bot (check TAWASUL_BOTFRAMEWORK_APP_ID "
        f"and TAWASUL_BOTFRAMEWORK_APP_PASSWORD; client secrets expire){suffix}",
        retryable=False,
        status=status,
        code=code,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _jwt_failure(exc: Exception) -> str:
    """A reason naming the check that failed (PyJWT's exception type tells which)."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expiry check failed: the token has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "not-before check failed: the token is not valid yet"
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"issuer check failed: the token was not issued by {ISSUER}"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "audience check failed: the token is meant for another app id"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"claims check failed: the token has no {exc.claim!r} claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "signature check failed: the token's signature does not verify"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "algorithm check failed: the token's algorithm is not accepted"
    return f"token format check failed: {type(exc).__name__}"


def _connector_error(body: str) -> tuple[str | None, str]:
    """Bot Connector errors are ``{"error": {"code", "message"}}``; some gateways send ``{"message"}``."""
    data = _json_object(body)
    error = data.get("error")
    if isinstance(error, dict):
        return (str(error["code"]) if error.get("code") else None), str(error.get("message") or "")[:200]
    if data.get("message"):
        return None, str(data["message"])[:200]
    return None, body.strip()[:200]


# --- parsing helpers ----------------------------------------------------------------------------


def _thread_ref(conversation_id: str, service_url: str, tenant: str | None) -> str:
    ref = ThreadRef(conversation_id, service_url, tenant).encode()
    if len(ref) > MAX_REF_LENGTH and tenant:
        ref = ThreadRef(conversation_id, service_url).encode()  # the tenant is optional for replies
    if len(ref) > MAX_REF_LENGTH:
        raise PayloadInvalid(f"conversation.id plus serviceUrl exceed {MAX_REF_LENGTH} characters")
    return ref


def _tenant(activity: dict[str, Any]) -> str | None:
    """Teams puts the tenant in conversation.tenantId and channelData.tenant.id."""
    tenant = _object(activity, "conversation").get("tenantId")
    if not tenant:
        tenant = _object(_object(activity, "channelData"), "tenant").get("id")
    return str(tenant) if tenant and _TENANT_ID.match(str(tenant)) else None


def _without_bot_mention(text: str, activity: dict[str, Any]) -> str:
    """Drop Teams' ``<at>Bot</at>`` mention of the bot itself (group chats and channels)."""
    bot_id = _object(activity, "recipient").get("id")
    entities = activity.get("entities")
    if not bot_id or not isinstance(entities, list):
        return text
    for entity in entities:
        if (
            isinstance(entity, dict)
            and entity.get("type") == "mention"
            and _object(entity, "mentioned").get("id") == bot_id
            and isinstance(entity.get("text"), str)
        ):
            text = text.replace(entity["text"], "")
    return text.strip()


def _attachments(items: Any) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        content_type = str(item.get("contentType") or "")
        if content_type in _TEXT_ATTACHMENT_TYPES or content_type.startswith("application/vnd.microsoft.card."):
            continue  # the message body again, or a card: not a file the citizen sent
        content = _object(item, "content")
        name = str(item["name"]) if item.get("name") else None
        if content_type == "application/vnd.microsoft.teams.file.download.info":
            # Teams files: a pre-authenticated, short-lived download URL (download promptly).
            ref = content.get("downloadUrl")
            file_type = content.get("fileType")
            mime = None
            kind = "file"
            if isinstance(file_type, str) and file_type.lower() in ("png", "jpg", "jpeg", "gif"):
                kind = "image"
        else:
            ref = item.get("contentUrl")
            mime = content_type if "/" in content_type and "*" not in content_type else None
            major = content_type.split("/", 1)[0]
            kind = {"image": "image", "video": "video", "audio": "audio"}.get(major, "file")
        if isinstance(ref, str) and ref:
            found.append(Attachment(kind, ref, mime, name))
    return tuple(found)


def _postback(value: Any) -> str:
    """The button payload: our own ``{"payload": ...}``, Adaptive Card data, or the value as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for candidate in (value, _object(value, "data"), _object(_object(value, "action"), "data")):
            if candidate.get("payload") is not None:
                return str(candidate["payload"])
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _describe(kind: str, activity: dict[str, Any]) -> str:
    """A one-line account of an activity we keep but do not act on (shown in the inbox)."""
    if kind == "conversationUpdate":
        added = [str(m.get("id")) for m in activity.get("membersAdded") or [] if isinstance(m, dict)]
        removed = [str(m.get("id")) for m in activity.get("membersRemoved") or [] if isinstance(m, dict)]
        return f"conversationUpdate: members added {added}, removed {removed}"
    if kind == "installationUpdate":
        return f"installationUpdate: {activity.get('action') or 'unknown action'}"
    if kind == "messageReaction":
        added = [str(r.get("type")) for r in activity.get("reactionsAdded") or [] if isinstance(r, dict)]
        removed = [str(r.get("type")) for r in activity.get("reactionsRemoved") or [] if isinstance(r, dict)]
        return f"messageReaction on {activity.get('replyToId')}: added {added}, removed {removed}"
    if kind == "invoke":
        return f"invoke {activity.get('name')!r} without a value"
    return f"unsupported activity type: {kind}"


def _numbered(message: OutboundMessage) -> OutboundMessage:
    lines = [message.text, ""] + [f"{i}. {b.title}" for i, b in enumerate(message.buttons, 1)]
    return OutboundMessage(**{**asdict_shallow(message), "text": "\n".join(lines), "buttons": ()})


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _language(locale: Any) -> str | None:
    if not isinstance(locale, str) or not locale:
        return None
    return locale.split("-", 1)[0].lower() or None


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _required_str(data: dict[str, Any], key: str, *, prefix: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PayloadInvalid(f"{prefix}{key} (a non-empty string) is required")
    return value


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return str(value) if value not in (None, "") else None


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json_field(text: str, key: str) -> str | None:
    value = _json_object(text).get(key)
    return str(value) if value else None
