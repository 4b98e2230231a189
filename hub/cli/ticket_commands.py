"""`tawasul tickets`, `tawasul inbox`, `tawasul outbox`: what is in the hub right now."""

from __future__ import annotations

import json
from typing import Any

import click

from hub.cli.common import fail, settings_or_exit
from ticket_core import outbox as outbox_service
from ticket_core import queries
from ticket_core.db import Database
from ticket_core.models import InboxStatus, OutboxStatus, TicketStatus


def _print(rows: list[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    if not rows:
        click.echo("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c) or "")) for r in rows)) for c in columns}
    widths = {c: min(w, 48) for c, w in widths.items()}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        click.echo(
            "  ".join(str(row.get(c) if row.get(c) is not None else "")[: widths[c]].ljust(widths[c]) for c in columns)
        )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object per ticket per line")
@click.option("--status", type=click.Choice([s.value for s in TicketStatus]))
@click.option("--limit", type=int)
def tickets(as_json: bool, status: str | None, limit: int | None) -> None:
    """List tickets with their unit, SLA due time and reply delivery state."""
    settings = settings_or_exit()
    with Database(settings.database_url).read_session() as session:
        rows = queries.ticket_rows(session, status=status, limit=limit)
    _print(rows, as_json, ["number", "channel", "category", "status", "unit", "escalation_level", "due_at", "delivery"])


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=click.Choice([s.value for s in InboxStatus]), help="e.g. failed")
@click.option("--limit", type=int, default=200, show_default=True)
def inbox(as_json: bool, status: str | None, limit: int) -> None:
    """List stored inbound events (newest first)."""
    settings = settings_or_exit()
    with Database(settings.database_url).read_session() as session:
        rows = queries.inbox_rows(session, status=status, limit=limit)
    _print(rows, as_json, ["id", "channel", "event_id", "kind", "status", "attempts", "last_error"])


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=click.Choice([s.value for s in OutboxStatus]), help="e.g. dead")
@click.option("--limit", type=int, default=200, show_default=True)
@click.option("--requeue", "requeue_id", type=int, help="give a dead message another chance")
def outbox(as_json: bool, status: str | None, limit: int, requeue_id: int | None) -> None:
    """List outbound messages (newest first), or requeue a dead one."""
    settings = settings_or_exit()
    db = Database(settings.database_url)
    if requeue_id is not None:
        with db.session() as session:
            if not outbox_service.requeue(session, requeue_id, actor="cli"):
                fail(f"outbox message {requeue_id} is not dead (or does not exist)")
        from hub.queue.publish import publish_delivery

        publish_delivery([requeue_id])
        click.echo(f"outbox message {requeue_id} requeued")
        return
    with db.read_session() as session:
        rows = queries.outbox_rows(session, status=status, limit=limit)
    _print(rows, as_json, ["id", "channel", "ticket", "status", "attempts", "last_error"])
