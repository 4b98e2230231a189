"""Shared fixtures: real databases (SQLite always, PostgreSQL when configured), settings, fakes.

Integration services come from the environment (``.ci/run`` sets them to this machine's servers):
``TAWASUL_TEST_DATABASE_URL`` (PostgreSQL), ``TAWASUL_TEST_REDIS_URL``, ``TAWASUL_TEST_AMQP_URL``.
Without them those tests skip with a one-line reason; with ``TAWASUL_TEST_REQUIRE_SERVICES=1`` a
missing or unreachable service fails the run instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ticket_core.db import Database
from ticket_core.migrate import upgrade
from ticket_core.org import seed_org

REPO = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("TAWASUL_TEST_REQUIRE_SERVICES") == "1"
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test item, so a fixture's teardown can tell a failed test."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


def has_failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test using this fixture failed (for printing process logs in teardown)."""
    return any(r.failed for r in request.node.stash.get(PHASE_REPORTS, {}).values())


def service_or_skip(variable: str, what: str) -> str:
    """The URL in ``variable``, or skip (fail under TAWASUL_TEST_REQUIRE_SERVICES=1)."""
    url = os.environ.get(variable)
    if not url:
        message = f"{what} not configured: set {variable} (.ci/run does)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = service_or_skip("TAWASUL_TEST_DATABASE_URL", "PostgreSQL")
    try:
        engine = create_engine(str(make_url(url).set(drivername="postgresql+psycopg")))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        message = f"PostgreSQL at {url} unreachable: {exc}"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return url


def _fresh_postgres(admin_url: str, *, template: str | None = None) -> Iterator[str]:
    """A new database for one test (empty, or a copy of ``template``); dropped afterwards."""
    name = f"tawasul_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(str(make_url(admin_url).set(drivername="postgresql+psycopg")), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    try:
        yield str(make_url(admin_url).set(database=name))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that uses it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        yield from _fresh_postgres(request.getfixturevalue("postgres_admin_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


def _migrate_and_seed(url: str) -> None:
    database = Database(url)
    upgrade(database.engine)
    with database.session() as session:
        seed_org(session, REPO / "data" / "org.yml")
    database.dispose()
    if url.startswith("sqlite"):  # fold the WAL into the file so that a copy of it is complete
        import sqlite3

        with sqlite3.connect(make_url(url).database or "") as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the real org tree, built once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "seeded.db"
    _migrate_and_seed(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def seeded_postgres(postgres_admin_url: str) -> Iterator[str]:
    for url in _fresh_postgres(postgres_admin_url):
        _migrate_and_seed(url)
        yield make_url(url).database or ""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database seeded with data/org.yml (a copy of a template made once per session),
    on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "hub.db"
        shutil.copyfile(request.getfixturevalue("seeded_sqlite"), path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
        return
    template = request.getfixturevalue("seeded_postgres")
    for url in _fresh_postgres(request.getfixturevalue("postgres_admin_url"), template=template):
        database = Database(url)
        yield database
        database.dispose()


@pytest.fixture
def secrets_() -> dict[str, str]:
    return {
        "telegram_secret": secrets.token_urlsafe(24).replace("-", "_"),
        "telegram_token": f"7000000001:{secrets.token_urlsafe(30)}",
        "portal_secret": secrets.token_hex(32),
    }


@pytest.fixture(scope="session")
def nlu_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained NLU model for the whole session (training takes seconds)."""
    return tmp_path_factory.mktemp("nlu") / "nlu.joblib"
