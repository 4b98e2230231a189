"""statistics on the tickets' UTC creation day

The reports count a period's tickets per UTC day and category. Without statistics on that
expression PostgreSQL takes every ticket for its own group (1,000,000 estimated groups for a
year instead of ~1,500) and plans a serial aggregate; with them it plans a parallel hash
aggregate, about twice as fast (bench/tickets.py, docs/benchmarks.md "Ticket core"). The expression
must match ``reports._by_day``'s exactly. SQLite has no such statistics; nothing to do there.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE STATISTICS IF NOT EXISTS stx_tickets_day_category "
            "ON (CAST(timezone('UTC', created_at) AS DATE)), category FROM tickets"
        )
        op.execute("ANALYZE tickets")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS stx_tickets_day_category")
