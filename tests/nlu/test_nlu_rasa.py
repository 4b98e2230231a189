"""Rasa backend against a local fake Rasa server speaking the documented /model/parse shape."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import nlu
from nlu.rasa import RasaError, map_parse_result

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def documented_response(text: str) -> dict[str, Any]:
    start = text.find("جامعة")
    return {
        "text": text,
        "intent": {"name": "inquiry", "confidence": 0.91},
        "intent_ranking": [
            {"name": "inquiry", "confidence": 0.91},
            {"name": "complaint", "confidence": 0.06},
            {"name": "restaurant_search", "confidence": 0.03},
        ],
        "entities": [
            {
                "entity": "institution",
                "value": "ksu",
                "start": start,
                "end": start + 16,
                "extractor": "RegexEntityExtractor",
                "confidence": 1.0,
            }
        ]
        if start >= 0
        else [],
    }


class FakeRasa:
    """An aiohttp server on 127.0.0.1 that records requests and answers as the test says."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.mode = "ok"

    async def parse(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.mode == "500":
            return web.json_response({"status": "failure", "code": 500}, status=500)
        if self.mode == "slow":
            await asyncio.sleep(1.0)
        if self.mode == "garbage":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if self.mode == "wrong-shape":
            return web.json_response({"intent": "inquiry"})
        if self.mode == "fallback":
            return web.json_response(
                {
                    "text": body["text"],
                    "intent": {"name": "nlu_fallback", "confidence": 0.3},
                    "intent_ranking": [],
                    "entities": [],
                }
            )
        return web.json_response(documented_response(body["text"]))


@pytest.fixture
async def fake_rasa() -> AsyncIterator[tuple[FakeRasa, str]]:
    fake = FakeRasa()
    app = web.Application()
    app.router.add_post("/model/parse", fake.parse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def analyse_in_thread(text: str) -> nlu.Analysis:
    # The client blocks (it runs in workers); keep the event loop free for the fake server.
    return await asyncio.get_running_loop().run_in_executor(None, nlu.analyse, text)


async def test_documented_response_is_mapped_into_the_analysis(
    fake_rasa: tuple[FakeRasa, str], real_model: tuple
) -> None:
    fake, url = fake_rasa
    _, path, data = real_model
    nlu.configure(backend="rasa", rasa_url=url, model_path=path, training_data=data)
    text = "متى القبول في جامعة الملك سعود؟ جوالي 0551234567"
    a = await analyse_in_thread(text)
    assert fake.requests == [{"text": text}]
    assert (a.backend, a.intent, a.confidence, a.uncertain) == ("rasa", "inquiry", 0.91, False)
    assert a.ranking == (("inquiry", 0.91), ("complaint", 0.06), ("other", 0.03))
    assert a.language == "ar"
    # Our own entities come first with canonical values; Rasa's are kept where they do not overlap.
    assert [(e.type, e.value) for e in a.entities] == [("university", "university:ksu"), ("phone", "+966551234567")]


@pytest.mark.parametrize("mode", ["500", "slow", "garbage", "wrong-shape"])
async def test_errors_and_timeouts_fall_back_to_the_builtin_model(
    fake_rasa: tuple[FakeRasa, str], mode: str, real_model: tuple, caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = fake_rasa
    fake.mode = mode
    _, path, data = real_model
    nlu.configure(backend="rasa", rasa_url=url, rasa_timeout=0.3, model_path=path, training_data=data)
    a = await analyse_in_thread("أبي أكلم موظف")
    assert a.backend == "builtin"
    assert a.intent == "handoff"
    assert a.fallback_reason is not None and a.fallback_reason.startswith("rasa:")
    assert any("nlu.rasa fallback=builtin" in r.getMessage() for r in caplog.records)


async def test_unreachable_server_falls_back(real_model: tuple) -> None:
    _, path, data = real_model
    nlu.configure(backend="rasa", rasa_url="http://127.0.0.1:9", rasa_timeout=0.3, model_path=path, training_data=data)
    a = await analyse_in_thread("شكرا")
    assert a.backend == "builtin" and "unreachable" in (a.fallback_reason or "")


async def test_rasa_fallback_intent_is_other_and_uncertain(fake_rasa: tuple[FakeRasa, str], tmp_path: Path) -> None:
    fake, url = fake_rasa
    fake.mode = "fallback"
    nlu.configure(
        backend="rasa", rasa_url=url, model_path=tmp_path / "unused.joblib", training_data=tmp_path / "unused.yml"
    )
    a = await analyse_in_thread("كلام غير مفهوم")
    assert (a.backend, a.intent, a.uncertain) == ("rasa", "other", True)


def test_malformed_parse_results_are_refused() -> None:
    for body in [
        None,
        [],
        {"intent": None},
        {"intent": {"name": ""}},
        {"intent": {"name": "inquiry", "confidence": "high"}},
    ]:
        with pytest.raises(RasaError):
            map_parse_result("x", body)


def test_entities_outside_the_text_are_dropped() -> None:
    parsed = map_parse_result(
        "abc",
        {
            "intent": {"name": "other", "confidence": 1},
            "entities": [{"entity": "x", "value": "y", "start": 2, "end": 40}],
        },
    )
    assert parsed.entities == ()
    assert json.dumps(parsed.ranking) == '[["other", 1.0]]'


@pytest.mark.integration
@pytest.mark.skipif(
    not os.environ.get("TAWASUL_TEST_RASA_URL"),
    reason="no real Rasa server: set TAWASUL_TEST_RASA_URL (see docs/nlu.md, 'Rasa backend')",
)
def test_a_real_rasa_server_trained_on_our_data_answers_through_the_backend(tmp_path: Path) -> None:
    nlu.configure(
        backend="rasa",
        rasa_url=os.environ["TAWASUL_TEST_RASA_URL"],
        rasa_timeout=10,
        model_path=tmp_path / "unused.joblib",
        training_data=tmp_path / "unused.yml",
    )
    a = nlu.analyse("وش صار على بلاغي رقم ٢٠٢٦-٠٠٠١٢٣")
    assert a.backend == "rasa", a.fallback_reason
    assert a.intent in nlu.INTENTS
    assert a.entities[0].value == "2026-000123"
