"""Migrations produce exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ticket_core.db import Database
from ticket_core.migrate import pending_revisions, upgrade
from ticket_core.models import Base


def test_migrations_match_the_models(database_url: str) -> None:
    db = Database(database_url)
    assert pending_revisions(db.engine)  # a fresh database needs migrating
    upgrade(db.engine)
    assert pending_revisions(db.engine) == []
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    upgrade(db.engine)  # running it again changes nothing
    db.dispose()
