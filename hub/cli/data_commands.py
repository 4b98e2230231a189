"""`tawasul migrate` and `tawasul seed`."""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli.common import fail, settings_or_exit
from ticket_core.canned import CannedFileError, seed_canned
from ticket_core.db import Database
from ticket_core.migrate import pending_revisions, upgrade
from ticket_core.org import OrgFileError, seed_org, seed_password_hash


@click.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = settings_or_exit()
    db = Database(settings.database_url)
    before = pending_revisions(db.engine)
    upgrade(db.engine)
    click.echo(f"database is at the latest schema ({len(before)} migration(s) applied)")


@click.command()
@click.option("--org", "org_path", type=click.Path(path_type=Path), help="org tree (default data/org.yml)")
def seed(org_path: Path | None) -> None:
    """Load reference data (organisation units, staff, canned answers) into the database; safe to run again."""
    settings = settings_or_exit()
    db = Database(settings.database_url)
    if pending_revisions(db.engine):
        fail("the database is not migrated: run `tawasul migrate` first")
    path = org_path or settings.data_dir / "org.yml"
    try:
        with db.session() as session:
            result = seed_org(session, path, default_password_hash=seed_password_hash())
            canned = seed_canned(session, settings.data_dir / "canned.yml")
    except (OrgFileError, CannedFileError, FileNotFoundError) as exc:
        fail(str(exc))
    click.echo(
        f"seeded {result.units} organisation units and {result.people} staff from {path}"
        + (f"; {result.deactivated} no longer listed were deactivated" if result.deactivated else "")
        + f"; {canned.responses} canned answers"
    )
