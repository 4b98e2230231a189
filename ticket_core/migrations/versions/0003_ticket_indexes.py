"""ticket indexes for the inbox, its search and the open-ticket views (1M-ticket benchmark)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 17:00:00

Measured with bench/tickets.py on 1,000,000 tickets (docs/benchmarks.md, "Ticket core"):

- ix_tickets_unit_due (unit_id, due_at, id): a unit's tickets in the inbox's order (due time, then
  id), so a filtered page stops after 50 rows instead of sorting the whole unit.
- ix_tickets_due (due_at, id): the same order across units, for a supervisor's or an
  administrator's inbox (a scope of many units cannot walk one unit's index in order).
- ix_tickets_open_due (due_at, id), open tickets only (partial): the open and SLA views (overdue,
  due soon) read only open tickets, ~2% of the table and all at the far end of the due-time
  order, where walking ix_tickets_due would first pass every closed ticket.
- Trigram indexes (pg_trgm, PostgreSQL only) for the inbox search, `ILIKE '%words%'` on the
  subject and the citizen's name and `LIKE '%digits%'` on the phone. On SQLite the same names are
  empty placeholders (`WHERE 0`), so both databases have the models' schema.

The partial predicate lists the statuses of this revision; a status added later is
simply not in ix_tickets_open_due (queries stay right, that view gets slower until an index is
added for it). On PostgreSQL the indexes are built inside the migration's transaction, which
blocks writes to tickets and beneficiaries while they build (25 s in all on 1M tickets, 2 cores);
on a larger live database build them beforehand with CREATE INDEX CONCURRENTLY, same names.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The open statuses at the time of this migration (ticket_core.models.OPEN_TICKET_STATUSES).
OPEN = "status IN ('assigned', 'escalated', 'in_progress', 'new', 'objected', 'reopened')"
TRIGRAM = (
    ('tickets', 'ix_tickets_subject_trgm', 'subject'),
    ('beneficiaries', 'ix_beneficiaries_display_name_trgm', 'display_name'),
    ('beneficiaries', 'ix_beneficiaries_phone_trgm', 'phone'),
)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_unit_due', ['unit_id', 'due_at', 'id'], unique=False)
        batch_op.create_index('ix_tickets_due', ['due_at', 'id'], unique=False)
        batch_op.create_index(
            'ix_tickets_open_due',
            ['due_at', 'id'],
            unique=False,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )
    if postgresql:
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    for table, name, column in TRIGRAM:
        op.create_index(
            name,
            table,
            [column],
            unique=False,
            postgresql_using='gin',
            postgresql_ops={column: 'gin_trgm_ops'},
            sqlite_where=sa.text('0'),
        )


def downgrade() -> None:
    for table, name, _ in TRIGRAM:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_open_due')
        batch_op.drop_index('ix_tickets_due')
        batch_op.drop_index('ix_tickets_unit_due')
    # pg_trgm stays installed: other objects may use it, and it costs nothing unused.
