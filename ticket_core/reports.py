"""Statistics for supervisors: volumes, SLA compliance, response times, objections, CSAT, escalations,
top recurring topics per sector. Every figure is computed in SQL (counts, medians), never by loading
tickets into Python; only the small grouped results are shaped here.

Working hours are hours that fall on working days (data/calendar.yml), the measure the SLA uses;
they are stored on each ticket when the first response and the resolution happen.

On PostgreSQL the totals and the counts by category, channel, level and unit come from one pass
over the period's tickets (grouped finely, then rolled up with GROUPING SETS), both medians from
one, the CSAT figures from one: a year is a million tickets, and each pass over them costs about
as much as the next, so the number of passes is the cost (measured in docs/benchmarks.md, "Ticket
core"). SQLite keeps one plain statement per figure.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Date, Float, and_, case, cast, func, select, text, tuple_
from sqlalchemy.orm import Session

from ticket_core.models import CsatRating, Ticket, TicketStatus
from ticket_core.org import OrgTree

_ANSWERED = [s.value for s in (TicketStatus.ANSWERED, TicketStatus.CLOSED)]


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive


def report(
    session: Session,
    period: Period,
    tree: OrgTree,
    *,
    now: datetime,
    unit_ids: frozenset[int] | None = None,
    top: int = 5,
) -> dict[str, Any]:
    """The whole report set for tickets opened in ``period`` (limited to ``unit_ids`` if given)."""
    t = Ticket
    in_period = and_(t.created_at >= period.start, t.created_at < period.end)
    if unit_ids is not None:
        in_period = and_(in_period, t.unit_id.in_(sorted(unit_ids)))
    if session.get_bind().dialect.name == "postgresql":
        # Planned for this period and scope every time (a generic plan, which the driver's prepared
        # statements lead to, cannot use the partial index of urgent tickets).
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        # The medians sort every value of the period (a million for a year): in memory, not on disk.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        counted = _counts_at_once(session, in_period, now)
        totals, by_category, by_channel = counted["totals"], counted["by_category"], counted["by_channel"]
        by_unit, by_level = counted["by_unit"], counted["by_level"]
        median_first_response, median_resolution = _medians(session, in_period)
        csat = _csat_at_once(session, period, unit_ids)
    else:
        totals = _totals(session, in_period, now)
        by_category = _counts(session, t.category, in_period)
        by_channel = _counts(session, t.channel, in_period)
        by_unit = _counts(session, t.unit_id, in_period)
        by_level = _counts(session, t.escalation_level, in_period)
        median_first_response = _median(session, t.first_response_working_h, in_period)
        median_resolution = _median(session, t.resolution_working_h, in_period)
        csat = _csat(session, period, unit_ids)
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "totals": totals,
        "by_category": by_category,
        "by_channel": by_channel,
        "by_unit": {tree.by_id[k].key if k in tree.by_id else str(k): v for k, v in by_unit.items()},
        "by_day": _by_day(session, in_period),
        "by_level": {str(k): v for k, v in by_level.items()},
        "median_first_response_working_h": median_first_response,
        "median_resolution_working_h": median_resolution,
        "csat": csat,
        "top_topics_by_sector": _topics(_topic_counts(session, in_period), tree, top),
        "urgent": _urgent(session, in_period, tree),
    }


def _totals(session: Session, in_period: Any, now: datetime) -> dict[str, Any]:
    t = Ticket
    answered = t.first_response_at.is_not(None)
    row = session.execute(
        select(
            func.count(),
            func.sum(case((answered, 1), else_=0)),
            func.sum(case((and_(answered, t.first_response_at <= t.first_due_at), 1), else_=0)),
            # still unanswered and already past the promise: a breach too
            func.sum(
                case((and_(~answered, t.first_due_at < now, t.status != TicketStatus.CANCELLED.value), 1), else_=0)
            ),
            func.sum(case((t.objection_count > 0, 1), else_=0)),
            func.sum(case((t.status.in_(_ANSWERED), 1), else_=0)),
            func.sum(case((t.escalation_level > 0, 1), else_=0)),
        ).where(in_period)
    ).one()
    return _shape_totals(*(int(v or 0) for v in row))


def _shape_totals(
    total: int, responded: int, on_time: int, late_open: int, objected: int, answered_now: int, escalated: int
) -> dict[str, Any]:
    judged = responded + late_open
    return {
        "tickets": total,
        "responded": responded,
        "sla_compliance": round(on_time / judged, 4) if judged else None,
        "sla_met": on_time,
        "sla_breached": judged - on_time,
        "answered": answered_now,
        "objection_rate": round(objected / responded, 4) if responded else None,
        "objected": objected,
        "escalated": escalated,
    }


def _counts(session: Session, column: Any, in_period: Any) -> dict[Any, int]:
    rows = session.execute(select(column, func.count()).where(in_period).group_by(column).order_by(func.count().desc()))
    return {(k.value if hasattr(k, "value") else k): int(v) for k, v in rows}


# Bits of GROUPING(category, channel, escalation_level, unit_id): 1 where a column is rolled up.
_BY_CATEGORY, _BY_CHANNEL, _BY_LEVEL, _BY_UNIT, _OVERALL = 0b0111, 0b1011, 0b1101, 0b1110, 0b1111


def _counts_at_once(session: Session, in_period: Any, now: datetime) -> dict[str, Any]:
    """PostgreSQL: _totals and the four _counts in one pass over the period's tickets.

    The tickets are counted per (category, channel, level, unit), a few thousand groups whatever
    the period (a parallel hash aggregate), and those are rolled up with GROUPING SETS. The
    conditions are _totals' own, as FILTERs; the counts are ordered as _counts orders them.
    """
    t = Ticket
    answered = t.first_response_at.is_not(None)
    fine = (
        select(
            t.category,
            t.channel,
            t.escalation_level,
            t.unit_id,
            func.count().label("n"),
            func.count().filter(answered).label("responded"),
            func.count().filter(and_(answered, t.first_response_at <= t.first_due_at)).label("on_time"),
            func.count()
            .filter(and_(~answered, t.first_due_at < now, t.status != TicketStatus.CANCELLED.value))
            .label("late_open"),
            func.count().filter(t.objection_count > 0).label("objected"),
            func.count().filter(t.status.in_(_ANSWERED)).label("answered"),
            func.count().filter(t.escalation_level > 0).label("escalated"),
        )
        .where(in_period)
        .group_by(t.category, t.channel, t.escalation_level, t.unit_id)
        .cte("fine")
    )
    f = fine.c
    keys = (f.category, f.channel, f.escalation_level, f.unit_id)
    sums = (f.n, f.responded, f.on_time, f.late_open, f.objected, f.answered, f.escalated)
    rows = session.execute(
        select(func.grouping(*keys), *keys, *(func.sum(c) for c in sums)).group_by(
            func.grouping_sets(*(tuple_(k) for k in keys), tuple_())
        )
    ).all()
    counts: dict[int, list[tuple[Any, int]]] = {g: [] for g in (_BY_CATEGORY, _BY_CHANNEL, _BY_LEVEL, _BY_UNIT)}
    totals = _shape_totals(0, 0, 0, 0, 0, 0, 0)
    for g, category, channel, level, unit_id, *figures in rows:
        if g == _OVERALL:
            totals = _shape_totals(*(int(v or 0) for v in figures))
        else:
            key = {_BY_CATEGORY: category, _BY_CHANNEL: channel, _BY_LEVEL: level, _BY_UNIT: unit_id}[g]
            counts[g].append((key, int(figures[0])))

    def most_first(pairs: list[tuple[Any, int]]) -> dict[Any, int]:
        return dict(sorted(pairs, key=lambda kv: (-kv[1], str(kv[0]))))

    return {
        "totals": totals,
        "by_category": most_first(counts[_BY_CATEGORY]),
        "by_channel": most_first(counts[_BY_CHANNEL]),
        "by_unit": most_first(counts[_BY_UNIT]),
        "by_level": most_first(counts[_BY_LEVEL]),
    }


def _medians(session: Session, in_period: Any) -> tuple[float | None, float | None]:
    """PostgreSQL: both of _median's figures in one pass (percentile_cont skips NULLs as it does)."""
    t = Ticket
    first, resolution = session.execute(
        select(
            func.percentile_cont(0.5).within_group(t.first_response_working_h),
            func.percentile_cont(0.5).within_group(t.resolution_working_h),
        ).where(in_period)
    ).one()
    return (
        round(float(first), 2) if first is not None else None,
        round(float(resolution), 2) if resolution is not None else None,
    )


