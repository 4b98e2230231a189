"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 14:44:11.050480
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ticket_core.models
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('beneficiaries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('preferred_language', sa.String(length=8), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('created_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_beneficiaries'))
    )
    with op.batch_alter_table('beneficiaries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_beneficiaries_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_beneficiaries_phone'), ['phone'], unique=False)

    op.create_table('inbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('account_ref', sa.String(length=128), nullable=False),
    sa.Column('event_id', sa.String(length=256), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('status', sa.Enum('pending', 'done', 'ignored', 'failed', name='inboxstatus', native_enum=False, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('received_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('swept_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('event', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox')),
    sa.UniqueConstraint('channel', 'account_ref', 'event_id', name=op.f('uq_inbox_channel_account_ref_event_id'))
    )
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_status_received', ['status', 'received_at'], unique=False)

    op.create_table('units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('name_ar', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('is_triage', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['units.id'], name=op.f('fk_units_parent_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_units')),
    sa.UniqueConstraint('key', name=op.f('uq_units_key'))
    )
    op.create_table('channel_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('beneficiary_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('account_ref', sa.String(length=128), nullable=False),
    sa.Column('user_ref', sa.String(length=256), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('created_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['beneficiary_id'], ['beneficiaries.id'], name=op.f('fk_channel_identities_beneficiary_id_beneficiaries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_identities')),
    sa.UniqueConstraint('channel', 'account_ref', 'user_ref', name=op.f('uq_channel_identities_channel_account_ref_user_ref'))
    )
    with op.batch_alter_table('channel_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_identities_beneficiary_id'), ['beneficiary_id'], unique=False)

    op.create_table('conversations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('beneficiary_id', sa.Integer(), nullable=False),
    sa.Column('identity_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('account_ref', sa.String(length=128), nullable=False),
    sa.Column('thread_ref', sa.String(length=256), nullable=False),
    sa.Column('state', sa.Enum('bot', 'human', 'awaiting_rating', 'awaiting_objection_confirm', name='conversationstate', native_enum=False, length=32), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('last_inbound_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_outbound_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['beneficiary_id'], ['beneficiaries.id'], name=op.f('fk_conversations_beneficiary_id_beneficiaries')),
    sa.ForeignKeyConstraint(['identity_id'], ['channel_identities.id'], name=op.f('fk_conversations_identity_id_channel_identities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    sa.UniqueConstraint('channel', 'account_ref', 'thread_ref', name=op.f('uq_conversations_channel_account_ref_thread_ref'))
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversations_beneficiary_id'), ['beneficiary_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversations_identity_id'), ['identity_id'], unique=False)

    op.create_table('tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('beneficiary_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('new', 'assigned', 'in_progress', 'answered', 'objected', 'escalated', 'reopened', 'closed', 'cancelled', name='ticketstatus', native_enum=False, length=32), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('needs_triage', sa.Boolean(), nullable=False),
    sa.Column('nlu_confidence', sa.Float(), nullable=True),
    sa.Column('created_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_response_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['beneficiary_id'], ['beneficiaries.id'], name=op.f('fk_tickets_beneficiary_id_beneficiaries')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_tickets_conversation_id_conversations')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_tickets_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets')),
    sa.UniqueConstraint('number', name=op.f('uq_tickets_number'))
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_beneficiary_status', ['beneficiary_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index('ix_tickets_status_due', ['status', 'due_at'], unique=False)
        batch_op.create_index('ix_tickets_unit_status', ['unit_id', 'status'], unique=False)

    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_audit_events_conversation_id_conversations')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_audit_events_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('account_ref', sa.String(length=128), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('author', sa.Enum('citizen', 'bot', 'coordinator', 'system', name='author', native_enum=False, length=32), nullable=False),
    sa.Column('thread_ref', sa.String(length=256), nullable=False),
    sa.Column('user_ref', sa.String(length=256), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sending', 'retry', 'sent', 'dead', 'manual', name='outboxstatus', native_enum=False, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('parts_sent', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_until', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('platform_message_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('swept_at', ticket_core.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_outbox_conversation_id_conversations')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_outbox_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index('ix_outbox_status_next', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('direction', sa.Enum('in', 'out', name='direction', native_enum=False, length=32), nullable=False),
    sa.Column('author', sa.Enum('citizen', 'bot', 'coordinator', 'system', name='author', native_enum=False, length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('intent', sa.String(length=32), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('entities', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('attachments', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('inbox_id', sa.Integer(), nullable=True),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('platform_message_id', sa.String(length=256), nullable=True),
    sa.Column('reply_to_ref', sa.String(length=256), nullable=True),
    sa.Column('created_at', ticket_core.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_messages_conversation_id_conversations')),
    sa.ForeignKeyConstraint(['inbox_id'], ['inbox.id'], name=op.f('fk_messages_inbox_id_inbox')),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_messages_outbox_id_outbox')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_messages_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('inbox_id', name=op.f('uq_messages_inbox_id'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_outbox_id'), ['outbox_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_ticket_id'), ['ticket_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_messages_outbox_id'))
        batch_op.drop_index(batch_op.f('ix_messages_conversation_id'))

    op.drop_table('messages')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_ticket_id'))
        batch_op.drop_index('ix_outbox_status_next')
        batch_op.drop_index(batch_op.f('ix_outbox_conversation_id'))

    op.drop_table('outbox')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))

    op.drop_table('audit_events')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_unit_status')
        batch_op.drop_index('ix_tickets_status_due')
        batch_op.drop_index(batch_op.f('ix_tickets_conversation_id'))
        batch_op.drop_index('ix_tickets_beneficiary_status')

    op.drop_table('tickets')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversations_identity_id'))
        batch_op.drop_index(batch_op.f('ix_conversations_beneficiary_id'))

    op.drop_table('conversations')
    with op.batch_alter_table('channel_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_identities_beneficiary_id'))

    op.drop_table('channel_identities')
    op.drop_table('units')
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_status_received')

    op.drop_table('inbox')
    with op.batch_alter_table('beneficiaries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_beneficiaries_phone'))
        batch_op.drop_index(batch_op.f('ix_beneficiaries_email'))

    op.drop_table('beneficiaries')
