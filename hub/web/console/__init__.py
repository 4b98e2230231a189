"""The coordinator and supervisor console served by the hub at ``/console/``.

Arabic first (``dir="rtl"``) with an English toggle, server-rendered with Jinja2, a small script and
stylesheet served from the hub (no CDN, no build step), live updates from ``/api/v1/events``.
Registered by ``hub.web.app.create_app`` with ``console.add_routes(app)``; see docs/console.md.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hub.web.console import pages

HERE = Path(__file__).resolve().parent


def add_routes(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        app_key=pages.JINJA,
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app.router.add_static("/console/static/", HERE / "static", name="console_static", append_version=True)
    pages.add_routes(app)