def _csat_at_once(session: Session, period: Period, unit_ids: frozenset[int] | None) -> dict[str, Any]:
    """PostgreSQL: _csat's figures in one statement (per score, and overall, with GROUPING SETS)."""
    c = CsatRating
    in_period = and_(c.created_at >= period.start, c.created_at < period.end)
    if unit_ids is not None:
        in_period = and_(in_period, c.ticket_id.in_(select(Ticket.id).where(Ticket.unit_id.in_(sorted(unit_ids)))))
    rows = session.execute(
        select(func.grouping(c.score), c.score, func.count(), func.avg(c.score))
        .where(in_period)
        .group_by(func.grouping_sets(tuple_(c.score), tuple_()))
    ).all()
    count, average = next(((n, avg) for g, _, n, avg in rows if g == 1), (0, None))
    distribution = {score: n for g, score, n, _ in rows if g == 0}
    return {
        "ratings": int(count or 0),
        "average": round(float(average), 2) if average is not None else None,
        "distribution": {str(score): int(distribution.get(score, 0)) for score in range(1, 6)},
    }


def _by_day(session: Session, in_period: Any) -> list[dict[str, Any]]:
    # Days are UTC days of creation. SQLite stores UTC text, so its date() is the UTC day; on
    # PostgreSQL the expression names UTC (date() would follow the session's time zone) and is
    # the one migration 0006 keeps statistics on, so the planner knows a year has ~365 days and
    # hashes in parallel. The groups are put in order here, not in SQL (ordering in SQL made
    # PostgreSQL sort the period's tickets to group them).
    if session.get_bind().dialect.name == "postgresql":
        day: Any = cast(func.timezone("UTC", Ticket.created_at), Date)
    else:
        day = func.date(Ticket.created_at)
    rows = session.execute(select(day, Ticket.category, func.count()).where(in_period).group_by(day, Ticket.category))
    out: dict[str, dict[str, int]] = {}
    for d, category, n in sorted(rows, key=lambda row: (str(row[0]), str(row[1]))):
        out.setdefault(str(d), {})[category] = int(n)
    return [{"day": d, **counts, "total": sum(counts.values())} for d, counts in out.items()]


