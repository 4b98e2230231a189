"""Base for the local fake platform servers: an aiohttp app on 127.0.0.1 with a free port.

Fakes run in the test (or demo, or benchmark) process; the hub under test reaches them over real
loopback HTTP, the same way it reaches the real platforms.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Self

from aiohttp import web


class FakeServer:
    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port: int = 0
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Self:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        # Port 0 asks the OS for a free port; the runner knows which one it got.
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- for synchronous callers (tests driving subprocesses, the demo) ---------------------------

    def start_in_thread(self) -> Self:
        """Run the fake on its own event loop in a daemon thread."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()

        threading.Thread(target=main, name=f"fake-{type(self).__name__}", daemon=True).start()
        ready.wait(10)
        self._thread_loop = loop
        return self

    def stop_thread(self) -> None:
        loop = self._thread_loop
        if loop is not None:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            self._thread_loop = None

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the fake's loop thread (to read its state safely)."""
        loop = self._thread_loop
        if loop is None:
            return fn(*args)

        async def wrapper() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(wrapper(), loop).result(10)
