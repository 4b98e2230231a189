"""The supervisor dashboard's series: per-day volumes, SLA compliance, response times, objections, CSAT.

Every figure is computed in SQL (counts, sums and medians grouped by day), never by loading tickets
into Python; only the small grouped results (days x categories, days x units, ...) are shaped here.
Days are calendar days in the service's time zone (Asia/Riyadh), by the ticket's creation time, so
a day's compliance is "of the tickets opened that day, how many got their first answer in time".
Nothing here writes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, and_, case, cast, func, select
from sqlalchemy.orm import Session

from ticket_core.models import OPEN_TICKET_STATUSES, CsatRating, Ticket, TicketStatus
from ticket_core.org import OrgTree
from ticket_core.reports import Period, sector_of

_OPEN = sorted(s.value for s in OPEN_TICKET_STATUSES)
_CANCELLED = TicketStatus.CANCELLED.value


@dataclass
class Dashboard:
    """Per-day series (one value per entry of ``days``) and the period's totals."""

    period: Period
    days: list[str]
    by_category: dict[str, list[int]] = field(default_factory=dict)
    by_channel: dict[str, list[int]] = field(default_factory=dict)
    by_sector: dict[str, list[int]] = field(default_factory=dict)
    tickets: list[int] = field(default_factory=list)
    sla_compliance: list[float | None] = field(default_factory=list)  # share answered in time, per day
    objection_rate: list[float | None] = field(default_factory=list)
    first_response_h: list[float | None] = field(default_factory=list)  # median working hours, per day
    resolution_h: list[float | None] = field(default_factory=list)
    csat_average: list[float | None] = field(default_factory=list)
    csat_ratings: list[int] = field(default_factory=list)
    escalations_by_level: dict[int, int] = field(default_factory=dict)
    top_topics: list[tuple[str, int]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()},
            "days": self.days,
            "tickets": self.tickets,
            "by_category": self.by_category,
            "by_channel": self.by_channel,
            "by_sector": self.by_sector,
            "sla_compliance": self.sla_compliance,
            "objection_rate": self.objection_rate,
            "first_response_median_working_h": self.first_response_h,
            "resolution_median_working_h": self.resolution_h,
            "csat_average": self.csat_average,
            "csat_ratings": self.csat_ratings,
            "escalations_by_level": {str(k): v for k, v in self.escalations_by_level.items()},
            "top_topics": [{"topic": t, "tickets": n} for t, n in self.top_topics],
            "totals": self.totals,
        }


