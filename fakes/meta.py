"""A local fake of Meta's Graph API send endpoints for Messenger, Instagram and WhatsApp.

One server plays the three, as the real ``graph.facebook.com`` does: ``POST /v25.0/{node}/messages``
where the node is the Page id (or ``me``), the Instagram account id (or ``me``) or the WhatsApp
phone number id, and the access token says which channel is calling. It enforces what the hub
relies on, answering in Meta's envelope ``{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}`` (plus ``error_data.details`` for WhatsApp):

- access token (``Authorization: Bearer``/``OAuth`` or ``access_token``) -> 104 missing, 190 invalid
  or expired; ``appsecret_proof`` checked when sent (and required with ``require_appsecret_proof``);
  the token must own the node (100/33);
- Messenger/Instagram: ``recipient.id`` known (100/2018001), not blocked (551/1545041),
  ``messaging_type`` and tag rules (only HUMAN_AGENT; the retired tags answer 100), the 24-hour
  window and the 7-day HUMAN_AGENT window (10/2018278, Instagram 10/2534022), text of at most 2000
  characters (Messenger) or **1000 UTF-8 bytes** (Instagram), quick replies (13, titles of 20);
  a per-node rate limit answering 613;
- WhatsApp: ``messaging_product``, ``to``, ``type`` (text, interactive reply buttons: 1-3, unique
  titles of 20, body of 1024; approved templates), the 24-hour customer-service window (131047
  outside it unless a template), throughput (130429) and the pair rate to one person (131056);
- scripted failures (``fail_next``), expired tokens (``expire_token``), blocked users (``block``).

It records every accepted message (``sent``) and builds realistic SIGNED inbound webhooks (Arabic
escaped as Meta does) that also open the citizen's window, for tests, ``tawasul demo`` and benchmarks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from connectors.meta.signature import SIGNATURE_HEADER, meta_json, sign
from fakes.server import FakeServer

GRAPH_VERSION = "v25.0"
PAGE_ID = "104000000000001"
INSTAGRAM_ID = "17841400000000001"
WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE = "966112345678"

STANDARD_WINDOW_S = 24 * 3600
HUMAN_AGENT_WINDOW_S = 7 * 24 * 3600
RETIRED_TAGS = {"CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE"}  # error 100 since 2026-04-27
_WINDOW_MESSAGE = "(#10) This message is sent outside of allowed window."
_E164 = re.compile(r"^\+?[1-9]\d{7,14}$")


@dataclass
class SentMessage:
    """One message the fake accepted."""

    channel: str  # facebook | instagram | whatsapp
    node: str
    recipient: str
    text: str
    message_id: str
    kind: str = "text"  # text | interactive | template
    messaging_type: str | None = None
    tag: str | None = None
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (title, payload)
    template: str | None = None
    reply_to: str | None = None
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookCall:
    """A signed inbound webhook, ready to POST to ``/webhooks/{channel}``."""

    channel: str
    body: bytes
    headers: dict[str, str]
    payload: dict[str, Any]


class GraphFailure(Exception):
    """Raised inside a handler to answer with Meta's error envelope."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: int = 400,
        subcode: int | None = None,
        details: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.subcode = code, message, status, subcode
        self.details, self.headers = details, headers or {}


