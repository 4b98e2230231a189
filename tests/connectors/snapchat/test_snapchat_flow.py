"""Snapchat end to end: the relay webhook on the real app, and replies waiting for a person to send."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from connectors.base import EventKind, InboundEvent
from connectors.snapchat import SIGNATURE_HEADER, sign
from hub.runtime import Runtime
from hub.web.app import create_app
from tests.helpers import make_settings
from ticket_core.db import Database
from ticket_core.inbox import store_events
from ticket_core.models import InboxEvent, OutboxMessage, OutboxStatus

SECRET = "5d41402abc4b2a76b9719d911017c592a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c"


class Published(list[int]):
    def __call__(self, ids: Sequence[int]) -> bool:
        self.extend(ids)
        return True


@pytest.fixture
async def client(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path
) -> AsyncIterator[TestClient]:
    settings = make_settings(tmp_path, db.url, secrets_, nlu_model_path, snapchat_relay_secret=SECRET)
    published = Published()
    app = create_app(settings, db=db, publish=published, publish_delivery=Published())
    async with TestClient(TestServer(app)) as test_client:
        test_client.published = published  # type: ignore[attr-defined]
        yield test_client


def relay(event_id: str, text: str, **changes: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "timestamp": int(time.time()),
        "user": {"id": "snap:reem.alharbi22", "display_name": "ريم الحربي"},
        "text": text,
        "sent_at": "2026-11-25T08:58:41Z",
        **changes,
    }


async def post(client: TestClient, data: dict[str, Any], signature: str | None = "sign") -> tuple[int, dict]:  # type: ignore[type-arg]
    body = json.dumps(data, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = sign(SECRET, body) if signature == "sign" else signature
    resp = await client.post("/webhooks/snapchat", data=body, headers=headers)
    return resp.status, await resp.json()


def count(db: Database) -> int:
    with db.read_session() as session:
        return session.execute(select(func.count()).select_from(InboxEvent)).scalar_one()


async def test_signed_relay_message_is_stored_once_however_often_it_arrives(client: TestClient, db: Database) -> None:
    data = relay("snap-relay-9001", "أبي أعرف موعد التسجيل في رياض الأطفال")
    answers = [await post(client, data) for _ in range(3)]
    assert [a for a, _ in answers] == [200, 200, 200]
    assert [b["duplicates"] for _, b in answers] == [0, 1, 1]
    assert count(db) == 1


async def test_unsigned_forged_or_replayed_relays_are_refused_and_nothing_stored(
    client: TestClient, db: Database
) -> None:
    status, answer = await post(client, relay("snap-relay-9002", "مرحبا"), signature=None)
    assert (status, answer["error"]) == (401, "signature_missing")
    assert (await post(client, relay("snap-relay-9003", "مرحبا"), signature="sha256=" + "0" * 64))[0] == 403
    old = relay("snap-relay-9004", "مرحبا", timestamp=int(time.time()) - 3600)
    status, answer = await post(client, old)  # correctly signed, but captured an hour ago
    assert status == 403 and "replayed" in answer["message"]
    assert count(db) == 0


async def test_relay_has_no_get_handshake(client: TestClient) -> None:
    assert (await client.get("/webhooks/snapchat")).status == 405


async def test_reply_to_a_snapchat_message_waits_for_a_coordinator_and_is_never_sent(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path
) -> None:
    settings = make_settings(tmp_path, db.url, secrets_, nlu_model_path, snapchat_enabled=True)
    runtime = Runtime(settings, db=db)
    connector = runtime.registry.get("snapchat")
    calls: list[Any] = []

    async def must_not_send(message: Any) -> Any:  # the delivery service must not even try
        calls.append(message)
        raise AssertionError("a manual channel was sent by software")

    connector.send = must_not_send  # type: ignore[method-assign]
    event = InboundEvent(
        channel="snapchat",
        account_ref=connector.account_ref,
        event_id="manual-1",
        kind=EventKind.MESSAGE,
        thread_ref="snap:reem.alharbi22",
        user_ref="snap:reem.alharbi22",
        user_display="ريم الحربي",
        text="تأخر صرف مكافأة التفوق لبنتي من ثلاثة شهور",
    )
    with db.session() as session:
        [stored] = store_events(session, [event])
    assert stored.inbox_id is not None
    [outbox_id] = runtime.pipeline.process(stored.inbox_id).outbox_ids
    outcome = await runtime.delivery.deliver(outbox_id)
    with db.read_session() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        assert outcome.status == "manual" and row.status is OutboxStatus.MANUAL
        assert row.text and row.content["ticket_number"] in row.text  # ready to copy into Snapchat
    assert calls == []
    await runtime.registry.aclose()