def _median(session: Session, column: Any, in_period: Any) -> float | None:
    has = and_(in_period, column.is_not(None))
    if session.get_bind().dialect.name == "postgresql":
        value = session.execute(select(func.percentile_cont(0.5).within_group(column)).where(has)).scalar()
        return round(float(value), 2) if value is not None else None
    n = session.execute(select(func.count()).where(has)).scalar_one()
    if not n:
        return None
    # SQLite has no percentile: the middle one or two values by OFFSET, still without loading rows.
    middle = (
        session.execute(
            select(cast(column, Float)).where(has).order_by(column).offset((n - 1) // 2).limit(2 if n % 2 == 0 else 1)
        )
        .scalars()
        .all()
    )
    return round(sum(middle) / len(middle), 2)


def _csat(session: Session, period: Period, unit_ids: frozenset[int] | None) -> dict[str, Any]:
    c = CsatRating
    in_period = and_(c.created_at >= period.start, c.created_at < period.end)
    if unit_ids is not None:
        in_period = and_(in_period, c.ticket_id.in_(select(Ticket.id).where(Ticket.unit_id.in_(sorted(unit_ids)))))
    count, average = session.execute(select(func.count(), func.avg(c.score)).where(in_period)).one()
    distribution = dict(session.execute(select(c.score, func.count()).where(in_period).group_by(c.score)).all())
    return {
        "ratings": int(count or 0),
        "average": round(float(average), 2) if average is not None else None,
        "distribution": {str(score): int(distribution.get(score, 0)) for score in range(1, 6)},
    }


def sector_of(tree: OrgTree, unit_id: int) -> str:
    """The unit's sector: its ancestor just below the root (e.g. the universities deputy ministry)."""
    chain = [tree.by_id[unit_id], *tree.ancestors(unit_id)] if unit_id in tree.by_id else []
    if len(chain) >= 2:
        return chain[-2].key
    return chain[0].key if chain else "unknown"


def _topic_counts(session: Session, in_period: Any) -> list[tuple[int, str, int]]:
    topic = func.coalesce(Ticket.service_key, Ticket.category)
    rows = session.execute(select(Ticket.unit_id, topic, func.count()).where(in_period).group_by(Ticket.unit_id, topic))
    return [(unit_id, name, int(n)) for unit_id, name, n in rows]


def _topics(per_unit: list[tuple[int, str, int]], tree: OrgTree, top: int) -> dict[str, list[dict[str, Any]]]:
    """The most frequent topics (sub-service, else category) per sector, from counts per unit and topic."""
    per_sector: dict[str, dict[str, int]] = {}
    for unit_id, name, n in per_unit:
        bucket = per_sector.setdefault(sector_of(tree, unit_id), {})
        bucket[name] = bucket.get(name, 0) + n
    return {
        sector: [{"topic": k, "tickets": v} for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
        for sector, counts in sorted(per_sector.items())
    }


def _minutes(session: Session, start: Any, end: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 60.0
    return (func.julianday(end) - func.julianday(start)) * 1440.0


def _urgent(session: Session, in_period: Any, tree: OrgTree) -> dict[str, Any]:
    """Urgent tickets (danger signalled) per sector: how many, how fast a person answered (minutes,
    day and night), how many within their urgent SLA. Counts and times only: no personal data."""
    t = Ticket
    is_urgent = and_(in_period, t.priority == "urgent")
    minutes = _minutes(session, t.created_at, t.first_response_at)
    rows = session.execute(
        select(
            t.unit_id,
            func.count(),
            func.sum(case((t.first_response_at.is_not(None), 1), else_=0)),
            func.sum(case((t.first_response_at <= t.first_due_at, 1), else_=0)),
        )
        .where(is_urgent)
        .group_by(t.unit_id)
    ).all()
    sectors: dict[str, dict[str, Any]] = {}
    for unit_id, total, responded, on_time in rows:
        entry = sectors.setdefault(sector_of(tree, unit_id), {"tickets": 0, "responded": 0, "within_sla": 0})
        entry["tickets"] += int(total or 0)
        entry["responded"] += int(responded or 0)
        entry["within_sla"] += int(on_time or 0)
    median = _median_expr(session, minutes, and_(is_urgent, t.first_response_at.is_not(None)))
    return {"by_sector": dict(sorted(sectors.items())), "median_first_response_minutes": median}


def _median_expr(session: Session, expression: Any, where: Any) -> float | None:
    if session.get_bind().dialect.name == "postgresql":
        value = session.execute(select(func.percentile_cont(0.5).within_group(expression)).where(where)).scalar()
        return round(float(value), 1) if value is not None else None
    n = session.execute(select(func.count()).where(where)).scalar_one()
    if not n:
        return None
    middle = (
        session.execute(
            select(expression).where(where).order_by(expression).offset((n - 1) // 2).limit(2 if n % 2 == 0 else 1)
        )
        .scalars()
        .all()
    )
    return round(sum(float(m) for m in middle) / len(middle), 1)


def to_csv(data: dict[str, Any]) -> str:
    """The report as one CSV in long form: section, key, value (opens in any spreadsheet)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["section", "key", "value"])
    for key, value in data["totals"].items():
        writer.writerow(["totals", key, value])
    for section in ("by_category", "by_channel", "by_unit", "by_level"):
        for key, value in data[section].items():
            writer.writerow([section, key, value])
    for row in data["by_day"]:
        for key, value in row.items():
            if key != "day":
                writer.writerow(["by_day", f"{row['day']}:{key}", value])
    writer.writerow(["times", "median_first_response_working_h", data["median_first_response_working_h"]])
    writer.writerow(["times", "median_resolution_working_h", data["median_resolution_working_h"]])
    for key, value in data["csat"]["distribution"].items():
        writer.writerow(["csat", f"score_{key}", value])
    writer.writerow(["csat", "average", data["csat"]["average"]])
    for sector, topics in data["top_topics_by_sector"].items():
        for item in topics:
            writer.writerow(["top_topics", f"{sector}:{item['topic']}", item["tickets"]])
    for sector, figures in data["urgent"]["by_sector"].items():
        for key, value in figures.items():
            writer.writerow(["urgent", f"{sector}:{key}", value])
    writer.writerow(["urgent", "median_first_response_minutes", data["urgent"]["median_first_response_minutes"]])
    return buffer.getvalue()