class FakeMetaGraph(FakeServer):
    def __init__(
        self,
        app_secret: str,
        *,
        page_token: str | None = None,
        instagram_token: str | None = None,
        whatsapp_token: str | None = None,
        page_id: str = PAGE_ID,
        instagram_id: str = INSTAGRAM_ID,
        phone_number_id: str = PHONE_NUMBER_ID,
        require_appsecret_proof: bool = False,
        rate_per_s: float = 300.0,  # Messenger/Instagram Send API: 300 calls/s per Page or account
        whatsapp_rate_per_s: float = 80.0,  # Cloud API default throughput per number
        pair_burst: int = 45,  # WhatsApp: bursts of up to 45 messages in 6 s to one person
    ) -> None:
        super().__init__()
        self.app_secret = app_secret
        self.page_id, self.instagram_id, self.phone_number_id = page_id, instagram_id, phone_number_id
        self.tokens: dict[str, str] = {}
        for channel, token in (("facebook", page_token), ("instagram", instagram_token), ("whatsapp", whatsapp_token)):
            if token:
                self.tokens[token] = channel
        self.require_appsecret_proof = require_appsecret_proof
        self.rate_per_s = rate_per_s
        self.whatsapp_rate_per_s = whatsapp_rate_per_s
        self.pair_burst = pair_burst
        self.approved_templates: set[str] = {"ticket_update"}
        self.sent: list[SentMessage] = []
        self.requests: list[dict[str, Any]] = []  # every call: channel, node, body, status
        self.clock = time.time
        self._last_inbound: dict[tuple[str, str], float] = {}
        self._blocked: set[tuple[str, str]] = set()
        self._expired: set[str] = set()
        self._failures: deque[GraphFailure | tuple[int, str]] = deque()
        self._rate: dict[str, deque[float]] = {}

    @property
    def api_base(self) -> str:
        """What TAWASUL_META_API_BASE should be set to."""
        return f"{self.url}/{GRAPH_VERSION}"

    # --- scripting ----------------------------------------------------------------------------

    def user_wrote(self, channel: str, user: str, at: datetime | float | None = None) -> None:
        """The citizen wrote at ``at`` (default now): that opens the channel's messaging window."""
        when = at.timestamp() if isinstance(at, datetime) else (at if at is not None else self.clock())
        self._last_inbound[(channel, _digits(user) if channel == "whatsapp" else user)] = when

    def block(self, channel: str, user: str) -> None:
        """The citizen blocked the Page/account (or deactivated theirs)."""
        self._blocked.add((channel, user))

    def expire_token(self, channel: str) -> None:
        self._expired |= {t for t, c in self.tokens.items() if c == channel}

    def fail_next(
        self,
        count: int = 1,
        *,
        code: int | None = 2,
        subcode: int | None = None,
        status: int | None = None,
        message: str | None = None,
        details: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next ``count`` calls fail. ``code=None`` answers like a proxy (plain-text body, 502 by
        default) rather than Graph; ``retry_after`` adds a Retry-After header."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        for _ in range(count):
            if code is None:
                self._failures.append((status or 502, message or "Bad Gateway"))
            else:
                self._failures.append(
                    GraphFailure(
                        code,
                        message or _MESSAGES.get(code, f"(#{code}) An error occurred"),
                        status=status or (500 if code in (1, 2) else 400),
                        subcode=subcode,
                        details=details,
                        headers=headers,
                    )
                )

    def texts_to(self, recipient: str) -> list[str]:
        wanted = _digits(recipient) or recipient
        return [m.text for m in self.sent if m.recipient in (recipient, wanted)]

    # --- inbound webhooks (signed, Arabic escaped as Meta sends it) ---------------------------------

    def signed(self, channel: str, payload: dict[str, Any]) -> WebhookCall:
        body = meta_json(payload)
        return WebhookCall(
            channel,
            body,
            {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.app_secret, body)},
            payload,
        )

    def messenger_message(self, psid: str, text: str, **kwargs: Any) -> WebhookCall:
        """A citizen's Messenger message to the Page; opens their 24-hour window."""
        payload = messaging_payload("page", self.page_id, psid, text, **kwargs)
        self.user_wrote("facebook", psid, _item_time(payload))
        return self.signed("facebook", payload)

    def instagram_message(self, igsid: str, text: str, **kwargs: Any) -> WebhookCall:
        payload = messaging_payload("instagram", self.instagram_id, igsid, text, **kwargs)
        self.user_wrote("instagram", igsid, _item_time(payload))
        return self.signed("instagram", payload)

    def whatsapp_message(self, wa_id: str, text: str, **kwargs: Any) -> WebhookCall:
        payload = whatsapp_payload(self.phone_number_id, wa_id, text, **kwargs)
        message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        self.user_wrote("whatsapp", wa_id, float(message["timestamp"]))
        return self.signed("whatsapp", payload)

    # --- server -------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_post(r"/{version:v\d+\.\d+}/{node}/messages", self._messages)

    async def _messages(self, request: web.Request) -> web.Response:
        node = request.match_info["node"]
        record: dict[str, Any] = {"node": node, "channel": None, "body": None, "status": 200}
        self.requests.append(record)
        try:
            if self._failures:
                failure = self._failures.popleft()
                if isinstance(failure, tuple):
                    record["status"] = failure[0]
                    return web.Response(status=failure[0], text=failure[1])
                raise failure
            channel = self._authenticate(request, node)
            record["channel"] = channel
            body = await _json_body(request)
            record["body"] = body
            if channel == "whatsapp":
                return web.json_response(self._whatsapp(node, body))
            return web.json_response(self._messenger(channel, node, body))
        except GraphFailure as failure:
            record["status"] = failure.status
            return _graph_error(failure, whatsapp=record["channel"] == "whatsapp")

    def _authenticate(self, request: web.Request, node: str) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        token = value.strip() if scheme.lower() in ("bearer", "oauth") else request.query.get("access_token")
        if not token:
            raise GraphFailure(104, "An access token is required to request this resource.")
        channel = self.tokens.get(token)
        if channel is None:
            raise GraphFailure(190, "Invalid OAuth access token - Cannot parse access token", status=401)
        if token in self._expired:
            raise GraphFailure(
                190,
                "Error validating access token: Session has expired. The current time is later than the expiry time.",
                status=401,
                subcode=463,
            )
        proof = request.query.get("appsecret_proof")
        expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if proof is not None and not hmac.compare_digest(proof, expected):
            raise GraphFailure(100, "Invalid appsecret_proof provided in the API argument")
        if proof is None and self.require_appsecret_proof:
            raise GraphFailure(100, "API calls from the server require an appsecret_proof argument")
        owned = {
            "facebook": {self.page_id, "me"},
            "instagram": {self.instagram_id, self.page_id, "me"},
            "whatsapp": {self.phone_number_id},
        }[channel]
        if node not in owned:
            raise GraphFailure(
                100,
                f"Unsupported post request. Object with ID '{node}' does not exist, cannot be loaded due to "
                "missing permissions, or does not support this operation.",
                subcode=33,
            )
        return channel

    def _throttle(self, key: str, limit: float, span_s: float = 1.0) -> bool:
        """Sliding-window counter: True when this call is over the limit."""
        now = self.clock()
        window = self._rate.setdefault(key, deque())
        while window and now - window[0] >= span_s:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    # --- Messenger and Instagram -----------------------------------------------------------------

    def _messenger(self, channel: str, node: str, body: dict[str, Any]) -> dict[str, Any]:
        recipient = _object(body, "recipient").get("id")
        if not recipient:
            raise GraphFailure(100, "(#100) The parameter recipient is required")
        recipient = str(recipient)
        messaging_type = body.get("messaging_type")
        if messaging_type not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            raise GraphFailure(100, "(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
        tag = body.get("tag")
        if messaging_type == "MESSAGE_TAG":
            if tag in RETIRED_TAGS:
                raise GraphFailure(100, f"(#100) Tag {tag} is no longer supported")
            if tag != "HUMAN_AGENT":
                raise GraphFailure(100, "(#100) Param tag must be a valid message tag")
        message = _object(body, "message")
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            raise GraphFailure(100, "(#100) Param message[text] must be a non-empty UTF-8 encoded string")
        if channel == "instagram" and len(text.encode("utf-8")) > 1000:
            raise GraphFailure(100, "(#100) Length of param message[text] must be less than or equal to 1000 bytes")
        if channel == "facebook" and len(text) > 2000:
            raise GraphFailure(100, "(#100) Length of param message[text] must be less than or equal to 2000")
        buttons = _quick_replies(message.get("quick_replies"))

        if self._throttle(f"{channel}:{node}", self.rate_per_s):
            raise GraphFailure(613, _MESSAGES[613])
        if (channel, recipient) in self._blocked:
            raise GraphFailure(551, "(#551) This person isn't available right now.", subcode=1545041)
        wrote = self._last_inbound.get((channel, recipient))
        if wrote is None:
            raise GraphFailure(100, "(#100) No matching user found", subcode=2018001)
        allowed = HUMAN_AGENT_WINDOW_S if messaging_type == "MESSAGE_TAG" else STANDARD_WINDOW_S
        if self.clock() - wrote > allowed:
            raise GraphFailure(10, _WINDOW_MESSAGE, subcode=2534022 if channel == "instagram" else 2018278)

        message_id = f"m_{secrets.token_urlsafe(24)}" if channel == "facebook" else _ig_mid()
        reply_to = _object(body, "reply_to").get("mid")
        self.sent.append(
            SentMessage(
                channel,
                node,
                recipient,
                text,
                message_id,
                messaging_type=messaging_type,
                tag=tag,
                buttons=buttons,
                reply_to=str(reply_to) if reply_to else None,
                body=body,
            )
        )
        return {"recipient_id": recipient, "message_id": message_id}

    # --- WhatsApp -----------------------------------------------------------------------------------

    def _whatsapp(self, node: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("messaging_product") != "whatsapp":
            raise GraphFailure(100, "(#100) The parameter messaging_product is required.")
        to = str(body.get("to") or "")
        if not _E164.match(to):
            raise GraphFailure(131009, "(#131009) Parameter value is not valid", details="Invalid 'to' parameter")
        wa_id = _digits(to)
        kind = body.get("type", "text")
        text, buttons, template = self._whatsapp_content(kind, body)

        if self._throttle(f"whatsapp:{node}", self.whatsapp_rate_per_s):
            raise GraphFailure(
                130429, "(#130429) Rate limit hit", details="Cloud API message throughput has been reached."
            )
        if self._throttle(f"pair:{wa_id}", self.pair_burst, span_s=6.0):
            raise GraphFailure(
                131056,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                details="Message failed to send because there were too many messages sent from this phone number "
                "to the same phone number in a short period of time.",
            )
        wrote = self._last_inbound.get(("whatsapp", wa_id))
        if kind != "template" and (wrote is None or self.clock() - wrote > STANDARD_WINDOW_S):
            raise GraphFailure(
                131047,
                "(#131047) Re-engagement message",
                details="Message failed to send because more than 24 hours have passed since the customer last "
                "replied to this number.",
            )
        wamid = f"wamid.HBgM{wa_id}FQIAERgS{secrets.token_hex(10).upper()}"
        context = _object(body, "context").get("message_id")
        self.sent.append(
            SentMessage(
                "whatsapp",
                node,
                wa_id,
                text,
                wamid,
                kind=kind,
                buttons=buttons,
                template=template,
                reply_to=str(context) if context else None,
                body=body,
            )
        )
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": wa_id}],
            "messages": [{"id": wamid, **({"message_status": "accepted"} if kind == "template" else {})}],
        }

    def _whatsapp_content(self, kind: Any, body: dict[str, Any]) -> tuple[str, list[tuple[str, str]], str | None]:
        if kind == "text":
            text = _object(body, "text").get("body")
            if not isinstance(text, str) or not text.strip():
                raise GraphFailure(100, "(#100) The parameter text['body'] is required.")
            if len(text) > 4096:
                raise GraphFailure(100, "(#100) Param text['body'] must be at most 4096 characters long.")
            return text, [], None
        if kind == "interactive":
            interactive = _object(body, "interactive")
            if interactive.get("type") != "button":
                raise GraphFailure(131009, "(#131009) Parameter value is not valid", details="interactive.type")
            text = _object(interactive, "body").get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > 1024:
                raise GraphFailure(
                    131009, "(#131009) Parameter value is not valid", details="body.text must be 1-1024 characters"
                )
            raw_buttons = _object(interactive, "action").get("buttons")
            if not isinstance(raw_buttons, list) or not 1 <= len(raw_buttons) <= 3:
                raise GraphFailure(
                    131009, "(#131009) Parameter value is not valid", details="buttons must have 1 to 3 items"
                )
            buttons: list[tuple[str, str]] = []
            for item in raw_buttons:
                reply = _object(item if isinstance(item, dict) else {}, "reply")
                title, button_id = str(reply.get("title") or ""), str(reply.get("id") or "")
                if not 0 < len(title) <= 20 or not 0 < len(button_id) <= 256:
                    raise GraphFailure(
                        131009,
                        "(#131009) Parameter value is not valid",
                        details="button title must be 1-20 characters and id 1-256",
                    )
                buttons.append((title, button_id))
            if len({t for t, _ in buttons}) != len(buttons):
                raise GraphFailure(
                    131009, "(#131009) Parameter value is not valid", details="button titles must be unique"
                )
            return text, buttons, None
        if kind == "template":
            template = _object(body, "template")
            name = str(template.get("name") or "")
            language = str(_object(template, "language").get("code") or "")
            if name not in self.approved_templates:
                raise GraphFailure(
                    132001,
                    "(#132001) Template name does not exist in the translation",
                    details=f"template name ({name}) does not exist in {language or 'the requested language'}",
                )
            parameters = [
                str(p.get("text"))
                for c in template.get("components") or []
                if isinstance(c, dict)
                for p in c.get("parameters") or []
                if isinstance(p, dict)
            ]
            return " | ".join(parameters), [], name
        raise GraphFailure(131051, "(#131051) Message type unknown", details=f"unsupported message type {kind!r}")


_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    190: "Invalid OAuth access token.",
    551: "(#551) This person isn't available right now.",
    613: "(#613) Calls to this API have exceeded the rate limit.",
    1200: "Temporary send message failure. Please try again later.",
    130429: "(#130429) Rate limit hit",
    131026: "(#131026) Message undeliverable",
    131047: "(#131047) Re-engagement message",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
}


