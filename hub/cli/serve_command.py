"""`tawasul serve`: the web app, plus (in embedded mode) a supervised worker with its scheduler."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import click
from aiohttp import web

from hub.cli.common import fail, settings_or_exit
from hub.config import Settings
from hub.web.app import REGISTRY, create_app, run
from ticket_core.db import Database
from ticket_core.migrate import pending_revisions

log = logging.getLogger("tawasul.serve")


@click.command()
@click.option("--host", help="listen address (default TAWASUL_HOST)")
@click.option("--port", type=int, help="listen port (default TAWASUL_PORT)")
@click.option(
    "--worker/--no-worker", "with_worker", default=None, help="run an embedded worker (default TAWASUL_EMBEDDED_WORKER)"
)
def serve(host: str | None, port: int | None, with_worker: bool | None) -> None:
    """Start the hub: webhooks, health checks and, in embedded mode, the queue worker."""
    settings = settings_or_exit()
    db = Database(settings.database_url)
    try:
        if pending_revisions(db.engine):
            fail("the database is not migrated: run `tawasul migrate` (or `make run`)")
    except Exception as exc:
        fail(f"cannot reach the database {db.engine.url.render_as_string(hide_password=True)}: {exc}")
    app = create_app(settings, db=db)
    if settings.embedded_worker if with_worker is None else with_worker:
        app.cleanup_ctx.append(_supervised_worker(settings))
    host = host or settings.host
    port = port if port is not None else settings.port
    click.echo(
        f"Tawasul Hub listening on http://{host}:{port} (database {db.engine.dialect.name}, broker {settings.broker_url.split(':')[0]})"
    )
    if not app[REGISTRY].names:
        click.echo(
            "No channel is enabled yet: set TAWASUL_TELEGRAM_SECRET_TOKEN/TAWASUL_TELEGRAM_BOT_TOKEN or "
            "TAWASUL_PORTAL_SECRET (see .env.example), or run `tawasul demo` to see the whole flow with fake platforms."
        )
    run(app, host, port)


def _die_with_parent() -> None:
    """In the child: ask Linux to send SIGTERM when the parent exits (no-op elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _supervised_worker(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """Run `tawasul worker --beat` as a child for the app's lifetime, restarting it if it dies."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        state: dict[str, object] = {"proc": None, "stopping": False}

        def spawn() -> subprocess.Popen[bytes]:
            argv = [sys.executable, "-m", "hub.cli", "worker", "--beat"]
            # Same process group as serve (Ctrl-C and a group kill reach both), and the worker is
            # told to stop if serve itself dies without cleaning up.
            return subprocess.Popen(argv, env=os.environ.copy(), preexec_fn=_die_with_parent)

        async def watch() -> None:
            while not state["stopping"]:
                proc = state["proc"]
                assert isinstance(proc, subprocess.Popen)
                code = await asyncio.to_thread(proc.wait)
                if state["stopping"]:
                    return
                log.error("embedded worker exited with %s; restarting in 2 s", code)
                await asyncio.sleep(2)
                state["proc"] = spawn()

        state["proc"] = spawn()
        watcher = asyncio.create_task(watch())
        try:
            yield
        finally:
            state["stopping"] = True
            proc = state["proc"]
            assert isinstance(proc, subprocess.Popen)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # warm shutdown: running tasks finish
                try:
                    await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout=20)
                except TimeoutError:
                    proc.kill()
            watcher.cancel()

    return context
