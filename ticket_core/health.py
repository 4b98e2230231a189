"""Channel health: the last success and the last error of sending on each channel.

Updated by the delivery service once per batch and channel (an upsert), read by `tawasul channels`
and the console's settings page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ticket_core.models import ChannelHealth, table, utcnow

_health = table(ChannelHealth)


def record(
    session: Session, channel: str, *, sent: int, failed: int, last_error: str | None, at: datetime | None = None
) -> None:
    """Add a batch's results for ``channel``."""
    if not sent and not failed:
        return
    at = at or utcnow()
    conn = session.connection()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values: dict[str, Any] = {
        "channel": channel,
        "sent": sent,
        "failed": failed,
        "updated_at": at,
        "last_success_at": at if sent else None,
        "last_error_at": at if failed else None,
        "last_error": last_error[:2000] if failed and last_error else None,
    }
    stmt = insert(_health).values(**values)
    changes: dict[str, Any] = {
        "sent": _health.c.sent + sent,
        "failed": _health.c.failed + failed,
        "updated_at": at,
    }
    if sent:
        changes["last_success_at"] = at
    if failed:
        changes["last_error_at"] = at
        changes["last_error"] = values["last_error"]
    conn.execute(stmt.on_conflict_do_update(index_elements=["channel"], set_=changes))


def all_health(session: Session) -> dict[str, dict[str, Any]]:
    rows = session.execute(select(ChannelHealth)).scalars()
    return {
        row.channel: {
            "last_success_at": row.last_success_at.isoformat() if row.last_success_at else None,
            "last_error_at": row.last_error_at.isoformat() if row.last_error_at else None,
            "last_error": row.last_error,
            "sent": row.sent,
            "failed": row.failed,
        }
        for row in rows
    }
