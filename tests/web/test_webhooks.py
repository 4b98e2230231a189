"""The webhook route: verify on raw bytes, store, acknowledge — and refuse everything else clearly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from connectors.portal import sign
from fakes.portal import portal_message
from fakes.telegram import telegram_update
from hub.web.app import create_app
from tests.helpers import make_settings
from ticket_core.db import Database
from ticket_core.models import InboxEvent, InboxStatus

TELEGRAM_FIXTURES = Path(__file__).parent.parent / "connectors" / "telegram" / "fixtures"


class Published(list[int]):
    def __call__(self, ids: Sequence[int]) -> bool:
        self.extend(ids)
        return True


@pytest.fixture
async def client(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path
) -> AsyncIterator[TestClient]:
    settings = make_settings(tmp_path, db.url, secrets_, nlu_model_path, max_body_bytes=1024 * 1024)
    published = Published()
    app = create_app(settings, db=db, publish=published)
    async with TestClient(TestServer(app)) as test_client:
        test_client.published = published  # type: ignore[attr-defined]
        test_client.secrets = secrets_  # type: ignore[attr-defined]
        yield test_client


async def eventually(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    """The enqueuer publishes off the request path, so the test waits for it (bounded)."""
    import asyncio

    for _ in range(int(timeout / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


def count_inbox(db: Database) -> int:
    with db.read_session() as session:
        return session.execute(select(func.count()).select_from(InboxEvent)).scalar_one()


async def post_telegram(client: TestClient, body: bytes, secret: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    headers["X-Telegram-Bot-Api-Secret-Token"] = secret if secret is not None else client.secrets["telegram_secret"]  # type: ignore[attr-defined]
    resp = await client.post("/webhooks/telegram", data=body, headers=headers)
    return resp.status, await resp.json()


async def post_portal(client: TestClient, body: bytes, signature: str | None = None) -> tuple[int, dict]:
    secret = client.secrets["portal_secret"]  # type: ignore[attr-defined]
    headers = {"Content-Type": "application/json", "X-Tawasul-Signature": signature or sign(secret, body)}
    resp = await client.post("/webhooks/portal", data=body, headers=headers)
    return resp.status, await resp.json()


async def test_signed_telegram_update_is_stored_then_acknowledged(client: TestClient, db: Database) -> None:
    body = (TELEGRAM_FIXTURES / "message__text_arabic.json").read_bytes()
    status, answer = await post_telegram(client, body)
    assert (status, answer) == (200, {"ok": True, "stored": 1, "duplicates": 0})
    with db.read_session() as session:
        row = session.execute(select(InboxEvent)).scalar_one()
    assert (row.channel, row.event_id, row.status) == ("telegram", "700000001", InboxStatus.PENDING)
    assert "مكافأة" in row.raw and json.loads(row.raw)["update_id"] == 700000001
    assert await eventually(lambda: client.published == [row.id])  # type: ignore[attr-defined]


async def test_same_update_three_times_is_stored_once(client: TestClient, db: Database) -> None:
    body = json.dumps(telegram_update(900001, 42, "وش شروط النقل الخارجي؟"), ensure_ascii=False).encode()
    answers = [await post_telegram(client, body) for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 200]
    assert [a[1]["duplicates"] for a in answers] == [0, 1, 1]
    assert count_inbox(db) == 1
    assert await eventually(lambda: len(client.published) == 1)  # type: ignore[attr-defined]
    await asyncio.sleep(0.1)
    assert len(client.published) == 1  # type: ignore[attr-defined]


async def test_bad_or_missing_secret_is_refused_and_nothing_stored(client: TestClient, db: Database) -> None:
    body = json.dumps(telegram_update(900002, 42, "مرحبا")).encode()
    assert (await post_telegram(client, body, secret="wrong"))[0] == 403
    resp = await client.post("/webhooks/telegram", data=body)
    assert resp.status == 401 and (await resp.json())["error"] == "signature_missing"
    assert count_inbox(db) == 0


async def test_unknown_channel_is_404_with_a_json_error(client: TestClient) -> None:
    resp = await client.post("/webhooks/myspace", data=b"{}")
    assert resp.status == 404
    assert (await resp.json())["error"] == "unknown_channel"


async def test_known_but_unconfigured_channel_says_so(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path
) -> None:
    settings = make_settings(tmp_path, db.url, secrets_, nlu_model_path, portal_secret=None)
    async with TestClient(TestServer(create_app(settings, db=db, publish=Published()))) as c:
        resp = await c.post("/webhooks/portal", data=b"{}")
        assert resp.status == 404 and (await resp.json())["error"] == "channel_disabled"


async def test_oversized_body_is_413_and_nothing_stored(client: TestClient, db: Database) -> None:
    text = "ش" * (600 * 1024)  # 1.2 MB of Arabic
    body = json.dumps(portal_message("big-1", "u-1", text), ensure_ascii=False).encode()
    status, answer = await post_portal(client, body)
    assert status == 413 and answer["error"] == "body_too_large"
    assert count_inbox(db) == 0


async def test_malformed_body_with_valid_signature_is_400_json(client: TestClient, db: Database) -> None:
    status, answer = await post_portal(client, b'{"event_id": "x", "user": ')
    assert status == 400 and answer["error"] == "payload_invalid" and "malformed JSON" in answer["message"]
    status, answer = await post_portal(client, "نص ليس JSON".encode("cp1256"))
    assert status == 400 and "UTF-8" in answer["message"]
    assert count_inbox(db) == 0


async def test_portal_message_with_bad_signature_is_403(client: TestClient, db: Database) -> None:
    body = json.dumps(portal_message("p-1", "u-1", "أبي أعرف موعد الاختبارات"), ensure_ascii=False).encode()
    status, _ = await post_portal(client, body, signature="sha256=" + "0" * 64)
    assert status == 403
    assert count_inbox(db) == 0


async def test_unsupported_update_is_stored_as_ignored_and_not_enqueued(client: TestClient, db: Database) -> None:
    body = (TELEGRAM_FIXTURES / "my_chat_member__blocked.json").read_bytes()
    status, answer = await post_telegram(client, body)
    assert status == 200 and answer["stored"] == 1
    with db.read_session() as session:
        row = session.execute(select(InboxEvent)).scalar_one()
    assert row.status is InboxStatus.IGNORED and "my_chat_member" in (row.last_error or "")
    assert client.published == []  # type: ignore[attr-defined]


async def test_get_on_a_channel_without_handshake_is_405(client: TestClient) -> None:
    resp = await client.get("/webhooks/telegram")
    assert resp.status == 405


async def test_health_and_readiness(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["checks"] == {"database": "ok", "broker": "ok"}
    assert body["channels"] == ["portal", "telegram"]


async def test_readiness_fails_when_the_database_is_not_migrated(
    tmp_path: Path, secrets_: dict[str, str], nlu_model_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    settings = make_settings(tmp_path, url, secrets_, nlu_model_path)
    async with TestClient(TestServer(create_app(settings, publish=Published()))) as c:
        resp = await c.get("/readyz")
        body = await resp.json()
        assert resp.status == 503 and body["checks"]["database"].startswith("not migrated")


async def test_storage_failure_is_503_so_the_platform_retries(client: TestClient, db: Database) -> None:
    # The database itself refuses the insert (as with a full disk), whichever writer is in use.
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON inbox BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        else:
            conn.exec_driver_sql("ALTER TABLE inbox ADD CONSTRAINT refuse CHECK (false) NOT VALID")
    status, answer = await post_telegram(client, json.dumps(telegram_update(900009, 1, "مرحبا")).encode())
    assert status == 503 and answer["error"] == "storage_unavailable"
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM inbox").scalar() == 0


async def test_a_dropped_database_connection_is_replaced_without_failing_a_webhook(
    client: TestClient, db: Database
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no server connection to lose")
    status, _ = await post_telegram(client, json.dumps(telegram_update(900010, 1, "مرحبا")).encode())
    assert status == 200
    # The server ends every other session of this database (as a restart or an idle timeout does).
    with db.engine.connect() as conn:
        ended = conn.exec_driver_sql(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).scalar()
    assert ended and ended >= 1
    status, answer = await post_telegram(client, json.dumps(telegram_update(900011, 1, "هل وصلت؟")).encode())
    assert status == 200 and answer["stored"] == 1
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM inbox").scalar() == 2
