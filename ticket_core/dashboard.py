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

from sqlalchemy import Date, Float, and_, case, cast, func, literal, select, text, tuple_
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
        return cast(func.timezone(tz.key, column), Date)  # a cast: twice as fast as date() per row
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

    answered = t.first_response_at.is_not(None)
    flags = {
        "responded": answered,
        "on_time": and_(answered, t.first_response_at <= t.first_due_at),
        "late_open": and_(~answered, t.first_due_at < now, t.status != _CANCELLED),  # unanswered past the promise
        "objected": t.objection_count > 0,
    }
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:  # the grouping sets sort and hash a few hundred thousand small rows: keep them in memory
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    counts = (_counts_in_one_scan if postgres else _counts_one_by_one)(session, day, in_scope, flags)

    # Volumes by category, channel and unit (folded into sectors).
    for name, target in (("category", out.by_category), ("channel", out.by_channel)):
        for d, key, n in counts.by[name]:
            if _key(d) in index:
                target.setdefault(str(key), zeros())[index[_key(d)]] += n
    for d, unit_id, n in counts.by["unit"]:
        if _key(d) in index:
            out.by_sector.setdefault(sector_of(tree, unit_id), zeros())[index[_key(d)]] += n
    for target in (out.by_category, out.by_channel, out.by_sector):
        ordered = sorted(target.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
        target.clear()
        target.update(ordered)

    # Per-day rates: answered in time among those judged, objections among those answered.
    out.tickets = zeros()
    out.sla_compliance = [None] * len(days)
    out.objection_rate = [None] * len(days)
    sums = {"tickets": 0, "responded": 0, "on_time": 0, "late_open": 0, "objected": 0}
    for d, n, responded, on_time, late, objected in counts.per_day:
        i = index.get(_key(d))
        if i is None:
            continue
        out.tickets[i] = n
        judged = responded + late
        out.sla_compliance[i] = round(on_time / judged, 4) if judged else None
        out.objection_rate[i] = round(objected / responded, 4) if responded else None
        for k, v in zip(sums, (n, responded, on_time, late, objected), strict=True):
            sums[k] += v
    out.escalations_by_level = {level: n for level, n in sorted(counts.levels) if level > 0}
    out.top_topics = sorted(counts.topics, key=lambda kv: (-kv[1], kv[0]))[:top]

    medians = (_medians_postgres if postgres else _medians_portable)(session, day, in_scope)
    for column, target_list in (("first_response", "first_response_h"), ("resolution", "resolution_h")):
        series: list[float | None] = [None] * len(days)
        for d, value in medians.by_day[column].items():
            i = index.get(_key(d))
            if i is not None and value is not None:
                series[i] = round(float(value), 2)
        setattr(out, target_list, series)

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
        "first_response_median_working_h": _round(medians.total["first_response"]),
        "resolution_median_working_h": _round(medians.total["resolution"]),
        "open_now": int(open_now or 0),
        "overdue_now": int(overdue_now or 0),
    }
    return out


def _round(value: Any) -> float | None:
    return round(float(value), 2) if value is not None else None


@dataclass
class _Counts:
    by: dict[str, list[tuple[Any, Any, int]]]  # category | channel | unit -> (day, key, tickets)
    per_day: list[tuple[Any, int, int, int, int, int]]  # day, tickets, responded, on_time, late_open, objected
    levels: list[tuple[int, int]]
    topics: list[tuple[str, int]]


def _counts_one_by_one(session: Session, day: Any, in_scope: Any, flags: dict[str, Any]) -> _Counts:
    """Portable: one grouped query per breakdown."""
    t = Ticket
    by = {
        name: [
            (d, key, int(n))
            for d, key, n in session.execute(select(day, column, func.count()).where(in_scope).group_by(day, column))
        ]
        for name, column in (("category", t.category), ("channel", t.channel), ("unit", t.unit_id))
    }
    sums = [func.sum(case((flag, 1), else_=0)) for flag in flags.values()]
    per_day = [
        (d, *(int(v or 0) for v in values))
        for d, *values in session.execute(select(day, func.count(), *sums).where(in_scope).group_by(day))
    ]
    topic = func.coalesce(t.service_key, t.category).label("topic")
    levels = session.execute(select(t.escalation_level, func.count()).where(in_scope).group_by(t.escalation_level))
    topics = session.execute(select(topic, func.count()).where(in_scope).group_by(topic))
    return _Counts(
        by,
        per_day,
        [(int(level), int(n)) for level, n in levels],
        [(str(name), int(n)) for name, n in topics],
    )


def _counts_in_one_scan(session: Session, day: Any, in_scope: Any, flags: dict[str, Any]) -> _Counts:
    """PostgreSQL: every breakdown in one pass over the period's tickets (GROUPING SETS)."""
    t = Ticket
    rows = select(
        day,
        t.category.label("category"),
        t.channel.label("channel"),
        t.unit_id.label("unit"),
        t.escalation_level.label("level"),
        func.coalesce(t.service_key, t.category).label("topic"),
        *(case((flag, 1), else_=0).label(name) for name, flag in flags.items()),
    ).where(in_scope)
    sub = rows.subquery()
    keys = [sub.c.day, sub.c.category, sub.c.channel, sub.c.unit, sub.c.level, sub.c.topic]
    sets = {
        "day": (sub.c.day,),
        "category": (sub.c.day, sub.c.category),
        "channel": (sub.c.day, sub.c.channel),
        "unit": (sub.c.day, sub.c.unit),
        "level": (sub.c.level,),
        "topic": (sub.c.topic,),
    }
    # grouping(k1..k6) has a 1 bit for each key NOT in the row's grouping set (k1 is the highest bit).
    mask = {
        name: sum(1 << (len(keys) - 1 - i) for i, k in enumerate(keys) if k not in columns)
        for name, columns in sets.items()
    }
    which = {v: k for k, v in mask.items()}
    query = select(
        func.grouping(*keys),
        *keys,
        func.count(),
        *(func.sum(sub.c[name]) for name in flags),
    ).group_by(func.grouping_sets(*(tuple_(*columns) for columns in sets.values())))
    out = _Counts({"category": [], "channel": [], "unit": []}, [], [], [])
    for g, d, category, channel, unit, level, topic, n, *sums in session.execute(query):
        name = which.get(int(g))
        if name == "day":
            out.per_day.append((d, int(n), *(int(v or 0) for v in sums)))
        elif name in ("category", "channel", "unit"):
            key = {"category": category, "channel": channel, "unit": unit}[name]
            out.by[name].append((d, key, int(n)))
        elif name == "level":
            out.levels.append((int(level), int(n)))
        elif name == "topic":
            out.topics.append((str(topic), int(n)))
    return out


@dataclass
class _Medians:
    by_day: dict[str, dict[Any, float | None]]  # first_response | resolution -> day -> median
    total: dict[str, float | None]


_MEDIAN_COLUMNS = {"first_response": Ticket.first_response_working_h, "resolution": Ticket.resolution_working_h}


def _medians_postgres(session: Session, day: Any, in_scope: Any) -> _Medians:
    """Both medians per day and for the whole period in one pass (percentile_cont, GROUPING SETS)."""
    query = (
        select(
            func.grouping(day),
            day,
            *(func.percentile_cont(0.5).within_group(column) for column in _MEDIAN_COLUMNS.values()),
        )
        .where(in_scope)
        .group_by(func.grouping_sets(tuple_(day), text("()")))
    )
    out = _Medians({name: {} for name in _MEDIAN_COLUMNS}, dict.fromkeys(_MEDIAN_COLUMNS))
    for g, d, *values in session.execute(query):
        for name, value in zip(_MEDIAN_COLUMNS, values, strict=True):
            if g:
                out.total[name] = value
            else:
                out.by_day[name][d] = value
    return out


def _medians_portable(session: Session, day: Any, in_scope: Any) -> _Medians:
    """SQLite has no percentile: the middle one or two rows by row number, per day and overall."""
    out = _Medians({name: {} for name in _MEDIAN_COLUMNS}, dict.fromkeys(_MEDIAN_COLUMNS))
    for name, column in _MEDIAN_COLUMNS.items():
        for partition in (day, None):
            over = {"partition_by": partition} if partition is not None else {}
            ranked = (
                select(
                    (partition if partition is not None else literal(0)).label("day"),
                    cast(column, Float).label("v"),
                    func.row_number().over(order_by=column, **over).label("rn"),
                    func.count().over(**over).label("n"),
                )
                .where(in_scope, column.is_not(None))
                .subquery()
            )
            middle = [(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]  # the one or two middle rows
            for d, value in session.execute(
                select(ranked.c.day, func.avg(ranked.c.v)).where(ranked.c.rn.in_(middle)).group_by(ranked.c.day)
            ):
                if partition is None:
                    out.total[name] = value
                else:
                    out.by_day[name][d] = value
    return out


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
