"""The real aiohttp app and a real database: signed activities are stored once, forgeries never."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from fakes.botframework import FakeBotFramework
from hub.web.app import create_app
from tests.connectors.skype.support import APP_ID, APP_PASSWORD, fixture
from tests.helpers import make_settings
from ticket_core.db import Database
from ticket_core.models import InboxEvent, InboxStatus


class Published(list[int]):
    def __call__(self, ids: Sequence[int]) -> bool:
        self.extend(ids)
        return True


@pytest.fixture
async def client(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path, fake: FakeBotFramework
) -> AsyncIterator[TestClient]:
    settings = make_settings(
        tmp_path,
        db.url,
        secrets_,
        nlu_model_path,
        botframework_app_id=APP_ID,
        botframework_app_password=APP_PASSWORD,
        botframework_openid_url=fake.openid_url,
        botframework_token_url=fake.token_url,
    )
    async with TestClient(TestServer(create_app(settings, db=db, publish=Published()))) as test_client:
        yield test_client


async def post(client: TestClient, body: bytes, headers: dict[str, str], path: str = "/webhooks/skype") -> Any:
    resp = await client.post(path, data=body, headers=headers)
    return resp.status, await resp.json()


def inbox(db: Database) -> list[InboxEvent]:
    with db.read_session() as session:
        return list(session.execute(select(InboxEvent).order_by(InboxEvent.id)).scalars())


def count(db: Database) -> int:
    with db.read_session() as session:
        return session.execute(select(func.count()).select_from(InboxEvent)).scalar_one()


async def test_signed_activities_from_each_channel_are_stored_under_their_channel(
    client: TestClient, db: Database, fake: FakeBotFramework
) -> None:
    for name in ("message__msteams_text_arabic", "message__skype_text_arabic", "message__webchat_text_arabic"):
        status, answer = await post(client, *fake.signed(fixture(name)))
        assert (status, answer) == (200, {"ok": True, "stored": 1, "duplicates": 0})
    rows = inbox(db)
    assert [r.channel for r in rows] == ["msteams", "skype", "webchat"]
    assert all(r.status is InboxStatus.PENDING and r.account_ref == APP_ID for r in rows)
    assert "مكافأة التفوق" in rows[0].raw and json.loads(rows[0].raw)["channelId"] == "msteams"


@pytest.mark.parametrize("path", ["/webhooks/msteams", "/webhooks/webchat"])
async def test_the_alias_urls_reach_the_same_connector(
    client: TestClient, db: Database, fake: FakeBotFramework, path: str
) -> None:
    status, _ = await post(client, *fake.signed(fixture("message__msteams_text_arabic")), path=path)
    assert status == 200 and inbox(db)[0].channel == "msteams"


async def test_duplicate_delivery_is_stored_once(client: TestClient, db: Database, fake: FakeBotFramework) -> None:
    body, headers = fake.signed(fixture("message__webchat_text_arabic"))
    answers = [await post(client, body, headers) for _ in range(3)]
    assert [a[1]["duplicates"] for a in answers] == [0, 1, 1]
    assert count(db) == 1


async def test_the_same_activity_under_a_fresh_token_is_still_a_duplicate(
    client: TestClient, db: Database, fake: FakeBotFramework
) -> None:
    activity = fixture("message__msteams_text_arabic")
    await post(client, *fake.signed(activity))
    status, answer = await post(client, *fake.signed(activity))
    assert (status, answer["duplicates"]) == (200, 1) and count(db) == 1


@pytest.mark.parametrize(
    "spoil",
    [
        {"issuer": "https://sts.windows.net/attacker/"},
        {"audience": "another-bot"},
        {"expires_in": -3600},  # a captured request replayed after its token expired
        {"service_url": "https://attacker.example/"},
        {"kid": "unpublished"},
        {"algorithm": "none"},
    ],
)
async def test_forged_or_stale_tokens_are_403_and_nothing_is_stored(
    client: TestClient, db: Database, fake: FakeBotFramework, spoil: dict[str, Any]
) -> None:
    status, answer = await post(client, *fake.signed(fixture("message__msteams_text_arabic"), **spoil))
    assert (status, answer["error"]) == (403, "signature_invalid")
    assert "check failed" in answer["message"]
    assert count(db) == 0


async def test_missing_token_is_401_and_nothing_is_stored(
    client: TestClient, db: Database, fake: FakeBotFramework
) -> None:
    body, _ = fake.signed(fixture("message__msteams_text_arabic"))
    status, answer = await post(client, body, {"Content-Type": "application/json"})
    assert (status, answer["error"]) == (401, "signature_missing") and count(db) == 0


async def test_a_verified_but_malformed_activity_is_400_with_the_reason(
    client: TestClient, db: Database, fake: FakeBotFramework
) -> None:
    activity = fixture("message__msteams_text_arabic")
    del activity["conversation"]
    status, answer = await post(client, *fake.signed(activity))
    assert (status, answer["error"]) == (400, "payload_invalid") and "conversation.id" in answer["message"]
    assert count(db) == 0


async def test_typing_and_membership_activities_are_kept_but_not_processed(
    client: TestClient, db: Database, fake: FakeBotFramework
) -> None:
    for name in ("typing__webchat", "conversation_update__members_added"):
        assert (await post(client, *fake.signed(fixture(name))))[0] == 200
    assert [r.status for r in inbox(db)] == [InboxStatus.IGNORED, InboxStatus.IGNORED]
