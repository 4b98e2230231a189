"""The coordinator API under ``/api/v1`` (JSON): sign-in, tickets, actions, reports."""

from __future__ import annotations

from aiohttp import web

from hub.web.api import auth, channels, console_api, live, reports, tickets


def add_routes(app: web.Application) -> None:
    auth.add_routes(app)
    tickets.add_routes(app)
    reports.add_routes(app)
    channels.add_routes(app)
    console_api.add_routes(app)
    live.add_routes(app)
