"""The whole hub as real processes: webhook -> inbox -> worker -> ticket -> outbox -> fake platform.

Runs on the embedded defaults (SQLite + SQLite broker) always, and on PostgreSQL with Redis and with
RabbitMQ when those services are configured (``.ci/run``). The kill test SIGKILLs a worker while it
is inside an intake transaction and shows that nothing is lost or duplicated.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fakes.portal import portal_message
from fakes.stack import LocalStack, wait_for
from fakes.telegram import telegram_update
from tests.conftest import has_failed, service_or_skip
from tests.e2e.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def trained_model(nlu_model_path: Path) -> Path:
    """Train the NLU once so hub subprocesses load it instead of each training their own."""
    import nlu

    nlu.configure(model_path=nlu_model_path)
    nlu.analyse("تجربة")
    assert nlu_model_path.exists()
    return nlu_model_path


def _broker(kind: str, tmp_path: Path) -> str:
    if kind == "embedded":
        return f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    if kind == "redis":
        return service_or_skip("TAWASUL_TEST_REDIS_URL", "Redis")
    return service_or_skip("TAWASUL_TEST_AMQP_URL", "RabbitMQ")


STACKS = [
    pytest.param(("sqlite", "embedded"), id="sqlite+embedded"),
    pytest.param(("postgresql", "redis"), id="postgresql+redis", marks=pytest.mark.integration),
    pytest.param(("postgresql", "rabbitmq"), id="postgresql+rabbitmq", marks=pytest.mark.integration),
]


@pytest.fixture(params=STACKS)
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, secrets_: dict[str, str], trained_model: Path
) -> Iterator[LocalStack]:
    db_kind, broker_kind = request.param
    broker = _broker(broker_kind, tmp_path)
    if db_kind == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'hub.db'}"
        yield from _run(request, tmp_path, database_url, broker, secrets_, trained_model)
    else:
        from tests.conftest import _fresh_postgres

        for database_url in _fresh_postgres(request.getfixturevalue("postgres_admin_url")):
            yield from _run(request, tmp_path, database_url, broker, secrets_, trained_model)


def _run(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    database_url: str,
    broker: str,
    secrets_: dict[str, str],
    model: Path,
) -> Iterator[LocalStack]:
    hub = LocalStack(tmp_path, database_url=database_url, broker_url=broker, secrets=secrets_, model=model)
    hub.env["TAWASUL_QUEUE_PREFIX"] = f"t{uuid.uuid4().hex[:10]}"  # no stray messages between tests
    hub.prepare()
    try:
        yield hub
    finally:
        hub.stop()
        if has_failed(request):
            print(hub.logs())  # shown under "Captured stdout teardown"


def test_signed_telegram_update_becomes_one_ticket_and_one_reply_even_when_delivered_three_times(
    stack: LocalStack,
) -> None:
    stack.start_web()
    stack.start_worker()
    update = telegram_update(810000001, 5550001, "صار لي شهرين أراجع إدارة التعليم بخصوص نقل ولدي وما أحد يرد علي")
    answers = [stack.post_telegram(update) for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 200]
    assert [a[1]["duplicates"] for a in answers] == [0, 1, 1]
    [(chat, reply)] = wait_for(stack.telegram_texts, 60, "the reply at the fake Bot API")
    [ticket] = stack.tickets()
    assert chat == 5550001 and ticket["number"] in reply
    assert ticket["channel"] == "telegram" and ticket["unit"]  # routed by data/routing.yml
    time.sleep(3)  # two sweep periods: nothing more may arrive
    assert len(stack.telegram_texts()) == 1 and len(stack.tickets()) == 1
    wait_for(lambda: stack.tickets()[0]["delivery"] == "sent", 10, "delivery to be recorded as sent")


def test_portal_message_becomes_a_ticket_and_a_signed_callback(stack: LocalStack) -> None:
    stack.start_web()
    stack.start_worker()
    status, _ = stack.post(
        "portal", portal_message("evt-e2e-1", "u-7781", "أرغب في معرفة شروط الابتعاث لدرجة الماجستير"), {}
    )
    assert status == 200
    deliveries = wait_for(lambda: stack.portal.call(lambda: list(stack.portal.deliveries)), 60, "the portal callback")
    [ticket] = stack.tickets()
    assert deliveries[0]["user_id"] == "u-7781" and ticket["number"] in deliveries[0]["text"]
    assert stack.portal.call(lambda: stack.portal.rejected_signatures) == 0


def test_embedded_mode_runs_its_own_worker_inside_serve(stack: LocalStack) -> None:
    if "sqla+" not in stack.env["TAWASUL_BROKER_URL"]:
        pytest.skip("embedded mode is the SQLite broker")
    stack.start_web(embedded_worker=True)
    # A complaint (a question the FAQ answers would get its answer and no ticket).
    stack.post_telegram(telegram_update(810000002, 5550002, "صار لي ثلاث شهور ما نزلت مكافأة التفوق لولدي"))
    wait_for(stack.telegram_texts, 60, "a reply from the embedded worker")
    assert len(stack.tickets()) == 1


def _hold_write_lock(database_url: str) -> tuple[object, object]:
    """Block writers to the hub's tables from the test, so a worker stops inside its transaction."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(database_url).database or "", isolation_level=None, timeout=30)
        conn.execute("BEGIN IMMEDIATE")
        return conn, None
    engine = create_engine(str(make_url(database_url).set(drivername="postgresql+psycopg")))
    conn = engine.connect()
    conn.begin()
    # Inserting a ticket needs ROW EXCLUSIVE, which this blocks; the worker has already claimed its
    # inbox row and written the citizen's identity when it stops here.
    conn.execute(text("LOCK TABLE tickets IN SHARE ROW EXCLUSIVE MODE"))
    return conn, engine


