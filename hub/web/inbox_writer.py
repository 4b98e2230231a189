"""Group commit for the webhook path: many requests' events stored in one transaction.

Each request waits for the commit that contains its events, so an acknowledgement always means
"durably stored". Batching turns one fsync per request into one per batch, which is what lets the
webhook keep up under load on SQLite and PostgreSQL alike.

Two writers share one small interface (``start``, ``store``, ``close``):

* PostgreSQL: ``AsyncInboxWriter`` inserts on the event loop itself, over psycopg's asyncio
  connection in autocommit mode — one round trip per batch (the INSERT is its own transaction),
  and no thread hand-offs. A writer thread used to spend most of each cycle waiting to get the
  GIL back from the busy event loop; measured, that wait, not the database, set the ack rate.
* SQLite: ``ThreadInboxWriter``, one thread (SQLite has no asyncio driver and one writer at a time).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import psycopg

from connectors.base import InboundEvent
from ticket_core.db import Database
from ticket_core.inbox import Stored, store_event_groups, store_event_groups_pg

log = logging.getLogger("tawasul.web.inbox")


class InboxWriter(Protocol):
    def start(self) -> None:
        """Begin accepting events (called on the running event loop)."""

    async def store(self, events: Sequence[InboundEvent]) -> list[Stored]:
        """Store events; returns once they are durably committed, raises if they could not be."""
        ...

    async def close(self) -> None:
        """Finish what was queued, then stop."""


def make_inbox_writer(db: Database, *, max_batch: int = 256) -> InboxWriter:
    """The writer that suits the database behind ``db``."""
    if db.is_sqlite:
        return ThreadInboxWriter(db, max_batch=max_batch)
    conninfo = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return AsyncInboxWriter(conninfo, max_batch=max_batch)


@dataclass
class _Job:
    events: Sequence[InboundEvent]
    future: asyncio.Future[list[Stored]]


def _resolve(job: _Job, *, result: list[Stored] | None = None, error: bool = False) -> None:
    if job.future.done():  # the request was cancelled (client went away); its events stay stored
        return
    if error:
        job.future.set_exception(RuntimeError("the inbox could not be written"))
    else:
        job.future.set_result(result or [])


class AsyncInboxWriter:
    """Batches on the event loop: while one INSERT is in flight, new requests queue for the next."""

    def __init__(self, conninfo: str, *, max_batch: int = 256, connect_timeout: int = 5) -> None:
        self.conninfo = conninfo
        self.max_batch = max_batch
        self.connect_timeout = connect_timeout
        self._pending: deque[_Job] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tawasul-inbox-writer")

    async def store(self, events: Sequence[InboundEvent]) -> list[Stored]:
        if self._closing or self._task is None:
            raise RuntimeError("the inbox writer is not running")
        future: asyncio.Future[list[Stored]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(events, future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task  # returns once the queue is empty
            self._task = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                jobs = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
                await self._commit(jobs)
            if self._closing:
                return

    async def _commit(self, jobs: list[_Job], *, fresh: bool = False) -> None:
        try:
            connection = await self._connect()
            results = await store_event_groups_pg(connection, [job.events for job in jobs])
        except Exception:
            lost = self._connection is None or self._connection.broken
            if lost:
                await self._drop_connection()
                if not fresh:  # the server closed an idle connection or restarted: once more
                    await self._commit(jobs, fresh=True)
                    return
            if lost or len(jobs) == 1:  # the database is unreachable, or this request is bad
                log.exception("inbox write failed")
                for job in jobs:
                    _resolve(job, error=True)
                return
            # One bad request must not fail its neighbours: retry each on its own.
            for job in jobs:
                await self._commit([job])
            return
        for job, result in zip(jobs, results, strict=True):
            _resolve(job, result=result)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, connect_timeout=self.connect_timeout
            )
        return self._connection

    async def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.close()
            except Exception:  # already broken: nothing to flush
                log.debug("closing a failed inbox connection", exc_info=True)
            self._connection = None


_STOP = object()


@dataclass
class _ThreadJob(_Job):
    loop: asyncio.AbstractEventLoop


class ThreadInboxWriter:
    """One writer thread that commits queued events in batches (SQLite)."""

    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tawasul-inbox-writer", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(self._thread.join, 10)
            self._thread = None

    async def store(self, events: Sequence[InboundEvent]) -> list[Stored]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Stored]] = loop.create_future()
        self._queue.put(_ThreadJob(events, future, loop))
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
            self._commit([job for job in batch if isinstance(job, _ThreadJob)])
            if stop:
                return

    def _commit(self, jobs: list[_ThreadJob]) -> None:
        try:
            with self.db.session() as session:
                results = store_event_groups(session, [job.events for job in jobs])
        except Exception:
            if len(jobs) == 1:
                log.exception("inbox write failed")
                jobs[0].loop.call_soon_threadsafe(partial(_resolve, jobs[0], error=True))
                return
            # One bad request must not fail its neighbours: retry each on its own.
            for job in jobs:
                self._commit([job])
            return
        for job, result in zip(jobs, results, strict=True):
            job.loop.call_soon_threadsafe(partial(_resolve, job, result=result))
