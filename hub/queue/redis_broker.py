"""The Redis broker: kombu's Redis transport, keeping one client per channel for publishing.

kombu builds a new ``redis.Redis`` client for every message it publishes (the client shares the
connection pool, but its constructor fills a table of ~170 response callbacks each time): a fifth
of the CPU of a Celery publish, profiled in the webhook process (docs/benchmarks.md). A client
is safe to share (it takes a pooled connection per command), so one per channel does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    """kombu's Redis channel with its publishing client made once."""

    _publisher: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        if self._publisher is None:
            self._publisher = self._create_client()
        yield self._publisher

    def close(self) -> None:
        self._publisher = None
        super().close()


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel
