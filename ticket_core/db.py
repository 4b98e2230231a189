"""Database engine and sessions for SQLite (embedded) and PostgreSQL (production).

SQLite is tuned for several processes writing one file: WAL journal, ``synchronous=NORMAL`` and a
long busy timeout; write transactions start with ``BEGIN IMMEDIATE`` so two writers queue for the
lock up front instead of failing with "database is locked" when a reader upgrades to a writer.
Read-only work uses ``read_session`` (a deferred transaction that never blocks writers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_READONLY = "tawasul_readonly"


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    """Create an engine for ``url`` with the settings this project relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})
        _tune_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))  # psycopg 3 is the driver we install
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook issue BEGIN itself (pysqlite's implicit BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(_READONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine plus session factories; one per process (create it after forking)."""

    def __init__(self, url: str, *, pool_size: int = 5, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, echo=echo)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine.execution_options(**{_READONLY: True}), expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only transaction that does not take SQLite's write lock."""
        with self._read_sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
