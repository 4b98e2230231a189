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

_STOP = -1


class Enqueuer:
    def __init__(self, publish: Callable[[Sequence[int]], bool], *, max_batch: int = 20, linger_s: float = 0.0) -> None:
        self.publish = publish
        self.max_batch = max_batch
        self.linger_s = linger_s
        self._queue: queue.Queue[int] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tawasul-enqueuer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None

    def submit(self, inbox_ids: Sequence[int]) -> None:
        for inbox_id in inbox_ids:
            self._queue.put(inbox_id)

    def _run(self) -> None:
        while True:
            ids = [self._queue.get()]
            deadline = time.monotonic() + self.linger_s
            while len(ids) < self.max_batch and ids[-1] != _STOP:
                wait = deadline - time.monotonic()
                try:
                    ids.append(self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in ids
            ids = [i for i in ids if i != _STOP]
            if ids:
                self.publish(ids)
            if stop:
                return
