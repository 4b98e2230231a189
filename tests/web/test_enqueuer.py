"""The enqueuer: ids batch on the event loop, go out when the batch fills or the linger ends, and a
stop publishes what is left (nothing stored is left unpublished by a clean shutdown)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from hub.web.enqueuer import Enqueuer


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.got = threading.Event()

    def __call__(self, ids: Sequence[int]) -> bool:
        self.calls.append(list(ids))
        self.got.set()
        return True


async def _wait(event: threading.Event, timeout: float) -> bool:
    return await asyncio.to_thread(event.wait, timeout)


@asynccontextmanager
async def running(published: Recorder, *, max_batch: int, linger_s: float) -> AsyncIterator[Enqueuer]:
    enqueuer = Enqueuer(published, max_batch=max_batch, linger_s=linger_s)
    enqueuer.start()
    try:
        yield enqueuer
    finally:
        enqueuer.flush()
        await asyncio.to_thread(enqueuer.stop)


async def test_a_full_batch_goes_out_without_waiting_for_the_linger() -> None:
    published = Recorder()
    async with running(published, max_batch=3, linger_s=30.0) as enqueuer:
        enqueuer.submit([1, 2])
        enqueuer.submit([3])
        assert await _wait(published.got, 5.0)
        assert published.calls == [[1, 2, 3]]


async def test_a_lone_message_goes_out_when_the_linger_ends() -> None:
    published = Recorder()
    async with running(published, max_batch=20, linger_s=0.05) as enqueuer:
        enqueuer.submit([7])
        enqueuer.submit([])  # a request whose events were all duplicates adds nothing
        assert await _wait(published.got, 5.0)
        assert published.calls == [[7]]


async def test_stopping_publishes_what_was_still_lingering() -> None:
    published = Recorder()
    async with running(published, max_batch=20, linger_s=30.0) as enqueuer:
        enqueuer.submit([11, 12])
        assert published.calls == []
    assert published.calls == [[11, 12]]