def _release(lock: tuple[object, object]) -> None:
    conn, engine = lock
    if isinstance(conn, sqlite3.Connection):
        conn.execute("ROLLBACK")
        conn.close()
    else:
        conn.rollback()  # type: ignore[attr-defined]
        conn.close()  # type: ignore[attr-defined]
        engine.dispose()  # type: ignore[attr-defined]


def test_worker_killed_mid_processing_loses_nothing_and_duplicates_nothing(stack: LocalStack) -> None:
    stack.start_web()
    texts = [
        # Each of these opens a ticket (questions the FAQ answers get their answer and no ticket).
        "المدرسة رفضت تسجيل ولدي في الصف الأول بدون أي سبب واضح",
        "رفعت طلب معادلة شهادتي من الأردن قبل شهرين وما أحد رد علي",
        "نقترح توفير حافلات مكيفة للطالبات في القرى",
        "أقترح تمديد فترة التقديم على برنامج الابتعاث أسبوعين",
        "انحسم من راتبي بدون سبب هالشهر",
        "الباص ما يجي لحي النرجس من بداية الترم والمدرسة ما تتجاوب",
    ]
    for i, message in enumerate(texts):
        status, _ = stack.post_telegram(telegram_update(820000000 + i, 5560000 + i, message))
        assert status == 200  # acknowledged = stored; no worker is running yet
    lock = _hold_write_lock(stack.database_url)
    try:
        stack.start_worker()
        # Wait until the worker has taken an intake task and is stuck inside its transaction.
        wait_for(lambda: "intake batch started" in stack.logs(), 60, "the worker to take a task")
        if not stack.database_url.startswith("sqlite"):
            wait_for(lambda: _blocked_backends(stack.database_url) > 0, 30, "the worker to block on the lock")
        time.sleep(1)
        stack.kill_worker()
    finally:
        _release(lock)
    assert _done_count(stack.database_url) == 0  # the killed transaction left nothing behind
    stack.start_worker()
    wait_for(lambda: len(stack.telegram_texts()) >= len(texts), 90, "every message answered after the restart")
    time.sleep(4)  # sweeps and any broker redelivery have had their chance to duplicate something
    tickets = stack.tickets()
    replies = stack.telegram_texts()
    assert len(tickets) == len(texts)
    assert sorted(chat for chat, _ in replies) == [5560000 + i for i in range(len(texts))]
    for ticket in tickets:
        assert sum(ticket["number"] in reply for _, reply in replies) == 1


