"""Fixtures for the X tests: a fake X API on loopback, the hub's runtime aimed at it, and the web app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from connectors.base import EventKind, InboundEvent
from fakes.twitter import FakeX
from hub.config import Settings
from hub.delivery import DeliveryService
from hub.runtime import Runtime
from hub.web.app import create_app
from tests.helpers import make_settings
from ticket_core.db import Database
from ticket_core.inbox import store_events
from ticket_core.models import OutboxMessage, utcnow

US = "1500000000000000001"  # the service account
NOURA = "2222222222222222222"
FAHAD = "3333333333333333333"
CONSUMER_KEY = "xvz1evFS4wEEPTGEFPHBog"
CONSUMER_SECRET = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
ACCESS_TOKEN = f"{US}-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"
ACCESS_SECRET = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"


@pytest.fixture
async def fake_x() -> AsyncIterator[FakeX]:
    fake = await FakeX(
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        access_token=ACCESS_TOKEN,
        access_secret=ACCESS_SECRET,
        user_id=US,
    ).start()
    yield fake
    await fake.stop()


@pytest.fixture
def x_settings(tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path, fake_x: FakeX) -> Settings:
    return make_settings(
        tmp_path,
        db.url,
        secrets_,
        nlu_model_path,
        twitter_consumer_key=CONSUMER_KEY,
        twitter_consumer_secret=CONSUMER_SECRET,
        twitter_access_token=ACCESS_TOKEN,
        twitter_access_secret=ACCESS_SECRET,
        twitter_user_id=US,
        twitter_api_base=fake_x.url,
        outbox_max_attempts=3,
    )


class XHub:
    """The hub's runtime wired to the fake X, with helpers to make outbox rows the real way."""

    def __init__(self, runtime: Runtime, fake: FakeX) -> None:
        self.runtime = runtime
        self.x = fake
        self.db = runtime.db
        self._next = 0

    @property
    def delivery(self) -> DeliveryService:
        return self.runtime.delivery

    def reply_for(self, text: str, *, thread: str | None = None, user: str = NOURA) -> int:
        """Run a citizen's message through intake; return the id of the reply in the outbox."""
        self._next += 1
        # On X a mention's event id is the citizen's post id, which is what a public reply answers.
        mention = thread.removeprefix("mention:") if thread and thread.startswith("mention:") else None
        event = InboundEvent(
            channel="twitter",
            account_ref=US,
            event_id=mention or f"20807{self._next:014d}",
            kind=EventKind.MESSAGE,
            thread_ref=thread or "-".join(sorted((US, user), key=int)),
            user_ref=user,
            text=text,
        )
        with self.db.session() as session:
            [stored] = store_events(session, [event])
        assert stored.inbox_id is not None
        outcome = self.runtime.pipeline.process(stored.inbox_id)
        return outcome.outbox_ids[0]

    def row(self, outbox_id: int) -> OutboxMessage:
        with self.db.read_session() as session:
            row = session.get(OutboxMessage, outbox_id)
            assert row is not None
            return row

    def set_row(self, outbox_id: int, **values: Any) -> None:
        with self.db.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(**values))

    def make_due(self, outbox_id: int) -> None:
        self.set_row(outbox_id, next_attempt_at=utcnow())

    def unthrottled(self) -> None:
        """Lift the hub's own token bucket so a test can reach X's quota quickly."""
        self.delivery._rates["twitter"] = 1000.0
        self.delivery._buckets.clear()


@pytest.fixture
async def x_hub(x_settings: Settings, db: Database, fake_x: FakeX) -> AsyncIterator[XHub]:
    runtime = Runtime(x_settings, db=db)
    yield XHub(runtime, fake_x)
    await runtime.registry.aclose()


class Published(list[int]):
    def __call__(self, ids: Sequence[int]) -> bool:
        self.extend(ids)
        return True


@pytest.fixture
async def x_client(x_settings: Settings, db: Database) -> AsyncIterator[TestClient]:
    published = Published()
    app = create_app(x_settings, db=db, publish=published, publish_delivery=Published())
    async with TestClient(TestServer(app)) as client:
        client.published = published  # type: ignore[attr-defined]
        yield client
