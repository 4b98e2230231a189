"""The embedded broker: kombu's SQLAlchemy transport with a lean publish and fetch for SQLite.

kombu's transport runs every publish through the ORM: a query for the queue row, a unit-of-work
flush for the message and a commit. Under webhook load that was a third of the hub process's CPU
(profiled, docs/benchmarks.md), all of it under the GIL that the request handlers need. Here the
queue id is looked up once per queue name and a message is one prepared INSERT; a fetch is one
``UPDATE … RETURNING`` (SQLite ≥ 3.35), preceded by a read that takes no write lock, so idle
polling never contends with the publisher. Rows, columns and semantics are kombu's own (a fetched
message is hidden, not deleted; ``tawasul.broker_cleanup`` deletes hidden rows), so a broker file
written by either transport is read by the other. Any other database falls back to kombu's code.
"""

from __future__ import annotations

from datetime import datetime
from queue import Empty
from typing import Any

from kombu.transport import sqlalchemy as sqla
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads
from sqlalchemy import text
from sqlalchemy.engine import Engine


class Channel(sqla.Channel):
    """A channel that publishes and fetches with one statement each on SQLite."""

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._queue_ids: dict[str, int] = {}
        table = self.message_tablename
        self._insert = text(f"INSERT INTO {table} (queue_id, visible, payload, version) VALUES (:q, 1, :p, 1)")
        self._peek = text(f"SELECT 1 FROM {table} WHERE queue_id = :q AND visible = 1 LIMIT 1")
        # Same order as kombu's fetch (timestamp, then id); the timestamp is NULL until fetched.
        self._take = text(
            f"UPDATE {table} SET visible = 0, version = version + 1, timestamp = :now "
            f"WHERE id = (SELECT id FROM {table} WHERE queue_id = :q AND visible = 1 "
            "ORDER BY timestamp, id LIMIT 1) RETURNING payload"
        )

    def _engine(self) -> Engine:
        engine, _session = self._open()
        return engine

    def _lean(self) -> bool:
        return self._engine().dialect.name == "sqlite"

    def _queue_id(self, queue: str) -> int:
        queue_id = self._queue_ids.get(queue)
        if queue_id is None:
            queue_id = int(self._get_or_create(queue).id)
            self.session.commit()  # end the read transaction the lookup opened
            self._queue_ids[queue] = queue_id
        return queue_id

    # kombu's two base classes name the message parameter differently; this follows the nearer one.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        if not self._lean():
            return super()._put(queue, payload, **kwargs)
        queue_id = self._queue_id(queue)
        with self._engine().begin() as conn:
            conn.execute(self._insert, {"q": queue_id, "p": dumps(payload)})
        return None

    def _get(self, queue: str, timeout: Any = None) -> Any:
        if not self._lean():
            return super()._get(queue)
        queue_id = self._queue_id(queue)
        engine = self._engine()
        with engine.connect() as conn:  # a WAL read: no lock that would stall the publisher
            waiting = conn.execute(self._peek, {"q": queue_id}).first()
        if waiting is None:
            raise Empty()
        with engine.begin() as conn:
            row = conn.execute(self._take, {"q": queue_id, "now": datetime.now().isoformat(" ")}).first()
        if row is None:  # another consumer took it between the read and the update
            raise Empty()
        return loads(bytes_to_str(row[0]))

    def _purge(self, queue: str) -> int:
        self._queue_ids.pop(queue, None)
        return int(super()._purge(queue))


class Transport(sqla.Transport):
    """kombu's SQLAlchemy transport with :class:`Channel`."""

    Channel = Channel
