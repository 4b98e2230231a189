"""organisation, people, sla and quality

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:40:06.327208
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ticket_core.models
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('name_ar', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('coordinator', 'supervisor', 'admin', name='role', native_enum=False, length=32), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('on_duty', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('auth_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_auth_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_sessions'))
    )
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('canned_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('title_ar', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('text_ar', sa.Text(), nullable=False),
    sa.Column('text_en', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_canned_responses_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_responses')),
    sa.UniqueConstraint('key', name=op.f('uq_canned_responses_key'))
    )
    op.create_table('unit_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('head', 'coordinator', 'supervisor', name='memberrole', native_enum=False, length=32), nullable=False),
    sa.Column('last_assigned_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_unit_members_unit_id_units')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_unit_members_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_members')),
    sa.UniqueConstraint('unit_id', 'user_id', 'role', name=op.f('uq_unit_members_unit_id_user_id_role'))
    )
    with op.batch_alter_table('unit_members', schema=None) as batch_op:
        batch_op.create_index('ix_unit_members_user', ['user_id'], unique=False)

    op.create_table('csat_ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('created_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_csat_ratings_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_csat_ratings'))
    )
    with op.batch_alter_table('csat_ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_csat_ratings_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_csat_ratings_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('created_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_notifications_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_unread', ['user_id', 'read_at'], unique=False)

    op.create_table('quality_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('scores', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('sent_back', sa.Boolean(), nullable=False),
    sa.Column('created_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reviewed_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_quality_reviews_reviewer_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_quality_reviews_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_reviews'))
    )
    with op.batch_alter_table('quality_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_quality_reviews_status', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_quality_reviews_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_action_at', ['action', 'at'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_messages_user_id_users'), 'users', ['user_id'], ['id'])

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('service_key', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('objection_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('first_due_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('paused_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_remaining_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('last_escalated_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('first_response_working_h', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('resolution_working_h', sa.Float(), nullable=True))
        batch_op.create_index('ix_tickets_assignee_status', ['assignee_id', 'status'], unique=False)
        batch_op.create_index('ix_tickets_created', ['created_at'], unique=False)
        batch_op.create_index('ix_tickets_unit_created', ['unit_id', 'created_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_tickets_assignee_id_users'), 'users', ['assignee_id'], ['id'])

    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('urgent_duty', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('head_user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('coordinator_cap', sa.Integer(), nullable=False, server_default='40'))
        batch_op.add_column(sa.Column('calendar', sa.String(length=40), nullable=False, server_default='default'))
        batch_op.add_column(sa.Column('matches', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default='[]'))
        batch_op.create_index(batch_op.f('ix_units_parent_id'), ['parent_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_units_head_user_id_users'), 'users', ['head_user_id'], ['id'], use_alter=True)



def downgrade() -> None:
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_units_head_user_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_units_parent_id'))
        batch_op.drop_column('matches')
        batch_op.drop_column('calendar')
        batch_op.drop_column('coordinator_cap')
        batch_op.drop_column('head_user_id')
        batch_op.drop_column('urgent_duty')

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tickets_assignee_id_users'), type_='foreignkey')
        batch_op.drop_index('ix_tickets_unit_created')
        batch_op.drop_index('ix_tickets_created')
        batch_op.drop_index('ix_tickets_assignee_status')
        batch_op.drop_column('resolution_working_h')
        batch_op.drop_column('first_response_working_h')
        batch_op.drop_column('last_escalated_at')
        batch_op.drop_column('sla_remaining_s')
        batch_op.drop_column('paused_at')
        batch_op.drop_column('first_due_at')
        batch_op.drop_column('objection_count')
        batch_op.drop_column('service_key')
        batch_op.drop_column('assignee_id')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_messages_user_id_users'), type_='foreignkey')
        batch_op.drop_column('user_id')

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_action_at')

    with op.batch_alter_table('quality_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quality_reviews_ticket_id'))
        batch_op.drop_index('ix_quality_reviews_status')

    op.drop_table('quality_reviews')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_unread')

    op.drop_table('notifications')
    with op.batch_alter_table('csat_ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_csat_ratings_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_csat_ratings_created_at'))

    op.drop_table('csat_ratings')
    with op.batch_alter_table('unit_members', schema=None) as batch_op:
        batch_op.drop_index('ix_unit_members_user')

    op.drop_table('unit_members')
    op.drop_table('canned_responses')
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_sessions_user_id'))

    op.drop_table('auth_sessions')
    op.drop_table('users')
