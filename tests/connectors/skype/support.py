"""Constants and fixture loading shared by the Bot Framework tests (imported; not a conftest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from multidict import CIMultiDict

from connectors.base import WebhookRequest

FIXTURES = Path(__file__).parent / "fixtures"
APP_ID = "3f2a9c1e-7b4d-4e8a-9c0f-5d1b2a3c4e5f"  # the app id the fixtures were written for
APP_PASSWORD = "Qm8~Zr2.vT5_xK9-pL3nW7yB1cD4eF6gH0jS"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_bytes())
    return data


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest("POST", CIMultiDict(headers or {}), {}, body)
