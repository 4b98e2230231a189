"""Statistics for supervisors: volumes, SLA compliance, response times, objections, CSAT, escalations,
top recurring topics per sector. Every figure is computed in SQL (counts, medians), never by loading
tickets into Python; only the small grouped results are shaped here.

Working hours are hours that fall on working days (data/calendar.yml), the measure the SLA uses;
they are stored on each ticket when the first response and the resolution happen.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, select
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
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "totals": _totals(session, in_period, now),
        "by_category": _counts(session, t.category, in_period),
        "by_channel": _counts(session, t.channel, in_period),
        "by_unit": {
            tree.by_id[k].key if k in tree.by_id else str(k): v
            for k, v in _counts(session, t.unit_id, in_period).items()
        },
        "by_day": _by_day(session, in_period),
        "by_level": {str(k): v for k, v in _counts(session, t.escalation_level, in_period).items()},
        "median_first_response_working_h": _median(session, t.first_response_working_h, in_period),
        "median_resolution_working_h": _median(session, t.resolution_working_h, in_period),
        "csat": _csat(session, period, unit_ids),
        "top_topics_by_sector": _topics(session, in_period, tree, top),
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
    total, responded, on_time, late_open, objected, answered_now, escalated = (int(v or 0) for v in row)
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


def _by_day(session: Session, in_period: Any) -> list[dict[str, Any]]:
    # Days are UTC days of creation; both databases can group by the date part of the timestamp.
    day = func.date(Ticket.created_at)
    rows = session.execute(
        select(day, Ticket.category, func.count()).where(in_period).group_by(day, Ticket.category).order_by(day)
    )
    out: dict[str, dict[str, int]] = {}
    for d, category, n in rows:
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


def _topics(session: Session, in_period: Any, tree: OrgTree, top: int) -> dict[str, list[dict[str, Any]]]:
    topic = func.coalesce(Ticket.service_key, Ticket.category)
    rows = session.execute(select(Ticket.unit_id, topic, func.count()).where(in_period).group_by(Ticket.unit_id, topic))
    per_sector: dict[str, dict[str, int]] = {}
    for unit_id, name, n in rows:
        bucket = per_sector.setdefault(sector_of(tree, unit_id), {})
        bucket[name] = bucket.get(name, 0) + int(n)
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