def _blocked_backends(database_url: str) -> int:
    return _scalar(database_url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")


def _scalar(database_url: str, sql: str) -> int:
    if database_url.startswith("sqlite"):
        with sqlite3.connect(make_url(database_url).database or "", timeout=30) as conn:
            return int(conn.execute(sql).fetchone()[0])
    engine = create_engine(str(make_url(database_url).set(drivername="postgresql+psycopg")))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def _done_count(database_url: str) -> int:
    return _scalar(database_url, "SELECT count(*) FROM inbox WHERE status = 'done'")


@pytest.mark.integration
@pytest.mark.parametrize("broker_kind", ["redis", "rabbitmq"])
def test_broker_down_at_webhook_time_is_still_acknowledged_and_processed_later(
    broker_kind: str, request: pytest.FixtureRequest, tmp_path: Path, secrets_: dict[str, str], trained_model: Path
) -> None:
    real = make_url(
        _broker(broker_kind, tmp_path).replace("amqp://", "postgresql://").replace("redis://", "postgresql://")
    )
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or (6379 if broker_kind == "redis" else 5672)).start()
    scheme = "redis" if broker_kind == "redis" else "amqp"
    auth = f"{real.username}:{real.password}@" if real.username else ""
    path = f"/{real.database}" if real.database else "/"
    broker = f"{scheme}://{auth}127.0.0.1:{proxy.port}{path}"
    database_url = f"sqlite:///{tmp_path / 'hub.db'}"
    for hub in _run(request, tmp_path, database_url, broker, secrets_, trained_model):
        hub.start_web()
        hub.start_worker()
        proxy.down()  # the broker disappears: connections cut, new ones refused
        status, _ = hub.post_telegram(telegram_update(830000001, 5570001, "النظام ما يقبل رقم هوية ولدي في التسجيل"))
        assert status == 200
        time.sleep(3)
        assert hub.telegram_texts() == []
        proxy.up()
        wait_for(hub.telegram_texts, 90, "the reply once the broker is back")
        assert len(hub.tickets()) == 1
    proxy.stop()


def test_invalid_setting_fails_at_start_with_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "TAWASUL_PORT": "eighty", "TAWASUL_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tawasul: invalid setting TAWASUL_PORT='eighty': Input should be a valid integer, unable to parse string as an integer"
    ]


def test_demo_sends_messages_on_every_channel_and_every_one_is_answered(tmp_path: Path, trained_model: Path) -> None:
    import re
    import subprocess
    import sys

    from connectors.twitter import PUBLIC_ACK
    from fakes.stack import CHANNELS
    from hub.demo import CHANNEL_TITLES, MANUAL_LABEL, MESSAGES

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TAWASUL_")},
        "TAWASUL_VAR_DIR": str(tmp_path / "var"),
        "TAWASUL_NLU_MODEL_PATH": str(trained_model),
    }
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "demo"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr

    # Tickets (the greeting, the status question and FAQ answers open none), each routed to a unit; a
    # ticket's reply is sent, except Snapchat's, which waits to be sent by hand.
    tickets = re.findall(r"^  (20\d\d-\d{6})  (\w+) .* unit (\S+) +due .* reply (\w+)$", out, re.MULTILINE)
    assert len(tickets) >= 8, out
    assert len({channel for _, channel, _, _ in tickets}) >= 8, out
    assert all(unit for _, _, unit, _ in tickets)
    assert all((reply == "manual") == (channel == "snapchat") for _, channel, _, reply in tickets), out

    # What each platform received: one section per channel, at least one answer per message sent on it.
    sections: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        header = next((c for c, title in CHANNEL_TITLES.items() if line.startswith(f"  {title} — ")), None)
        if header:
            current = header
            sections[current] = []
        elif current and line.startswith("    ") and not line.startswith("      "):
            sections[current].append(line.strip())
    assert list(sections) == list(CHANNELS), out
    for channel in CHANNELS:
        wanted = sum(1 for m in MESSAGES if m.channel == channel)
        answers = [line for line in sections[channel] if not line.startswith("public reply")]
        assert len(answers) >= wanted, f"{channel}: {answers}"

    # Snapchat has no sending API: each reply is a manual outbox item with its text ready to copy.
    manual = [line for line in sections["snapchat"] if line.startswith(f"«{MANUAL_LABEL}» → ")]
    assert len(manual) == sum(1 for m in MESSAGES if m.channel == "snapchat"), sections["snapchat"]

    # X: the @mention got the neutral public reply (nothing personal in public) and the real answer by DM.
    [mention] = [m for m in MESSAGES if m.mention]
    public = [
        line for line in sections["twitter"] if line.startswith(f"public reply to the @mention by {mention.sender}")
    ]
    assert len(public) == 1, sections["twitter"]
    neutral = public[0].split(": ", 1)[1]
    assert neutral in PUBLIC_ACK["ar"], neutral
    assert mention.sender not in neutral and not re.search(r"\d", neutral)
    dms = [line for line in sections["twitter"] if line.startswith(f"DM → {mention.sender} ")]
    assert len(dms) == 1 and dms[0].split(": ", 1)[1] not in PUBLIC_ACK["ar"], sections["twitter"]

    # The English writers were answered in English (as the hub detects the language).
    english = [m for m in MESSAGES if m.language == "en"]
    replies = [x for m in english for x in sections[m.channel] if x.startswith(f"→ {m.sender} ")]
    assert len(replies) == len(english) and any("Thank you for contacting" in r for r in replies), replies
