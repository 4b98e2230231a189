"""A local fake of the X API v2 endpoints the hub calls, enforcing X's protocol, plus builders of
signed inbound webhook deliveries (Account Activity and X Activity shapes, Arabic included).

Served routes: ``POST /2/dm_conversations/with/{participant_id}/messages``,
``POST /2/dm_conversations/{dm_conversation_id}/messages``, ``POST /2/tweets`` and
``GET /2/users/me``. Every call must carry a valid OAuth 1.0a user-context signature, verified the
way X does it: over the ``https://api.twitter.com`` URL the client signed (tweepy signs that URL and
the connector's middleware only changes where the bytes go), with the consumer key, the access
token, a fresh timestamp and an unused nonce. App-only bearer tokens are refused as X refuses them.
Bodies are checked against the documented fields and limits (DM text 1-10,000 characters, one
attachment; post text 1-280). Answers use X's v2 problem envelope (``title``/``detail``/``type``/
``status``). Quotas for the authenticated account follow channels.md §1.6: 15 DMs per 15 minutes
and 1,440 per 24 hours, 100 posts per 15 minutes, answered with 429 and ``x-rate-limit-*`` headers.
Replies to a post are only accepted when its author mentioned the account (the self-serve
"summoned" rule), and a post repeating one of ours word for word is refused as X refuses it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header, unescape

from fakes.server import FakeServer

X_HOST = "https://api.twitter.com"  # what the client signs, whatever address the request reaches
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
MAX_DM_TEXT = 10_000
MAX_POST_TEXT = 280
OAUTH_MAX_SKEW_S = 300


@dataclass
class SentDM:
    recipient_id: str
    text: str
    dm_event_id: str
    dm_conversation_id: str
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Post:
    id: str
    text: str
    in_reply_to: str | None
    direct_message_deep_link: str | None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Window:
    """A fixed rate-limit window, as X counts them: ``limit`` requests until ``reset``."""

    limit: int
    length_s: float
    start: float = 0.0
    used: int = 0

    def reset_at(self, now: float) -> float:
        if now >= self.start + self.length_s:
            self.start, self.used = now, 0
        return self.start + self.length_s

    def remaining(self, now: float) -> int:
        self.reset_at(now)
        return max(0, self.limit - self.used)


class FakeX(FakeServer):
    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_secret: str,
        user_id: str,
        dm_per_15_min: int = 15,
        dm_per_24_h: int = 1440,
        posts_per_15_min: int = 100,
    ) -> None:
        super().__init__()
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.access_token = access_token
        self.access_secret = access_secret
        self.user_id = user_id
        self.dms: list[SentDM] = []
        self.posts: list[Post] = []
        self.calls: list[str] = []
        self.rejected_auth = 0
        self.closed_dms: set[str] = set()  # citizens whose DM settings refuse us
        self.summoning_posts: dict[str, str] = {}  # post id -> author id: posts that mentioned us
        self._dm_windows = [_Window(dm_per_15_min, 900), _Window(dm_per_24_h, 86_400)]
        self._post_windows = [_Window(posts_per_15_min, 900)]
        self._failures: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self._nonces: set[str] = set()
        self._ids = itertools.count(2_090_000_000_000_000_001)
        self._offset = 0.0

    # --- scripting ----------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock (rate-limit windows) forward; OAuth timestamps keep real time."""
        self._offset += seconds

    def fail_next(self, count: int, *, status: int = 503, detail: str | None = None, html: bool = False) -> None:
        """The next ``count`` authenticated calls answer with this error instead of working;
        ``html`` answers with a gateway's HTML page instead of X's JSON envelope."""
        body = _problem(status, detail or _TITLES.get(status, "Error"))
        for _ in range(count):
            self._failures.append((status, body, {"html": "1"} if html else {}))

    def close_dms(self, user_id: str) -> None:
        self.closed_dms.add(user_id)

    def register_mention(self, post_id: str, author_id: str) -> None:
        """A post by ``author_id`` that mentions us: X lets the account reply to it."""
        self.summoning_posts[post_id] = author_id

    def texts_to(self, user_id: str) -> list[str]:
        return [dm.text for dm in self.dms if dm.recipient_id == user_id]

    # --- server -------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2/dm_conversations/with/{participant_id}/messages", self._dm_with)
        app.router.add_post("/2/dm_conversations/{dm_conversation_id}/messages", self._dm_in_conversation)
        app.router.add_post("/2/tweets", self._create_post)
        app.router.add_get("/2/users/me", self._me)

    async def _me(self, request: web.Request) -> web.Response:
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        return web.json_response({"data": {"id": self.user_id, "name": "خدمة المستفيدين", "username": "CareService"}})

    async def _dm_with(self, request: web.Request) -> web.Response:
        return await self._dm(request, request.match_info["participant_id"], None)

    async def _dm_in_conversation(self, request: web.Request) -> web.Response:
        conversation = request.match_info["dm_conversation_id"]
        ids = conversation.split("-")
        if len(ids) == 2 and self.user_id in ids:
            return await self._dm(request, ids[1] if ids[0] == self.user_id else ids[0], conversation)
        return _error(404, "Could not find DM conversation with id: [" + conversation + "].", "resource-not-found")

    async def _dm(self, request: web.Request, participant: str, conversation: str | None) -> web.Response:
        self.calls.append("dm")
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        if self._failures:
            return self._scripted_failure()
        limited = self._spend(self._dm_windows)
        if limited is not None:
            return limited
        body, problem = await _json_body(request, allowed={"text", "attachments"})
        if problem is not None:
            return problem
        assert body is not None
        text = body.get("text")
        attachments = body.get("attachments")
        if text is None and attachments is None:
            return _invalid("One of text or attachments is required.", "text")
        if text is not None and (not isinstance(text, str) or not 1 <= len(text) <= MAX_DM_TEXT):
            return _invalid(f"text must be between 1 and {MAX_DM_TEXT} characters.", "text")
        if attachments is not None and (
            not isinstance(attachments, list)
            or len(attachments) != 1
            or not str(attachments[0].get("media_id", "")).isdigit()
        ):
            return _invalid("attachments must hold exactly one media_id.", "attachments")
        if not participant.isdigit():
            return _invalid(
                f"The `participant_id` query parameter value [{participant}] is not valid", "participant_id"
            )
        if participant == self.user_id:
            return _error(403, "You cannot send a Direct Message to yourself.")
        if participant in self.closed_dms:
            return _error(403, "You cannot send messages to this user.")
        conversation = conversation or "-".join(sorted((participant, self.user_id), key=int))
        event_id = str(next(self._ids))
        self.dms.append(SentDM(participant, text or "", event_id, conversation, attachments or []))
        return web.json_response(
            {"data": {"dm_conversation_id": conversation, "dm_event_id": event_id}},
            status=201,
            headers=self._limit_headers(self._dm_windows),
        )

    async def _create_post(self, request: web.Request) -> web.Response:
        self.calls.append("post")
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        if self._failures:
            return self._scripted_failure()
        limited = self._spend(self._post_windows)
        if limited is not None:
            return limited
        body, bad = await _json_body(
            request, allowed={"text", "reply", "direct_message_deep_link", "quote_tweet_id", "reply_settings"}
        )
        if bad is not None:
            return bad
        assert body is not None
        text = body.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_POST_TEXT:
            return _invalid(f"text must be between 1 and {MAX_POST_TEXT} characters.", "text")
        link = body.get("direct_message_deep_link")
        if link is not None and not str(link).startswith(
            ("https://twitter.com/messages/compose?recipient_id=", "https://x.com/messages/compose?recipient_id=")
        ):
            return _invalid("direct_message_deep_link must be a messages/compose link.", "direct_message_deep_link")
        reply = body.get("reply")
        target = None
        if reply is not None:
            target = str(reply.get("in_reply_to_tweet_id", "")) if isinstance(reply, dict) else ""
            if not target.isdigit():
                return _invalid("reply.in_reply_to_tweet_id must be a post id.", "reply")
            if target not in self.summoning_posts:
                return _error(
                    403,
                    "Reply to this conversation is not allowed because you have not been mentioned or otherwise "
                    "engaged by the author of the post you are replying to.",
                )
        if any(p.text == text for p in self.posts):
            return _error(403, "You are not allowed to create a Tweet with duplicate content.")
        post_id = str(next(self._ids))
        self.posts.append(Post(post_id, text, target, link, body))
        return web.json_response(
            {"data": {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id]}},
            status=201,
            headers=self._limit_headers(self._post_windows),
        )

    def _scripted_failure(self) -> web.Response:
        status, problem, options = self._failures.popleft()
        if options.get("html"):
            page = f"<html><body><h1>{status} {problem['title']}</h1></body></html>"
            return web.Response(status=status, text=page, content_type="text/html")
        return web.json_response(problem, status=status)

    # --- protocol checks ----------------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            self.rejected_auth += 1
            return web.json_response(
                {
                    "title": "Unsupported Authentication",
                    "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
                    "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
                    "type": "https://api.twitter.com/2/problems/unsupported-authentication",
                    "status": 403,
                },
                status=403,
            )
        try:
            pairs = parse_authorization_header(header) if header.startswith("OAuth ") else []
            params = {k: unescape(v) for k, v in pairs}  # header values are percent-encoded (RFC 5849 3.5.1)
        except ValueError:
            params = {}
        if not self._oauth_valid(request, header, params):
            self.rejected_auth += 1
            return _error(401, "Unauthorized")
        return None

    def _oauth_valid(self, request: web.Request, header: str, params: dict[str, str]) -> bool:
        if params.get("oauth_consumer_key") != self.consumer_key or params.get("oauth_token") != self.access_token:
            return False
        if params.get("oauth_signature_method") != "HMAC-SHA1" or not params.get("oauth_signature"):
            return False
        try:
            skew = abs(time.time() - int(params.get("oauth_timestamp", "0")))
        except ValueError:
            return False
        nonce = params.get("oauth_nonce", "")
        if skew > OAUTH_MAX_SKEW_S or not nonce or nonce in self._nonces:
            return False
        collected = oauth_signature.collect_parameters(
            uri_query=request.rel_url.raw_query_string, headers={"Authorization": header}, exclude_oauth_signature=True
        )
        base = oauth_signature.signature_base_string(
            request.method,
            oauth_signature.base_string_uri(X_HOST + request.rel_url.raw_path),
            oauth_signature.normalize_parameters(collected),
        )
        key = f"{quote(self.consumer_secret, safe='')}&{quote(self.access_secret, safe='')}"
        expected = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(expected, params["oauth_signature"]):
            return False
        self._nonces.add(nonce)
        return True

    def _spend(self, windows: list[_Window]) -> web.Response | None:
        now = self.now()
        for window in windows:
            reset = window.reset_at(now)
            if window.used >= window.limit:
                headers = {
                    "x-rate-limit-limit": str(window.limit),
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": str(int(reset - self._offset) + 1),
                }
                return web.json_response(_problem(429, "Too Many Requests"), status=429, headers=headers)
        for window in windows:
            window.used += 1
        return None

    def _limit_headers(self, windows: list[_Window]) -> dict[str, str]:
        now = self.now()
        tightest = min(windows, key=lambda w: w.remaining(now))
        return {
            "x-rate-limit-limit": str(tightest.limit),
            "x-rate-limit-remaining": str(tightest.remaining(now)),
            "x-rate-limit-reset": str(int(tightest.reset_at(now) - self._offset) + 1),
        }


