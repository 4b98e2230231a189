"""A local fake of the Bot Framework that enforces the parts of the protocol the hub relies on.

One aiohttp server plays the three Microsoft roles the connector talks to:

* **Login for channel tokens** — ``GET /v1/.well-known/openidconfiguration`` (OpenID metadata naming
  ``jwks_uri``) and ``GET /v1/.well-known/keys`` (a JWKS with a locally generated RSA key whose
  ``endorsements`` list the channels). ``token()`` and ``signed()`` sign inbound JWTs with that key,
  with any claim or header spoiled on request, so tests can forge every failure.
* **Login for bot tokens** — ``POST /botframework.com/oauth2/v2.0/token``: OAuth2 client credentials
  as a form (``grant_type``, ``client_id``, ``client_secret``, ``scope``), answered like the Microsoft
  identity platform: ``{"token_type": "Bearer", "expires_in", "access_token"}`` or its error JSON
  with the AADSTS code (7000215 wrong secret, 700016 unknown app, 70011 bad scope, 70003 grant type).
* **Bot Connector** at ``service_url`` — ``POST .../v3/conversations/{id}/activities[/{activityId}]``.
  It wants a bearer token this fake issued and that is neither expired nor revoked (401 with the
  service's ``{"message": "Authorization has been denied for this request."}`` otherwise), an
  Activity of type ``message`` with text or attachments, at most 28 KB (413 ``MessageSizeTooBig``),
  and answers ``{"id": ...}``. Errors use the Connector envelope ``{"error": {"code", "message"}}``
  with the Teams codes: 403 ``ConversationBlockedByUser``, 404 ``ConversationNotFound``, 429
  ``Throttled`` with ``Retry-After`` when a conversation gets more than 7 activities in a second (the
  Teams per-thread limit). ``fail_next`` / ``fail_token_next`` script failures; ``deliveries``
  records what arrived.
"""

from __future__ import annotations

import hmac
import itertools
import json
import secrets
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from fakes.server import FakeServer

ISSUER = "https://api.botframework.com"
SCOPE = "https://api.botframework.com/.default"
CHANNELS = ("skype", "msteams", "webchat")
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SERVICE_PATH = "/amer/"  # real service URLs have a regional path: https://smba.trafficmanager.net/amer/
MAX_ACTIVITY_BYTES = 28 * 1024


