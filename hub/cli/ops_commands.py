"""`tawasul calendar`, `tawasul report`, `tawasul users`, `tawasul sla-sweep`: operating the service desk."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from hub.cli.common import fail, settings_or_exit


@click.group()
def calendar() -> None:
    """The business calendar (Sun-Thu, Asia/Riyadh, official holidays)."""


@calendar.command("add-working-days")
@click.argument("start")
@click.argument("days", type=int)
def add_working_days(start: str, days: int) -> None:
    """Print the time DAYS working days after START (ISO datetime; Riyadh time if no offset)."""
    settings = settings_or_exit()
    from ticket_core.calendar import load_calendar

    try:
        when = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        fail(f"not an ISO datetime: {start!r} (e.g. 2026-11-24T10:15 or 2026-11-24T10:15:00+03:00)", 2)
    if days < 0:
        fail("DAYS must be zero or more", 2)
    cal = load_calendar(settings.data_dir / "calendar.yml")
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(settings.timezone))
    click.echo(cal.add_working_days(when, days).isoformat())


@calendar.command("holidays")
@click.argument("year", type=int)
def holidays(year: int) -> None:
    """List the official holidays of YEAR."""
    settings = settings_or_exit()
    from ticket_core.calendar import load_calendar

    for holiday in load_calendar(settings.data_dir / "calendar.yml").holidays_in(year):
        click.echo(f"{holiday.day.isoformat()}  {holiday.name_en}  {holiday.name_ar}")


@click.command()
@click.option("--from", "start", help="first day (YYYY-MM-DD); default 30 days before --to")
@click.option("--to", "end", help="last day (YYYY-MM-DD); default now")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (section,key,value) instead of JSON")
def report(start: str | None, end: str | None, as_csv: bool) -> None:
    """Statistics for supervisors: volumes, SLA compliance, times, objections, CSAT, escalations, topics."""
    settings = settings_or_exit()
    from hub.runtime import Runtime
    from hub.web.api.reports import parse_period
    from ticket_core import reports
    from ticket_core.models import utcnow

    runtime = Runtime(settings)
    try:
        period = parse_period(start, end, ZoneInfo(settings.timezone), now=utcnow())
    except ValueError as exc:
        fail(str(exc), 2)
    tree = runtime.org()
    with runtime.db.read_session() as session:
        data = reports.report(session, period, tree, now=utcnow())
    click.echo(reports.to_csv(data) if as_csv else json.dumps(data, ensure_ascii=False, indent=2))


@click.group()
def users() -> None:
    """Staff accounts (the roster itself comes from data/org.yml via `tawasul seed`)."""


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def set_password(username: str, password_stdin: bool) -> None:
    """Set USERNAME's password (at least 10 characters); ends their open sessions."""
    settings = settings_or_exit()
    from ticket_core import people
    from ticket_core.db import Database

    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else click.prompt("password", hide_input=True, confirmation_prompt=True)
    )
    try:
        with Database(settings.database_url).session() as session:
            people.set_password(session, username, password)
    except (ValueError, LookupError) as exc:
        fail(str(exc))
    click.echo(f"password set for {username}")


@users.command("make-admin")
@click.argument("username")
def make_admin(username: str) -> None:
    """Give USERNAME the administrator role (sees every unit)."""
    settings = settings_or_exit()
    from sqlalchemy import update

    from ticket_core import audit
    from ticket_core.db import Database
    from ticket_core.models import Role, User

    with Database(settings.database_url).session() as session:
        result = session.execute(update(User).where(User.username == username).values(role=Role.ADMIN))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            fail(f"no user {username!r}")
        audit.record(session, "user.made_admin", actor="cli", username=username)
    click.echo(f"{username} is now an administrator")


@click.command("sla-sweep")
def sla_sweep() -> None:
    """Run the SLA sweep once now (escalations, auto-close, backlog); beat runs it every minute."""
    settings_or_exit()
    from hub.queue.tasks import sla_sweep as task

    click.echo(json.dumps(task.run()))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object per channel per line")
def channels(as_json: bool) -> None:
    """Each channel: enabled or not, what it can do, and how sending on it has gone lately."""
    settings = settings_or_exit()
    from connectors.registry import CONNECTOR_CLASSES, ConnectorRegistry
    from ticket_core import health
    from ticket_core.db import Database

    registry = ConnectorRegistry.from_settings(settings)
    try:
        with Database(settings.database_url).read_session() as session:
            seen = health.all_health(session)
    except Exception as exc:  # an unmigrated or unreachable database: still show the configuration
        seen = {}
        click.echo(f"(no delivery history: {type(exc).__name__})", err=True)
    rows = []
    for cls in CONNECTOR_CLASSES:
        caps = cls.capabilities
        for name in (cls.name, *cls.aliases):
            window = caps.messaging_window.total_seconds() / 3600 if caps.messaging_window else None
            rows.append(
                {
                    "channel": name,
                    "enabled": name in registry,
                    "max_text": f"{caps.max_text_length} {caps.length_unit}",
                    "window_h": window,
                    "rich": sorted(caps.rich_types),
                    "manual": caps.manual_delivery,
                    "can_initiate": caps.can_initiate,
                    **{k: v for k, v in seen.get(name, {}).items()},
                }
            )
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    for row in rows:
        state = "enabled " if row["enabled"] else "disabled"
        last_ok = row.get("last_success_at") or "-"
        last_error = row.get("last_error") or "-"
        click.echo(
            f"{row['channel']:<10} {state}  max {row['max_text']:<12} window {row['window_h'] or '-'!s:<5} "
            f"{'manual ' if row['manual'] else ''}sent {row.get('sent', 0)} failed {row.get('failed', 0)} "
            f"last ok {last_ok}  last error {last_error[:80]}"
        )


@click.command("rasa-actions")
@click.option("--port", type=int, default=5055, show_default=True)
def rasa_actions(port: int) -> None:
    """Run the Rasa action server (create ticket, status, objection, handoff) for a Rasa assistant."""
    settings_or_exit()
    try:
        from hub.rasa_actions import serve
    except ImportError as exc:
        fail(f"the Rasa action server needs rasa-sdk: pip install 'tawasul-hub[rasa]' ({exc})")
    serve(port)
