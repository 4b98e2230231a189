"""urgent tickets of a period

The reports' urgent section (issue 8) reads the period's urgent tickets, under 1% of all tickets:
a partial index on created_at for priority = 'urgent' lets it skip the rest (bench/tickets.py on
1,000,000 tickets, docs/benchmarks.md "Ticket core").

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

URGENT = "priority = 'urgent'"


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tickets_urgent_created",
            ["created_at"],
            unique=False,
            postgresql_where=sa.text(URGENT),
            sqlite_where=sa.text(URGENT),
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_urgent_created")
