"""``GET /api/v1/reports``: the report set as JSON, or CSV with ``format=csv`` (supervisors, admins)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from hub.web.api.common import PRINCIPAL, RUNTIME, error, in_session
from ticket_core import reports
from ticket_core.models import Role, utcnow
from ticket_core.people import Principal
from ticket_core.scope import scope_for


def parse_period(start: str | None, end: str | None, tz: ZoneInfo, *, now: datetime) -> reports.Period:
    """Dates (YYYY-MM-DD, Riyadh days) or datetimes; the default is the last 30 days."""

    def parse(value: str) -> datetime:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)

    end_at = parse(end) if end else now
    if end and len(end) == 10:
        end_at += timedelta(days=1)  # a date as the end means "through that day"
    start_at = parse(start) if start else end_at - timedelta(days=30)
    if start_at >= end_at:
        raise ValueError("'from' must be before 'to'")
    return reports.Period(start_at, end_at)


async def get_report(request: web.Request) -> web.StreamResponse:
    principal: Principal = request[PRINCIPAL]
    if principal.role not in (Role.SUPERVISOR, Role.ADMIN):
        return error(403, "forbidden", "reports are for supervisors and administrators")
    runtime = request.app[RUNTIME]
    try:
        period = parse_period(
            request.query.get("from"), request.query.get("to"), ZoneInfo(runtime.settings.timezone), now=utcnow()
        )
    except ValueError as exc:
        return error(400, "bad_period", str(exc))
    tree = await asyncio.to_thread(runtime.org)
    scope = scope_for(principal, tree)
    now = utcnow()
    data = await in_session(
        request, lambda s: reports.report(s, period, tree, now=now, unit_ids=scope.unit_ids), write=False
    )
    if request.query.get("format") == "csv":
        return web.Response(
            text=reports.to_csv(data),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="tawasul-report.csv"'},
        )
    return web.json_response(data)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/reports", get_report)