def _graph_error(failure: GraphFailure, *, whatsapp: bool) -> web.Response:
    error: dict[str, Any] = {"message": failure.message, "type": "OAuthException", "code": failure.code}
    if failure.subcode is not None:
        error["error_subcode"] = failure.subcode
    if whatsapp or failure.details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": failure.details or failure.message}
    error["fbtrace_id"] = secrets.token_urlsafe(12)
    headers = dict(failure.headers)
    if failure.code == 190:
        headers["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token" "' + failure.message + '"'
    return web.json_response({"error": error}, status=failure.status, headers=headers)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise GraphFailure(100, f"(#100) Unsupported content type {request.content_type!r}: send JSON")
    raw = await request.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise GraphFailure(100, "(#100) Invalid JSON for postdata") from None
    if not isinstance(data, dict):
        raise GraphFailure(100, "(#100) Invalid JSON for postdata")
    return data


def _quick_replies(value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or not 0 < len(value) <= 13:
        raise GraphFailure(100, "(#100) param message[quick_replies] must have between 1 and 13 elements")
    found: list[tuple[str, str]] = []
    for item in value:
        if not isinstance(item, dict) or item.get("content_type") != "text":
            raise GraphFailure(100, "(#100) Quick reply content_type must be text")
        title, payload = str(item.get("title") or ""), str(item.get("payload") or "")
        if not 0 < len(title) <= 20:
            raise GraphFailure(100, "(#100) Quick reply title must be 1 to 20 characters")
        if not 0 < len(payload) <= 1000:
            raise GraphFailure(100, "(#100) Quick reply payload must be 1 to 1000 characters")
        found.append((title, payload))
    return found


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def _ig_mid() -> str:
    return "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOj" + secrets.token_urlsafe(18)


def _item_time(payload: dict[str, Any]) -> float:
    return float(payload["entry"][0]["messaging"][0]["timestamp"]) / 1000


# --- payload builders (documented shapes; see ../shared/reference/channels.md §2.9, §3.5, §4.6) -----------


def messaging_payload(
    obj: str,
    account_id: str,
    user_id: str,
    text: str,
    *,
    mid: str | None = None,
    timestamp_ms: int | None = None,
    quick_reply: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """A Messenger (``obj="page"``) or Instagram (``obj="instagram"``) message webhook with one item."""
    timestamp_ms = timestamp_ms or int(time.time() * 1000)
    message: dict[str, Any] = {"mid": mid or f"m_{secrets.token_urlsafe(20)}"}
    if text:
        message["text"] = text
    if quick_reply:
        message["quick_reply"] = {"payload": quick_reply}
    if attachments:
        message["attachments"] = attachments
    if reply_to:
        message["reply_to"] = {"mid": reply_to}
    return {
        "object": obj,
        "entry": [
            {
                "id": account_id,
                "time": timestamp_ms + 120,
                "messaging": [
                    {
                        "sender": {"id": user_id},
                        "recipient": {"id": account_id},
                        "timestamp": timestamp_ms,
                        "message": message,
                    }
                ],
            }
        ],
    }


def whatsapp_payload(
    phone_number_id: str,
    wa_id: str,
    text: str,
    *,
    name: str = "محمد",
    wamid: str | None = None,
    timestamp: int | None = None,
    waba_id: str = WABA_ID,
    display_phone: str = DISPLAY_PHONE,
) -> dict[str, Any]:
    """A WhatsApp Cloud API text message webhook."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": display_phone, "phone_number_id": phone_number_id},
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": wamid or f"wamid.HBgM{wa_id}FQIAEhgU{secrets.token_hex(10).upper()}",
                                    "timestamp": str(timestamp or int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
