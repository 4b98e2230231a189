"""The embedded broker's lean SQLite transport keeps kombu's behaviour and its storage format."""

from __future__ import annotations

from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue

from hub.config import Settings
from hub.queue.app import create_celery


def _queue(name: str) -> Queue:
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def _publish(url: str, transport: str | None, name: str, bodies: list[object]) -> None:
    with Connection(url, transport=transport) as conn, conn.Producer(serializer="json") as producer:
        for body in bodies:
            producer.publish(body, exchange=_queue(name).exchange, routing_key=name, declare=[_queue(name)])


def _drain(url: str, transport: str | None, name: str) -> list[object]:
    got: list[object] = []
    with Connection(url, transport=transport) as conn:
        queue = _queue(name)(conn.default_channel)
        queue.declare()
        while (message := queue.get(no_ack=True)) is not None:
            got.append(message.payload)
    return got


LEAN = "hub.queue.sqlite_broker:Transport"


def test_messages_come_out_in_order_and_each_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'broker.sqlite'}"
    _publish(url, LEAN, "tawasul.test", [{"ids": [i], "text": f"رسالة {i}"} for i in range(30)])
    assert _drain(url, LEAN, "tawasul.test") == [{"ids": [i], "text": f"رسالة {i}"} for i in range(30)]
    assert _drain(url, LEAN, "tawasul.test") == []  # fetched messages are gone for every consumer


def test_queues_are_kept_apart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'broker.sqlite'}"
    _publish(url, LEAN, "tawasul.a", ["a1", "a2"])
    _publish(url, LEAN, "tawasul.b", ["b1"])
    assert _drain(url, LEAN, "tawasul.b") == ["b1"]
    assert _drain(url, LEAN, "tawasul.a") == ["a1", "a2"]


@pytest.mark.parametrize(("writer", "reader"), [(LEAN, "sqla"), ("sqla", LEAN)])
def test_a_broker_file_is_read_by_either_transport(tmp_path: Path, writer: str, reader: str) -> None:
    # An upgrade (or a downgrade) keeps the messages already queued in var/broker.sqlite.
    url = f"sqlite:///{tmp_path / 'broker.sqlite'}"
    _publish(url, writer, "tawasul.mixed", [1, 2, 3])
    assert _drain(url, reader, "tawasul.mixed") == [1, 2, 3]


def test_the_embedded_celery_app_uses_the_lean_transport(tmp_path: Path) -> None:
    settings = Settings(broker_url=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}", var_dir=tmp_path)
    app = create_celery(settings)
    with app.connection_for_write() as conn:
        assert type(conn.transport).__module__ == "hub.queue.sqlite_broker"
        assert conn.transport_cls == LEAN
