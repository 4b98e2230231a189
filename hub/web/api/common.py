"""Shared pieces of the coordinator API: app keys, JSON errors, body parsing, database calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from hub.runtime import Runtime
from ticket_core.people import Principal

RUNTIME = web.AppKey("runtime", Runtime)
Publish = Callable[[Sequence[int]], bool]
PUBLISH_DELIVERY: web.AppKey[Publish] = web.AppKey("publish_delivery")
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)

T = TypeVar("T")


def error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; an empty body is an empty object. Raises 400 on anything else."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "bad_json", "message": "the body is not valid JSON"}),
            content_type="application/json",
        ) from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "bad_json", "message": "a JSON object is expected"}),
            content_type="application/json",
        )
    return data


async def in_session(request: web.Request, fn: Callable[[Session], T], *, write: bool = True) -> T:
    """Run ``fn`` in a database transaction on a worker thread."""
    runtime = request.app[RUNTIME]

    def work() -> T:
        opener = runtime.db.session if write else runtime.db.read_session
        with opener() as session:
            return fn(session)

    return await asyncio.to_thread(work)
