"""A local fake of the Telegram Bot API that enforces the parts of the protocol the hub relies on.

Routes ``/bot<token>/<method>`` (the shape python-telegram-bot calls when pointed at it with
``base_url``). It checks the token, parses form, JSON or multipart bodies like Telegram does, enforces
``sendMessage``'s rules (chat known, text 1-4096 characters, reply_markup valid JSON), answers in
Telegram's envelope (``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description"}``)
with 429 ``parameters.retry_after`` when the global rate is exceeded, and records what was sent.
Failures can be scripted (``fail_next``) and users can block the bot (``block``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fakes.server import FakeServer

BOT_ID = 7000000001


@dataclass
class SentMessage:
    chat_id: int
    text: str
    message_id: int
    reply_markup: dict[str, Any] | None = None
    reply_to: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class FakeTelegram(FakeServer):
    def __init__(self, token: str, *, rate_per_s: float = 30.0) -> None:
        super().__init__()
        self.token = token
        self.rate_per_s = rate_per_s
        self.sent: list[SentMessage] = []
        self.calls: list[str] = []
        self.known_chats: set[int] = set()
        self.blocked: set[int] = set()
        self.accept_any_chat = True
        self._failures: deque[tuple[int, dict[str, Any]]] = deque()
        self._ids = itertools.count(1000)
        self._window: deque[float] = deque()

    # --- scripting ----------------------------------------------------------------------------

    def fail_next(
        self, count: int, *, status: int = 500, retry_after: int | None = None, description: str = ""
    ) -> None:
        """The next ``count`` API calls answer with this error instead of working."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": status,
            "description": description or _DESCRIPTIONS.get(status, "Error"),
        }
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        for _ in range(count):
            self._failures.append((status, body))

    def block(self, chat_id: int) -> None:
        self.blocked.add(chat_id)

    def texts_to(self, chat_id: int) -> list[str]:
        return [m.text for m in self.sent if m.chat_id == chat_id]

    # --- server -------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        self.calls.append(method)
        if token != self.token:
            return _error(401, "Unauthorized")
        if self._failures:
            status, body = self._failures.popleft()
            return web.json_response(body, status=status)
        if not self._allow():
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                },
                status=429,
            )
        params = await _params(request)
        if params is None:
            return _error(400, "Bad Request: can't parse request body")
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        return await handler(params)

    def _allow(self) -> bool:
        now = time.monotonic()
        while self._window and now - self._window[0] > 1.0:
            self._window.popleft()
        if len(self._window) >= self.rate_per_s:
            return False
        self._window.append(now)
        return True

    async def _api_getme(self, _params: dict[str, Any]) -> web.Response:
        return _ok({"id": BOT_ID, "is_bot": True, "first_name": "Tawasul", "username": "tawasul_care_bot"})

    async def _api_answercallbackquery(self, params: dict[str, Any]) -> web.Response:
        if not params.get("callback_query_id"):
            return _error(400, "Bad Request: query id is empty")
        return _ok(True)

    async def _api_sendmessage(self, params: dict[str, Any]) -> web.Response:
        raw_chat = params.get("chat_id")
        try:
            chat_id = int(str(raw_chat))
        except (TypeError, ValueError):
            return _error(400, "Bad Request: chat not found")
        text = str(params.get("text") or "")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if not self.accept_any_chat and chat_id not in self.known_chats:
            return _error(400, "Bad Request: chat not found")
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                return _error(400, "Bad Request: can't parse reply keyboard markup JSON object")
        reply = params.get("reply_parameters")
        if isinstance(reply, str):
            reply = json.loads(reply)
        message_id = next(self._ids)
        self.sent.append(
            SentMessage(
                chat_id,
                text,
                message_id,
                markup,
                (reply or {}).get("message_id") if isinstance(reply, dict) else None,
                params,
            )
        )
        return _ok(
            {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Tawasul"},
                "text": text,
            }
        )


_DESCRIPTIONS = {
    400: "Bad Request",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)


async def _params(request: web.Request) -> dict[str, Any] | None:
    """Parameters the way Telegram accepts them: query string, form, multipart or JSON."""
    params: dict[str, Any] = dict(request.query)
    if request.body_exists:
        ctype = request.content_type
        if ctype == "application/json":
            try:
                data = await request.json()
            except ValueError:
                return None
            if not isinstance(data, dict):
                return None
            params.update(data)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        else:
            return None
    return params


def telegram_update(
    update_id: int,
    chat_id: int,
    text: str,
    *,
    first_name: str = "أحمد",
    message_id: int | None = None,
    date: int | None = None,
    language_code: str = "ar",
) -> dict[str, Any]:
    """A realistic private-chat text update, as Telegram sends it."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id or update_id % 100000,
            "date": date or int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": first_name},
            "from": {"id": chat_id, "is_bot": False, "first_name": first_name, "language_code": language_code},
            "text": text,
        },
    }
