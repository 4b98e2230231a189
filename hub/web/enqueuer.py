"""Hands newly stored inbox ids to the broker off the request path, batching under load.

The webhook has already answered by the time this runs; if the broker is down the ids are simply
left for the sweeper (the inbox rows are the record, the broker message only a nudge).

Batches form on the event loop: the first id of a batch starts a linger timer of a few
milliseconds, and the batch goes to the publishing thread when the timer fires or the batch is full.
A burst then becomes tasks of many rows, so a worker pays its per-task costs (reading the rows,
claiming them, one commit, assignment, publishing the replies) once per batch instead of once per
message, and the publishing thread wakes once per batch instead of once per request (a thread
queue put, a notify and a GIL hand-off each, on the event loop's time; docs/benchmarks.md). A
message that arrives alone waits at most the linger time.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence


class Enqueuer:
    """Collects ids on the event loop; one thread publishes them (Celery's publish is blocking)."""

    def __init__(self, publish: Callable[[Sequence[int]], bool], *, max_batch: int = 20, linger_s: float = 0.0) -> None:
        self.publish = publish
        self.max_batch = max_batch
        self.linger_s = linger_s
        self._batch: list[int] = []
        self._timer: asyncio.TimerHandle | None = None
        self._queue: queue.Queue[list[int] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tawasul-enqueuer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Publish what was handed over, then end the thread (after a final ``flush()``)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def submit(self, inbox_ids: Sequence[int]) -> None:
        """Queue ids for publishing (call on the event loop; never blocks)."""
        if not inbox_ids:
            return
        self._batch.extend(inbox_ids)
        if len(self._batch) >= self.max_batch or self.linger_s <= 0:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.linger_s, self.flush)

    def flush(self) -> None:
        """Hand the collected ids to the publishing thread now (call on the event loop)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._batch:
            batch, self._batch = self._batch, []
            self._queue.put(batch)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            ids = list(first or [])
            stop = first is None
            while not stop:  # batches that queued up while the broker was slow go out together
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                stop = more is None
                ids.extend(more or [])
            if ids:
                self.publish(ids)  # in tasks of at most max_batch ids (the publisher chunks)
