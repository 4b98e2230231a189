"""A hub wired to the fake Graph API, shared by the Messenger, Instagram and WhatsApp tests.

Citizens' messages are built by the fake (signed, Arabic escaped as Meta sends it), parsed by the
real connector, stored in a real database and run through the real intake pipeline; replies leave
through the real DeliveryService to the fake over loopback HTTP.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict
from sqlalchemy import func, select, update

from connectors.base import Connector, WebhookRequest
from connectors.registry import ConnectorRegistry
from fakes.meta import PHONE_NUMBER_ID, FakeMetaGraph, WebhookCall
from hub.config import Settings
from hub.delivery import DeliveryOutcome
from hub.runtime import Runtime
from hub.web.app import create_app
from tests.helpers import make_settings
from ticket_core.db import Database
from ticket_core.inbox import store_events
from ticket_core.models import InboxEvent, OutboxMessage, utcnow


@dataclass
class MetaSecrets:
    app_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    verify_token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    page_token: str = field(default_factory=lambda: "EAAG" + secrets.token_urlsafe(40))
    instagram_token: str = field(default_factory=lambda: "IGQV" + secrets.token_urlsafe(40))
    whatsapp_token: str = field(default_factory=lambda: "EAAW" + secrets.token_urlsafe(40))


class Published(list[int]):
    """Stands in for the broker: records the inbox ids the web app would enqueue."""

    def __call__(self, ids: Sequence[int]) -> bool:
        self.extend(ids)
        return True


@dataclass
class MetaTestbed:
    settings: Settings
    fake: FakeMetaGraph
    db: Database
    keys: MetaSecrets
    runtime: Runtime

    def connector(self, channel: str) -> Connector:
        return self.runtime.registry.get(channel)

    def intake(self, call: WebhookCall) -> list[int]:
        """A citizen's webhook through parse, inbox and intake; returns the reply outbox ids."""
        events = self.connector(call.channel).parse(request_for(call))
        with self.db.session() as session:
            stored = store_events(session, events)
        outbox_ids: list[int] = []
        for item in stored:
            if item.inbox_id is not None and item.needs_processing:
                outbox_ids += self.runtime.pipeline.process(item.inbox_id).outbox_ids
        return outbox_ids

    async def deliver(self, outbox_id: int) -> DeliveryOutcome:
        return await self.runtime.delivery.deliver(outbox_id)

    def row(self, outbox_id: int) -> OutboxMessage:
        with self.db.read_session() as session:
            row = session.get(OutboxMessage, outbox_id)
            assert row is not None
            return row

    def set_text(self, outbox_id: int, text: str, **content: Any) -> None:
        with self.db.session() as session:
            values: dict[str, Any] = {"text": text}
            if content:
                values["content"] = {**self.row(outbox_id).content, **content}
            session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(**values))

    def make_due(self, outbox_id: int) -> None:
        with self.db.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(next_attempt_at=utcnow()))

    def inbox_count(self) -> int:
        with self.db.read_session() as session:
            return session.execute(select(func.count()).select_from(InboxEvent)).scalar_one()

    @asynccontextmanager
    async def web(self) -> AsyncIterator[TestClient]:
        """The real aiohttp app on this database (the broker replaced by a recorder)."""
        published = Published()
        async with TestClient(TestServer(create_app(self.settings, db=self.db, publish=published))) as client:
            client.published = published  # type: ignore[attr-defined]
            yield client


@asynccontextmanager
async def meta_testbed(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path, **extra: Any
) -> AsyncIterator[MetaTestbed]:
    keys = MetaSecrets()
    fake = await FakeMetaGraph(
        keys.app_secret,
        page_token=keys.page_token,
        instagram_token=keys.instagram_token,
        whatsapp_token=keys.whatsapp_token,
        require_appsecret_proof=True,
    ).start()
    settings = make_settings(
        tmp_path,
        db.url,
        secrets_,
        nlu_model_path,
        meta_app_secret=keys.app_secret,
        meta_verify_token=keys.verify_token,
        meta_api_base=fake.api_base,
        facebook_page_token=keys.page_token,
        instagram_token=keys.instagram_token,
        whatsapp_token=keys.whatsapp_token,
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        outbox_max_attempts=3,
        **extra,
    )
    runtime = Runtime(settings)
    runtime.db = db
    runtime.registry = ConnectorRegistry.from_settings(settings)
    try:
        yield MetaTestbed(settings, fake, db, keys, runtime)
    finally:
        await runtime.registry.aclose()
        await fake.stop()


def request_for(
    call: WebhookCall, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> WebhookRequest:
    return WebhookRequest("POST", CIMultiDict(headers if headers is not None else call.headers), {}, body or call.body)


async def post_webhook(
    client: TestClient, channel: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"/webhooks/{channel}", data=body, headers=headers)
    return resp.status, await resp.json()
