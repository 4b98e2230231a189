"""The deliver task's hand-off: sends run on the process's loop, bounded, retries scheduled after."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from hub.delivery import DeliveryOutcome
from hub.queue.sender import BackgroundSender


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


class Platform:
    """A stand-in for DeliveryService.deliver_many: waits until released, records what it sent."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sent: list[int] = []
        self.retry: set[int] = set()
        self.fail = False

    async def deliver_many(self, outbox_ids: list[int]) -> list[DeliveryOutcome]:
        while not self.release.is_set():
            await asyncio.sleep(0.005)
        if self.fail:
            raise ConnectionError("database went away")
        self.sent += outbox_ids
        return [
            DeliveryOutcome(i, "retry", retry_in_s=4.0) if i in self.retry else DeliveryOutcome(i, "sent")
            for i in outbox_ids
        ]


def test_submit_returns_before_the_sends_finish_and_drain_waits_for_them(loop: asyncio.AbstractEventLoop) -> None:
    platform = Platform()
    sender = BackgroundSender(platform.deliver_many, lambda: loop, on_retry=lambda *_: None)
    assert sender.submit([1, 2, 3]) == 3  # returned while the platform still holds the sends
    assert platform.sent == [] and sender.in_flight == 3
    assert sender.drain(timeout=0.05) is False
    platform.release.set()
    assert sender.drain(timeout=5) is True
    assert platform.sent == [1, 2, 3] and sender.in_flight == 0


def test_retries_are_scheduled_with_their_backoff_when_the_attempt_ends(loop: asyncio.AbstractEventLoop) -> None:
    platform = Platform()
    platform.retry = {2}
    scheduled: list[tuple[int, float | None]] = []
    sender = BackgroundSender(platform.deliver_many, lambda: loop, on_retry=lambda i, d: scheduled.append((i, d)))
    platform.release.set()
    sender.submit([1, 2])
    assert sender.drain(timeout=5)
    assert scheduled == [(2, 4.0)]


def test_a_full_sender_makes_the_task_wait_then_leaves_rows_to_the_sweeper(loop: asyncio.AbstractEventLoop) -> None:
    platform = Platform()
    sender = BackgroundSender(platform.deliver_many, lambda: loop, on_retry=lambda *_: None, limit=2)
    sender.submit([1, 2])
    started = time.monotonic()
    assert sender.submit([3], wait_s=0.2) == 2  # waited, then gave up: row 3 was not taken
    assert time.monotonic() - started >= 0.2
    # Room frees up while a task waits: it goes ahead.
    threading.Timer(0.1, platform.release.set).start()
    sender.submit([4], wait_s=5)
    assert sender.drain(timeout=5)
    assert sorted(platform.sent) == [1, 2, 4]


def test_a_failed_batch_frees_its_room_and_schedules_nothing(loop: asyncio.AbstractEventLoop) -> None:
    platform = Platform()
    platform.fail = True
    scheduled: list[tuple[int, float | None]] = []
    sender = BackgroundSender(platform.deliver_many, lambda: loop, on_retry=lambda i, d: scheduled.append((i, d)))
    platform.release.set()
    sender.submit([7, 8])
    assert sender.drain(timeout=5)  # the rows stay claimed in the outbox until their lease ends
    assert scheduled == [] and sender.in_flight == 0
