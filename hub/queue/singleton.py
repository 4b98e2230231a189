"""At most one run of a periodic job at a time, across worker processes and machines.

A sweep over a large ticket table can outlast its schedule interval; without this, runs pile up,
occupy every worker process and starve intake (seen on the 1,000,000-ticket benchmark database).
On PostgreSQL the lock is a session advisory lock (shared by every machine using the database);
on SQLite, which is one machine by nature, it is an exclusive ``flock`` on a file under var/.
"""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from ticket_core.db import Database


@contextmanager
def only_one(db: Database, name: str, lock_dir: Path) -> Iterator[bool]:
    """Yield True while this process holds the lock called ``name``; False (at once) if another does."""
    if db.engine.dialect.name == "postgresql":
        key = zlib.crc32(f"tawasul:{name}".encode())  # a stable 32-bit key for pg_*_advisory_lock
        with db.engine.connect() as conn:
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
