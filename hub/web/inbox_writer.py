"""Group commit for the webhook path: many requests' events stored in one transaction.

Each request waits for the commit that contains its events, so an acknowledgement always means
"durably stored". Batching turns one fsync per request into one per batch, which is what lets the
webhook keep up under load on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from connectors.base import InboundEvent
from ticket_core.db import Database
from ticket_core.inbox import Stored, store_event_groups

log = logging.getLogger("tawasul.web.inbox")


@dataclass
class _Job:
    events: Sequence[InboundEvent]
    future: asyncio.Future[list[Stored]]
    loop: asyncio.AbstractEventLoop


_STOP = object()


class InboxWriter:
    """Writer threads that commit queued events in batches.

    On PostgreSQL two writers take turns: while one waits for its commit to reach the disk, the
    other already inserts the next batch (PostgreSQL flushes concurrent commits together), which
    is where a single writer spent most of each cycle. SQLite has one writer at a time by nature.
    """

    def __init__(self, db: Database, *, max_batch: int = 256, writers: int | None = None) -> None:
        self.db = db
        self.max_batch = max_batch
        self.writers = writers or (2 if db.engine.dialect.name == "postgresql" else 1)
        self._queue: queue.Queue[object] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.writers):
            thread = threading.Thread(target=self._run, name=f"tawasul-inbox-writer-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    async def store(self, events: Sequence[InboundEvent]) -> list[Stored]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Stored]] = loop.create_future()
        self._queue.put(_Job(events, future, loop))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._commit([job for job in batch if isinstance(job, _Job)])
            if stop:
                return

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            with self.db.session() as session:
                results = store_event_groups(session, [job.events for job in jobs])
        except Exception:
            if len(jobs) == 1:
                log.exception("inbox write failed")
                _resolve(jobs[0], error=True)
                return
            # One bad request must not fail its neighbours: retry each on its own.
            for job in jobs:
                self._commit([job])
            return
        for job, result in zip(jobs, results, strict=True):
            _resolve(job, result=result)


def _resolve(job: _Job, *, result: list[Stored] | None = None, error: bool = False) -> None:
    def apply() -> None:
        if job.future.done():
            return
        if error:
            job.future.set_exception(RuntimeError("the inbox could not be written"))
        else:
            job.future.set_result(result or [])

    job.loop.call_soon_threadsafe(apply)