@dataclass
class Delivery:
    """One activity the Bot Connector accepted."""

    conversation_id: str
    reply_to_id: str | None  # the activity id in the URL, for replies
    activity: dict[str, Any]
    activity_id: str
    token: str = field(repr=False, default="")

    @property
    def text(self) -> str:
        return str(self.activity.get("text") or "")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        for attachment in self.activity.get("attachments") or []:
            if attachment.get("contentType") == "application/vnd.microsoft.card.hero":
                return list(attachment.get("content", {}).get("buttons") or [])
        return []


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeBotFramework(FakeServer):
    def __init__(
        self,
        app_id: str,
        app_password: str,
        *,
        endorsements: Iterable[str] = CHANNELS,
        token_lifetime_s: int = 3599,
        per_conversation_per_s: int = 7,
    ) -> None:
        super().__init__()
        self.app_id = app_id
        self.app_password = app_password
        self.endorsements = tuple(endorsements)
        self.token_lifetime_s = token_lifetime_s
        self.per_conversation_per_s = per_conversation_per_s
        self.kid = f"fake-{secrets.token_hex(6)}"
        self._keys: dict[str, rsa.RSAPrivateKey] = {self.kid: new_key()}
        self.deliveries: list[Delivery] = []
        self.connector_calls = 0
        self.metadata_fetches = 0
        self.jwks_fetches = 0
        self.token_requests = 0
        self.issued: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.blocked: set[str] = set()
        self.known_conversations: set[str] = set()
        self.accept_any_conversation = True
        self._failures: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self._token_failures: deque[tuple[int, dict[str, Any]]] = deque()
        self._windows: dict[str, deque[float]] = {}
        self._ids = itertools.count(1)

    # --- addresses ----------------------------------------------------------------------------

    @property
    def openid_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/v1/.well-known/keys"

    @property
    def token_url(self) -> str:
        return f"{self.url}/botframework.com/oauth2/v2.0/token"

    @property
    def service_url(self) -> str:
        return f"{self.url}{SERVICE_PATH}"

    # --- scripting ----------------------------------------------------------------------------

    def fail_next(
        self, count: int, *, status: int = 500, retry_after: float | None = None, code: str = "", message: str = ""
    ) -> None:
        """The next ``count`` Connector calls (after the token check) answer with this error."""
        body = {"error": {"code": code or _CODES.get(status, "ServiceError"), "message": message or "Scripted failure"}}
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        for _ in range(count):
            self._failures.append((status, body, headers))

    def fail_token_next(self, count: int, *, status: int = 401, error: str = "invalid_client") -> None:
        for _ in range(count):
            self._token_failures.append((status, _aad_error(error, 7000215, "Scripted failure.")))

    def revoke_tokens(self) -> None:
        """Every access token issued so far stops working (as after a secret rotation)."""
        self.issued.clear()

    def rotate_key(self) -> str:
        """Publish a new signing key next to the old one (as Microsoft does); returns its kid."""
        self.kid = f"fake-{secrets.token_hex(6)}"
        self._keys[self.kid] = new_key()
        return self.kid

    def block(self, conversation_id: str) -> None:
        self.blocked.add(conversation_id)

    def texts_to(self, conversation_id: str) -> list[str]:
        return [d.text for d in self.deliveries if d.conversation_id == conversation_id]

    # --- inbound requests for tests, demo and benchmarks -----------------------------------------

    def token(
        self,
        service_url: str,
        *,
        audience: str | None = None,
        issuer: str = ISSUER,
        expires_in: int = 3600,
        not_before_in: int = -5,
        kid: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        algorithm: str = "RS256",
        drop: Iterable[str] = (),
    ) -> str:
        """A channel-to-bot JWT as the Bot Framework sends it; every part can be spoiled."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "serviceurl": service_url,
            "nbf": now + not_before_in,
            "exp": now + expires_in,
            "iss": issuer,
            "aud": self.app_id if audience is None else audience,
        }
        for name in drop:
            claims.pop(name, None)
        headers = {"kid": kid or self.kid, "typ": "JWT"}
        if algorithm == "none":
            return jwt.encode(claims, "", algorithm="none", headers=headers)
        return jwt.encode(claims, key or self._keys[self.kid], algorithm=algorithm, headers=headers)

    def signed(self, activity: dict[str, Any], **token_options: Any) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a signed POST carrying ``activity`` (Arabic stays UTF-8)."""
        body = json.dumps(activity, ensure_ascii=False).encode("utf-8")
        token = self.token(token_options.pop("service_url", activity.get("serviceUrl", "")), **token_options)
        return body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}

    def activity(
        self,
        channel_id: str,
        text: str,
        *,
        conversation_id: str | None = None,
        user_id: str | None = None,
        user_name: str = "أحمد",
        activity_id: str | None = None,
        service_url: str | None = None,
        locale: str = "ar-SA",
        **extra: Any,
    ) -> dict[str, Any]:
        """A realistic personal-chat message from ``channel_id`` (skype, msteams or webchat)."""
        n = next(self._ids)
        now = datetime.now(UTC)
        if channel_id == "webchat":
            conversation_id = conversation_id or f"{secrets.token_urlsafe(16)}-us"
            user = {"id": user_id or f"dl_{uuid.uuid4().hex[:20]}", "name": user_name}
            recipient = {"id": "tawasul-care-bot@Tvz8Kd3sQ8o", "name": "Tawasul"}
            activity_id = activity_id or f"{conversation_id}|{n:07d}"
        else:
            user = {"id": user_id or f"29:1{secrets.token_urlsafe(32)}", "name": user_name}
            recipient = {"id": f"28:{self.app_id}", "name": "Tawasul"}
            activity_id = activity_id or str(int(now.timestamp() * 1000) + n)
            conversation_id = conversation_id or (
                user["id"] if channel_id == "skype" else f"a:1{secrets.token_urlsafe(60)}"
            )
        activity: dict[str, Any] = {
            "type": "message",
            "id": activity_id,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "serviceUrl": service_url or self.service_url,
            "channelId": channel_id,
            "from": user,
            "conversation": {"id": conversation_id},
            "recipient": recipient,
            "text": text,
            "textFormat": "plain",
            "locale": locale,
        }
        if channel_id == "msteams":
            user["aadObjectId"] = str(uuid.uuid4())
            activity["conversation"] |= {"conversationType": "personal", "tenantId": TENANT_ID}
            activity["channelData"] = {"tenant": {"id": TENANT_ID}}
            activity["entities"] = [{"type": "clientInfo", "locale": locale, "country": "SA", "platform": "Web"}]
        activity.update(extra)
        return activity

    # --- server -------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/v1/.well-known/keys", self._jwks)
        app.router.add_post("/botframework.com/oauth2/v2.0/token", self._token)
        base = f"{SERVICE_PATH}v3/conversations/{{conversation_id}}/activities"
        app.router.add_post(base, self._activities)
        app.router.add_post(base + "/{activity_id}", self._activities)

    async def _metadata(self, _request: web.Request) -> web.Response:
        self.metadata_fetches += 1
        return web.json_response(
            {
                "issuer": ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": self.jwks_url,
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _jwks(self, _request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        keys = []
        for kid, private in self._keys.items():
            jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "endorsements": list(self.endorsements)})
        return web.json_response({"keys": keys})

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if request.content_type != "application/x-www-form-urlencoded":
            return web.json_response(
                _aad_error("invalid_request", 900144, "The request body must contain the 'grant_type' parameter."),
                status=400,
            )
        form = await request.post()
        if self._token_failures:
            status, body = self._token_failures.popleft()
            return web.json_response(body, status=status)
        if form.get("grant_type") != "client_credentials":
            return web.json_response(
                _aad_error("unsupported_grant_type", 70003, "The app requested an unsupported grant type."), status=400
            )
        if form.get("client_id") != self.app_id:
            return web.json_response(
                _aad_error(
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{form.get('client_id')!s}' was not found in the directory 'Bot Framework'.",
                ),
                status=400,
            )
        secret = form.get("client_secret")
        if not isinstance(secret, str) or not hmac.compare_digest(secret.encode(), self.app_password.encode()):
            return web.json_response(
                _aad_error("invalid_client", 7000215, "Invalid client secret provided."), status=401
            )
        if form.get("scope") != SCOPE:
            return web.json_response(
                _aad_error("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid."),
                status=400,
            )
        token = secrets.token_urlsafe(32)
        self.issued[token] = time.time() + self.token_lifetime_s
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime_s,
                "ext_expires_in": self.token_lifetime_s,
                "access_token": token,
            }
        )

    async def _activities(self, request: web.Request) -> web.Response:
        self.connector_calls += 1
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or self.issued.get(token, 0.0) < time.time():
            return web.json_response({"message": "Authorization has been denied for this request."}, status=401)
        if self._failures:
            status, error, headers = self._failures.popleft()
            return web.json_response(error, status=status, headers=headers)
        conversation_id = request.match_info["conversation_id"]
        raw = await request.read()
        if len(raw) > MAX_ACTIVITY_BYTES:
            return _connector_error(413, "MessageSizeTooBig", "Message size too big.")
        try:
            activity = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _connector_error(400, "BadSyntax", "The request body is not valid JSON.")
        if not isinstance(activity, dict) or activity.get("type") != "message":
            return _connector_error(400, "BadArgument", "Activity type must be 'message'.")
        if not activity.get("text") and not activity.get("attachments"):
            return _connector_error(400, "BadArgument", "Activity must have text or attachments.")
        if conversation_id in self.blocked:
            return _connector_error(403, "ConversationBlockedByUser", "User blocked the conversation with the bot.")
        if not self.accept_any_conversation and conversation_id not in self.known_conversations:
            return _connector_error(404, "ConversationNotFound", "Conversation not found.")
        if not self._allow(conversation_id):
            return _connector_error(429, "Throttled", "Too many requests for this conversation.", retry_after=1)
        activity_id = str(1764000000000 + next(self._ids))
        self.deliveries.append(
            Delivery(conversation_id, request.match_info.get("activity_id"), activity, activity_id, token)
        )
        return web.json_response({"id": activity_id})

    def _allow(self, conversation_id: str) -> bool:
        now = time.monotonic()
        window = self._windows.setdefault(conversation_id, deque())
        while window and now - window[0] > 1.0:
            window.popleft()
        if len(window) >= self.per_conversation_per_s:
            return False
        window.append(now)
        return True


_CODES = {
    400: "BadArgument",
    403: "ConversationBlockedByUser",
    404: "ConversationNotFound",
    412: "PreconditionFailed",
    413: "MessageSizeTooBig",
    429: "Throttled",
    500: "ServiceError",
    502: "ServiceError",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def _connector_error(status: int, code: str, message: str, *, retry_after: int | None = None) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _aad_error(error: str, code: int, message: str) -> dict[str, Any]:
    """The Microsoft identity platform's error body (the description starts with the AADSTS code)."""
    trace = str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nTimestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
    }
