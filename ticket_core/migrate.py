"""Schema migrations (Alembic), run by ``tawasul migrate`` and by the test fixtures."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (default: the newest)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def pending_revisions(engine: Engine) -> list[str]:
    """Revisions not yet applied; empty when the schema is current."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    heads = set(script.get_heads())
    if current == heads:
        return []
    lower = tuple(current) if current else "base"
    return [rev.revision for rev in script.iterate_revisions(tuple(heads), lower) if rev is not None]