_TITLES = {400: "Invalid Request", 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}
_TITLES |= {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def _problem(status: int, detail: str, kind: str | None = None) -> dict[str, Any]:
    return {
        "title": _TITLES.get(status, "Error"),
        "detail": detail,
        "type": f"https://api.twitter.com/2/problems/{kind}" if kind else "about:blank",
        "status": status,
    }


def _error(status: int, detail: str, kind: str | None = None) -> web.Response:
    return web.json_response(_problem(status, detail, kind), status=status)


def _invalid(message: str, parameter: str) -> web.Response:
    return web.json_response(
        {
            "errors": [{"parameters": {parameter: []}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
        status=400,
    )


async def _json_body(request: web.Request, *, allowed: set[str]) -> tuple[dict[str, Any] | None, web.Response | None]:
    if request.content_type != "application/json":
        return None, _invalid("Content-Type must be application/json.", "body")
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None, _invalid("The request body is not valid JSON.", "body")
    if not isinstance(body, dict):
        return None, _invalid("The request body must be a JSON object.", "body")
    unknown = sorted(set(body) - allowed)
    if unknown:
        return None, _invalid(f"[{unknown[0]}] is not one of {sorted(allowed)}", unknown[0])
    return body, None


# --- inbound webhook deliveries ----------------------------------------------------------------------


def sign_body(consumer_secret: str, body: bytes) -> str:
    digest = hmac.new(consumer_secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def signed_webhook(consumer_secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers X POSTs for ``payload`` (UTF-8 JSON, signed over the exact bytes)."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    return body, {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign_body(consumer_secret, body)}


def dm_event(
    event_id: str, sender_id: str, recipient_id: str, text: str, *, created_ms: int | None = None
) -> dict[str, Any]:
    """One legacy ``message_create`` DM event, as both AAA and XAA ``dm.*`` deliver it."""
    return {
        "type": "message_create",
        "id": event_id,
        "created_timestamp": str(created_ms or int(time.time() * 1000)),
        "message_create": {
            "target": {"recipient_id": recipient_id},
            "sender_id": sender_id,
            "message_data": {
                "text": text,
                "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
            },
        },
    }


def aaa_dm(
    for_user_id: str,
    event_id: str,
    sender_id: str,
    text: str,
    *,
    name: str = "نورة العتيبي",
    screen_name: str = "noura_a",
) -> dict[str, Any]:
    """An Account Activity API delivery of one DM received by ``for_user_id``."""
    return {
        "for_user_id": for_user_id,
        "direct_message_events": [dm_event(event_id, sender_id, for_user_id, text)],
        "users": {
            sender_id: {"id": sender_id, "name": name, "screen_name": screen_name, "protected": False},
            for_user_id: {"id": for_user_id, "name": "خدمة المستفيدين", "screen_name": "CareService"},
        },
    }


def xaa_dm(
    user_id: str, event_id: str, sender_id: str, text: str, *, name: str = "نورة العتيبي", username: str = "noura_a"
) -> dict[str, Any]:
    """The same DM as an X Activity API ``dm.received`` webhook delivery."""
    return {
        "data": {
            "event_uuid": str(-int(event_id) // 3),
            "filter": {"user_id": user_id},
            "event_type": "dm.received",
            "tag": "dm-inbound",
            "payload": {
                "direct_message_events": [dm_event(event_id, sender_id, user_id, text)],
                "users": {
                    sender_id: {"data": {"id": sender_id, "name": name, "username": username}},
                    user_id: {"data": {"id": user_id, "name": "خدمة المستفيدين", "username": "CareService"}},
                },
            },
        }
    }


def aaa_mention(
    for_user_id: str,
    tweet_id: str,
    author_id: str,
    text: str,
    *,
    handle: str = "CareService",
    name: str = "فهد الدوسري",
    screen_name: str = "fahad_d",
    in_reply_to: str | None = None,
) -> dict[str, Any]:
    """An AAA ``tweet_create_events`` delivery of a public post that @mentions ``for_user_id``."""
    full = f"@{handle} {text}"
    return {
        "for_user_id": for_user_id,
        "user_has_blocked": "false",
        "tweet_create_events": [
            {
                "created_at": time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime()),
                "id": int(tweet_id),
                "id_str": tweet_id,
                "text": full,
                "display_text_range": [0, len(full)],
                "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
                "truncated": False,
                "in_reply_to_status_id_str": in_reply_to,
                "in_reply_to_user_id_str": None,
                "user": {"id": int(author_id), "id_str": author_id, "name": name, "screen_name": screen_name},
                "entities": {
                    "hashtags": [],
                    "urls": [],
                    "symbols": [],
                    "user_mentions": [
                        {
                            "screen_name": handle,
                            "name": "خدمة المستفيدين",
                            "id_str": for_user_id,
                            "indices": [0, len(handle) + 1],
                        }
                    ],
                },
                "lang": "ar",
                "timestamp_ms": str(int(time.time() * 1000)),
            }
        ],
    }


def xaa_mention(
    user_id: str,
    post_id: str,
    author_id: str,
    text: str,
    *,
    conversation_id: str | None = None,
    handle: str = "CareService",
    username: str = "fahad_d",
    name: str = "فهد الدوسري",
) -> dict[str, Any]:
    """An X Activity API ``post.mention.create`` delivery (``payload`` is a v2 Post)."""
    full = f"@{handle} {text}"
    return {
        "data": {
            "event_uuid": str(int(post_id) - 7),
            "filter": {"user_id": user_id},
            "event_type": "post.mention.create",
            "tag": "mentions",
            "payload": {
                "id": post_id,
                "conversation_id": conversation_id or post_id,
                "author_id": author_id,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "lang": "ar",
                "text": full,
                "edit_history_tweet_ids": [post_id],
                "entities": {"mentions": [{"start": 0, "end": len(handle) + 1, "username": handle, "id": user_id}]},
            },
            "includes": {"users": [{"id": author_id, "username": username, "name": name}]},
        }
    }