def days_of(period: Period, tz: ZoneInfo) -> list[str]:
    """The local calendar days the period touches, oldest first."""
    first = period.start.astimezone(tz).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(tz).date()
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _local_day(session: Session, column: Any, tz: ZoneInfo, at: datetime) -> Any:
    """SQL for the local calendar day of a UTC timestamp column."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz.key, column))
    # SQLite keeps UTC text: shift by the zone's offset (Asia/Riyadh has no daylight saving time).
    offset = at.astimezone(tz).utcoffset() or timedelta(0)
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def _key(day: Any) -> str:
    return day.isoformat() if isinstance(day, date) else str(day)


def dashboard(
    session: Session,
    period: Period,
    tree: OrgTree,
    *,
    now: datetime,
    tz: ZoneInfo,
    unit_ids: frozenset[int] | None = None,
    top: int = 10,
) -> Dashboard:
    """Everything the dashboard draws, for tickets opened in ``period`` in ``unit_ids`` (None: all)."""
    t = Ticket
    where: list[Any] = [t.created_at >= period.start, t.created_at < period.end]
    if unit_ids is not None:
        where.append(t.unit_id.in_(sorted(unit_ids)))
    in_scope = and_(*where)
    days = days_of(period, tz)
    index = {d: i for i, d in enumerate(days)}
    out = Dashboard(period, days)
    day = _local_day(session, t.created_at, tz, now).label("day")

    def zeros() -> list[int]:
        return [0] * len(days)

    # Volumes by category, channel and unit (folded into sectors): one grouped scan each.
    for column, target in ((t.category, out.by_category), (t.channel, out.by_channel)):
        for d, key, n in session.execute(select(day, column, func.count()).where(in_scope).group_by(day, column)):
            if _key(d) in index:
                target.setdefault(str(key), zeros())[index[_key(d)]] += int(n)
    for d, unit_id, n in session.execute(select(day, t.unit_id, func.count()).where(in_scope).group_by(day, t.unit_id)):
        if _key(d) in index:
            out.by_sector.setdefault(sector_of(tree, unit_id), zeros())[index[_key(d)]] += int(n)
    for target in (out.by_category, out.by_channel, out.by_sector):
        ordered = sorted(target.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
        target.clear()
        target.update(ordered)

    # Per-day counts behind the rates: answered, answered in time, late and still open, objected.
    answered = t.first_response_at.is_not(None)
    late_open = and_(~answered, t.first_due_at < now, t.status != _CANCELLED)
    per_day = session.execute(
        select(
            day,
            func.count(),
            func.sum(case((answered, 1), else_=0)),
            func.sum(case((and_(answered, t.first_response_at <= t.first_due_at), 1), else_=0)),
            func.sum(case((late_open, 1), else_=0)),
            func.sum(case((t.objection_count > 0, 1), else_=0)),
        )
        .where(in_scope)
        .group_by(day)
    ).all()
    out.tickets = zeros()
    out.sla_compliance = [None] * len(days)
    out.objection_rate = [None] * len(days)
    sums = {"tickets": 0, "responded": 0, "on_time": 0, "late_open": 0, "objected": 0}
    for d, n, responded, on_time, late, objected in per_day:
        i = index.get(_key(d))
        if i is None:
            continue
        n, responded, on_time, late, objected = (int(v or 0) for v in (n, responded, on_time, late, objected))
        out.tickets[i] = n
        judged = responded + late
        out.sla_compliance[i] = round(on_time / judged, 4) if judged else None
        out.objection_rate[i] = round(objected / responded, 4) if responded else None
        for k, v in zip(sums, (n, responded, on_time, late, objected), strict=True):
            sums[k] += v

    out.first_response_h = _daily_median(session, day, t.first_response_working_h, in_scope, index)
    out.resolution_h = _daily_median(session, day, t.resolution_working_h, in_scope, index)

    # CSAT by the day the rating was given, for tickets in scope.
    c = CsatRating
    rated = and_(c.created_at >= period.start, c.created_at < period.end)
    if unit_ids is not None:
        rated = and_(rated, c.ticket_id.in_(select(t.id).where(t.unit_id.in_(sorted(unit_ids)))))
    csat_day = _local_day(session, c.created_at, tz, now).label("day")
    out.csat_average = [None] * len(days)
    out.csat_ratings = zeros()
    total_ratings, score_sum = 0, 0.0
    for d, n, average in session.execute(
        select(csat_day, func.count(), func.avg(c.score)).where(rated).group_by(csat_day)
    ):
        i = index.get(_key(d))
        if i is None:
            continue
        out.csat_ratings[i] = int(n)
        out.csat_average[i] = round(float(average), 2) if average is not None else None
        total_ratings += int(n)
        score_sum += float(average or 0) * int(n)

    out.escalations_by_level = {
        int(level): int(n)
        for level, n in session.execute(
            select(t.escalation_level, func.count())
            .where(in_scope, t.escalation_level > 0)
            .group_by(t.escalation_level)
            .order_by(t.escalation_level)
        )
    }
    topic = func.coalesce(t.service_key, t.category).label("topic")
    out.top_topics = [
        (str(name), int(n))
        for name, n in session.execute(
            select(topic, func.count()).where(in_scope).group_by(topic).order_by(func.count().desc(), topic).limit(top)
        )
    ]

    open_where: list[Any] = [t.status.in_(_OPEN)]
    if unit_ids is not None:
        open_where.append(t.unit_id.in_(sorted(unit_ids)))
    open_now, overdue_now = session.execute(
        select(
            func.count(),
            func.sum(case((and_(t.paused_at.is_(None), t.due_at <= now), 1), else_=0)),
        ).where(*open_where)
    ).one()
    judged = sums["responded"] + sums["late_open"]
    out.totals = {
        "tickets": sums["tickets"],
        "responded": sums["responded"],
        "sla_compliance": round(sums["on_time"] / judged, 4) if judged else None,
        "objection_rate": round(sums["objected"] / sums["responded"], 4) if sums["responded"] else None,
        "escalated": sum(out.escalations_by_level.values()),
        "csat_ratings": total_ratings,
        "csat_average": round(score_sum / total_ratings, 2) if total_ratings else None,
        "first_response_median_working_h": _median(session, t.first_response_working_h, in_scope),
        "resolution_median_working_h": _median(session, t.resolution_working_h, in_scope),
        "open_now": int(open_now or 0),
        "overdue_now": int(overdue_now or 0),
    }
    return out


def _daily_median(session: Session, day: Any, column: Any, in_scope: Any, index: dict[str, int]) -> list[float | None]:
    """The median of ``column`` per day, by row numbers over each day (works on SQLite and PostgreSQL)."""
    ranked = (
        select(
            day,
            cast(column, Float).label("v"),
            func.row_number().over(partition_by=day, order_by=column).label("rn"),
            func.count().over(partition_by=day).label("n"),
        )
        .where(in_scope, column.is_not(None))
        .subquery()
    )
    middle = [(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]  # the one or two middle rows
    rows = session.execute(
        select(ranked.c.day, func.avg(ranked.c.v)).where(ranked.c.rn.in_(middle)).group_by(ranked.c.day)
    ).all()
    out: list[float | None] = [None] * len(index)
    for d, value in rows:
        i = index.get(_key(d))
        if i is not None and value is not None:
            out[i] = round(float(value), 2)
    return out


def _median(session: Session, column: Any, in_scope: Any) -> float | None:
    ranked = (
        select(
            cast(column, Float).label("v"),
            func.row_number().over(order_by=column).label("rn"),
            func.count().over().label("n"),
        )
        .where(in_scope, column.is_not(None))
        .subquery()
    )
    middle = [(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]
    value = session.execute(select(func.avg(ranked.c.v)).where(ranked.c.rn.in_(middle))).scalar()
    return round(float(value), 2) if value is not None else None


def to_csv(board: Dashboard) -> str:
    """The series as one CSV, a row per day (opens in any spreadsheet)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    groups = [("category", board.by_category), ("channel", board.by_channel), ("sector", board.by_sector)]
    header = ["day", "tickets", "sla_compliance", "objection_rate", "first_response_median_working_h"]
    header += ["resolution_median_working_h", "csat_average", "csat_ratings"]
    header += [f"{name}:{key}" for name, series in groups for key in series]
    writer.writerow(header)
    for i, d in enumerate(board.days):
        row: list[Any] = [d, board.tickets[i], board.sla_compliance[i], board.objection_rate[i]]
        row += [board.first_response_h[i], board.resolution_h[i], board.csat_average[i], board.csat_ratings[i]]
        row += [series[key][i] for _, series in groups for key in series]
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()
