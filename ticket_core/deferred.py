"""Inserts that can wait until the end of a block: one batched statement instead of a round trip each.

Intake writes, for every message, rows that nothing reads back in the same transaction: the
timeline's inbound and outbound messages and the audit events. Inside ``writes_at_end(session)``
those inserts are collected and written when the block ends — still inside the caller's
transaction, so they commit or roll back with everything else — one executemany per statement
(psycopg sends it as one pipeline, SQLite runs it in C). Rows keep their order and the values they
were recorded with. Outside a block an insert runs at once, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.orm import Session

_KEY = "tawasul.deferred_inserts"  # in Session.info: {id(statement): (statement, rows)}


def insert(session: Session, statement: Insert, row: dict[str, Any]) -> None:
    """Run ``statement`` with ``row`` now, or at the end of the enclosing ``writes_at_end`` block."""
    pending: dict[int, tuple[Insert, list[dict[str, Any]]]] | None = session.info.get(_KEY)
    if pending is None:
        session.connection().execute(statement, row)
    else:
        pending.setdefault(id(statement), (statement, []))[1].append(row)


@contextmanager
def writes_at_end(session: Session) -> Iterator[None]:
    """Collect ``insert`` calls made in the block and write them when it ends without an error
    (after an error nothing is written: the caller's transaction is rolled back). Nothing in the
    block may read those rows back."""
    if _KEY in session.info:  # nested: the outer block writes
        yield
        return
    pending: dict[int, tuple[Insert, list[dict[str, Any]]]] = {}
    session.info[_KEY] = pending
    try:
        yield
    finally:
        del session.info[_KEY]
    connection = session.connection()
    for statement, rows in pending.values():
        # executemany needs one set of keys: a column one row leaves out is NULL in it, as it was
        # when the row was inserted on its own (the statements here have no Python-side defaults
        # for the columns that rows leave out).
        keys = list(dict.fromkeys(key for row in rows for key in row))
        connection.execute(statement, [{key: row.get(key) for key in keys} for row in rows])
