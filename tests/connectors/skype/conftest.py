"""Fixtures for the Bot Framework tests: a fake Microsoft on loopback and a connector aimed at it.

The fake runs on its own thread: ``verify`` is synchronous and fetches the signing keys with a
blocking request, which would deadlock against a fake served by the test's own event loop.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.botframework import BotFrameworkConnector
from fakes.botframework import FakeBotFramework
from tests.connectors.skype.support import APP_ID, APP_PASSWORD


@pytest.fixture
def fake() -> Iterator[FakeBotFramework]:
    server = FakeBotFramework(APP_ID, APP_PASSWORD).start_in_thread()
    yield server
    server.stop_thread()


@pytest.fixture
def connector(fake: FakeBotFramework) -> BotFrameworkConnector:
    return BotFrameworkConnector(APP_ID, APP_PASSWORD, openid_url=fake.openid_url, token_url=fake.token_url)
