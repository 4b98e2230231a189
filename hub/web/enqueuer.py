"""Hands newly stored inbox ids to the broker off the request path, batching under load.

The webhook has already answered by the time this runs; if the broker is down the ids are simply
left for the sweeper (the inbox rows are the record, the broker message only a nudge).

After the first id of a batch the enqueuer lingers a few milliseconds for more (up to the batch
size): a burst then becomes tasks of many rows, and a worker pays its per-task costs (reading the
rows, claiming them, one commit, assignment, publishing the replies) once per batch instead of
once per message. A message that arrives alone waits at most the linger time.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence


class Enqueuer:
    def __init__(self, publish: Callable[[Sequence[int]], bool], *, max_batch: int = 20, linger_s: float = 0.0) -> None:
        self.publish = publish
        self.max_batch = max_batch
        self.linger_s = linger_s
        # One item per request (its list of ids): a put per id cost the event loop a lock and a
        # notify each (measured under load).
        self._queue: queue.Queue[list[int] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tawasul-enqueuer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def submit(self, inbox_ids: Sequence[int]) -> None:
        if inbox_ids:
            self._queue.put(list(inbox_ids))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            ids = list(first or [])
            stop = first is None
            deadline = time.monotonic() + self.linger_s
            while len(ids) < self.max_batch and not stop:
                wait = deadline - time.monotonic()
                try:
                    more = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    ids.extend(more)
            if ids:
                self.publish(ids)  # in tasks of at most max_batch ids (the publisher chunks)
            if stop:
                return
