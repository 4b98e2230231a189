"""Sign-in for coordinators: ``/api/v1/login``, ``/logout``, ``/me``, and the request guard.

A session is presented either as ``Authorization: Bearer <token>`` (API clients) or as the
``tawasul_session`` cookie (HttpOnly, SameSite=Strict; the console). Cookie-authenticated requests
that change something must repeat the session's CSRF token in ``X-CSRF-Token``. Five wrong
passwords lock the account for 15 minutes; unknown users and wrong passwords get the same answer.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hub.web.api.common import PRINCIPAL, RUNTIME, error, read_json
from ticket_core import people
from ticket_core.people import LoginFailed, Principal

COOKIE = "tawasul_session"
_PUBLIC = {"/api/v1/login"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


async def login(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    username, password = str(body.get("username") or "").strip(), str(body.get("password") or "")
    if not username or not password:
        return error(400, "missing_credentials", "username and password are required")
    runtime = request.app[RUNTIME]

    def check() -> tuple[str, Any, Any]:
        with runtime.db.session() as session:
            try:
                user = people.authenticate(session, username, password)
            except LoginFailed as exc:
                failure = exc  # leave the block normally so the failure count is committed
            else:
                token, row = people.open_session(session, user)
                about = {"id": user.id, "username": user.username, "name_ar": user.name_ar}
                about |= {"name_en": user.name_en, "role": user.role.value}
                return token, row, about
        raise failure

    try:
        token, row, user = await asyncio.to_thread(check)
    except LoginFailed as exc:
        if exc.locked_until is not None:
            return error(
                423,
                "account_locked",
                "too many failed sign-ins; try again later",
                locked_until=exc.locked_until.isoformat(),
            )
        return error(401, "invalid_credentials", "wrong username or password")
    response = web.json_response(
        {"token": token, "csrf_token": row.csrf_token, "expires_at": row.expires_at.isoformat(), "user": user}
    )
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=runtime.settings.cookie_secure,
        path="/",
        max_age=int(people.SESSION_TTL.total_seconds()),
    )
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    principal: Principal = request[PRINCIPAL]
    runtime = request.app[RUNTIME]

    def close() -> None:
        with runtime.db.session() as session:
            people.close_session(session, principal.session_id)

    await asyncio.to_thread(close)
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.StreamResponse:
    principal: Principal = request[PRINCIPAL]
    runtime = request.app[RUNTIME]
    tree = await asyncio.to_thread(runtime.org)
    units = [
        {
            "key": tree.by_id[u].key,
            "name_ar": tree.by_id[u].name_ar,
            "name_en": tree.by_id[u].name_en,
            "head": u in principal.head_of,
        }
        for u in sorted(principal.unit_ids)
        if u in tree.by_id
    ]
    return web.json_response(
        {
            "id": principal.user_id,
            "username": principal.username,
            "name_ar": principal.name_ar,
            "name_en": principal.name_en,
            "role": principal.role.value,
            "units": units,
            "csrf_token": principal.csrf_token,
        }
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session for /api/v1 requests; enforce CSRF for cookie sessions."""
    if not request.path.startswith("/api/v1/") or request.path in _PUBLIC:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    from_cookie = False
    if not token:
        token = request.cookies.get(COOKIE)
        from_cookie = token is not None
    if not token:
        return error(401, "not_signed_in", "sign in first (POST /api/v1/login)")
    runtime = request.app[RUNTIME]

    def resolve() -> Principal | None:
        with runtime.db.read_session() as session:
            return people.resolve_session(session, token)

    principal = await asyncio.to_thread(resolve)
    if principal is None:
        return error(401, "session_expired", "the session is unknown or expired; sign in again")
    if from_cookie and request.method not in _SAFE_METHODS:
        given = request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(given, principal.csrf_token):
            return error(403, "csrf", "missing or wrong X-CSRF-Token")
    request[PRINCIPAL] = principal
    return await handler(request)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/login", login)
    app.router.add_post("/api/v1/logout", logout)
    app.router.add_get("/api/v1/me", me)
