"""A local fake of the portal's reply callback: verifies our signature and deduplicates retries.

It behaves as the portal's backend is specified to: reject an unsigned or wrongly signed callback
with 401, treat a repeated ``Idempotency-Key`` as the same delivery (200, no second record), and
answer with scripted failures (429 with Retry-After, 500, 400) when asked to.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections import deque
from typing import Any

from aiohttp import web

from fakes.server import FakeServer


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakePortal(FakeServer):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret
        self.deliveries: list[dict[str, Any]] = []
        self.attempts = 0
        self.rejected_signatures = 0
        self._seen: dict[str, str] = {}
        self._failures: deque[tuple[int, dict[str, str]]] = deque()
        self._ids = itertools.count(1)

    @property
    def callback_url(self) -> str:
        return f"{self.url}/callback"

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        for _ in range(count):
            self._failures.append((status, headers))

    def texts_to(self, user_id: str) -> list[str]:
        return [d["text"] for d in self.deliveries if d["user_id"] == user_id]

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/callback", self._callback)

    async def _callback(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.read()
        given = request.headers.get("X-Tawasul-Signature", "")
        if not hmac.compare_digest(given, sign(self.secret, body)):
            self.rejected_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        if self._failures:
            status, headers = self._failures.popleft()
            return web.json_response({"error": "scripted failure"}, status=status, headers=headers)
        try:
            data = json.loads(body)
        except ValueError:
            return web.json_response({"error": "malformed JSON"}, status=400)
        for key in ("delivery_id", "user_id", "text"):
            if not data.get(key):
                return web.json_response({"error": f"{key} is required"}, status=400)
        key = request.headers.get("Idempotency-Key", data["delivery_id"])
        if key in self._seen:  # a retry of something we already have
            return web.json_response({"message_id": self._seen[key], "duplicate": True})
        message_id = f"pm-{next(self._ids)}"
        self._seen[key] = message_id
        self.deliveries.append({**data, "message_id": message_id, "received_at": time.time()})
        return web.json_response({"message_id": message_id})


def portal_message(
    event_id: str,
    user_id: str,
    text: str,
    *,
    name: str = "سارة",
    language: str = "ar",
    phone: str | None = None,
    sent_at: str | None = None,
) -> dict[str, Any]:
    """A portal/mobile-app message in the documented shape."""
    from datetime import UTC, datetime

    user: dict[str, Any] = {"id": user_id, "name": name, "language": language}
    if phone:
        user["phone"] = phone
    return {
        "event_id": event_id,
        "sent_at": sent_at or datetime.now(UTC).isoformat(),
        "user": user,
        "text": text,
    }
