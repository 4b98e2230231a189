"""Sends outbox rows on a worker process's event loop without holding the process.

A send waits on the network and on the channel's rate limit (a token bucket: at 50 sends/s a
batch of 20 replies waits ~0.4 s). Waiting inside the Celery task held a whole worker process
idle, so intake queued behind deliveries: on the drain benchmark, deliveries took ~40 % of the
workers' time while their CPU sat at ~25 %. The `deliver` task now hands its rows to this sender
and returns; the sends run on the process's background loop while the process takes the next task.

Nothing new can be lost by returning early: the outbox row is the record, claimed with a lease,
and the sweeper re-publishes rows whose lease ran out (as when a worker dies mid-send). A row
waiting on a slow channel's bucket renews its lease before it is sent, and is not sent if it was
taken over meanwhile (`DeliveryService._keep_lease`), so no reply goes out twice. The number of
rows in flight is bounded; beyond the bound the task waits, which is the back-pressure the
broker then sees.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from typing import Any

from hub.delivery import DeliveryOutcome

log = logging.getLogger("tawasul.delivery")

DeliverMany = Callable[[list[int]], Coroutine[Any, Any, list[DeliveryOutcome]]]


class BackgroundSender:
    """Runs `deliver_many` batches on `loop`; at most `limit` rows in flight per process."""

    def __init__(
        self,
        deliver_many: DeliverMany,
        loop: Callable[[], asyncio.AbstractEventLoop],
        *,
        on_retry: Callable[[int, float | None], object],
        limit: int = 200,
    ) -> None:
        self._deliver_many = deliver_many
        self._loop = loop
        self._on_retry = on_retry
        self.limit = limit
        self._in_flight = 0
        self._changed = threading.Condition()

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

    def submit(self, outbox_ids: Sequence[int], *, wait_s: float = 60.0) -> int:
        """Start sending `outbox_ids`; returns how many rows are now in flight in this process.

        Waits (up to `wait_s`) while the process already has `limit` rows in flight. If it is
        still full after that, the rows are left to the sweeper rather than held here.
        """
        ids = list(outbox_ids)
        if not ids:
            return self.in_flight
        with self._changed:
            if not self._changed.wait_for(lambda: self._in_flight < self.limit, timeout=wait_s):
                log.warning("sender full (%d rows in flight): %d rows left for the sweeper", self._in_flight, len(ids))
                return self._in_flight
            self._in_flight += len(ids)
            now = self._in_flight
        future = asyncio.run_coroutine_threadsafe(self._deliver_many(ids), self._loop())
        future.add_done_callback(lambda f: self._finished(ids, f))
        return now

    def drain(self, timeout: float) -> bool:
        """Wait until nothing is in flight (worker shutdown, tests); False if time ran out."""
        with self._changed:
            return self._changed.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def _finished(self, ids: list[int], future: Future[list[DeliveryOutcome]]) -> None:
        try:
            outcomes = future.result()
        except Exception:  # rows stay claimed until their lease ends; then the sweeper retries them
            log.exception("delivery batch failed outbox_ids=%s", ids)
            outcomes = []
        try:
            for outcome in outcomes:
                if outcome.status == "retry":
                    self._on_retry(outcome.outbox_id, outcome.retry_in_s)
        except Exception:  # a broker outage: the rows are due in the outbox, the sweeper has them
            log.exception("could not schedule delivery retries outbox_ids=%s", ids)
        finally:
            with self._changed:
                self._in_flight -= len(ids)
                self._changed.notify_all()
