"""SQLAlchemy models: the hub's whole persistent state.

Times are stored in UTC and always come back timezone-aware (``UTCDateTime``), on SQLite too.
Status-like columns are short strings validated against the enums below.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC; SQLite returns naive values, which we mark as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table(model: type[Base]) -> Table:
    """The Core table of a model, for the hot-path statements written in Core."""
    return cast(Table, model.__table__)


# --- vocabularies --------------------------------------------------------------------------------


class InboxStatus(enum.StrEnum):
    PENDING = "pending"  # stored, not yet processed (or processing failed and will be retried)
    DONE = "done"
    IGNORED = "ignored"  # stored for audit, nothing to do (echoes, receipts, unsupported updates)
    FAILED = "failed"  # gave up after intake_max_attempts; visible in `tawasul inbox --failed`


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker (lease_until says until when)
    RETRY = "retry"  # a retryable failure; next_attempt_at says when
    SENT = "sent"
    DEAD = "dead"  # terminal failure or attempts exhausted: a person must look at it
    MANUAL = "manual"  # the channel has no send API; a coordinator sends it by hand


class TicketStatus(enum.StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    OBJECTED = "objected"
    ESCALATED = "escalated"
    REOPENED = "reopened"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_TICKET_STATUSES = frozenset(
    {
        TicketStatus.NEW,
        TicketStatus.ASSIGNED,
        TicketStatus.IN_PROGRESS,
        TicketStatus.OBJECTED,
        TicketStatus.ESCALATED,
        TicketStatus.REOPENED,
    }
)


class Role(enum.StrEnum):
    """What a person may do in the hub (scope comes from their unit memberships)."""

    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class MemberRole(enum.StrEnum):
    """A person's place in one unit: the head is the unit's rung on the escalation ladder."""

    HEAD = "head"
    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"
    NOTE = "note"  # internal: seen by staff, never sent


class Author(enum.StrEnum):
    CITIZEN = "citizen"
    BOT = "bot"
    COORDINATOR = "coordinator"
    SYSTEM = "system"


class ConversationState(enum.StrEnum):
    BOT = "bot"
    HUMAN = "human"
    AWAITING_RATING = "awaiting_rating"
    AWAITING_OBJECTION_CONFIRM = "awaiting_objection_confirm"


def _enum_values(enum_cls: type[enum.StrEnum]) -> list[str]:
    return [m.value for m in enum_cls]


def status_column(enum_cls: type[enum.StrEnum], default: enum.StrEnum) -> Mapped[Any]:
    from sqlalchemy import Enum as SAEnum

    return mapped_column(
        SAEnum(
            enum_cls,
            native_enum=False,
            create_constraint=False,
            length=32,
            values_callable=_enum_values,
            validate_strings=True,
        ),
        default=default,
        nullable=False,
    )


# --- organisation ---------------------------------------------------------------------------------


class Unit(Base):
    """An organisational unit (ministry, directorate, university, region office, care centre)."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name_ar: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    is_triage: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    head_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", use_alter=True))
    coordinator_cap: Mapped[int] = mapped_column(Integer, default=40)
    calendar: Mapped[str] = mapped_column(String(40), default="default")
    matches: Mapped[list[str]] = mapped_column(JSONType, default=list)  # gazetteer keys routed here

    parent: Mapped[Unit | None] = relationship(remote_side=[id])


class User(Base):
    """A coordinator, supervisor or administrator; which tickets they see comes from their units."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    name_ar: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = status_column(Role, Role.COORDINATOR)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None: cannot log in until set
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UnitMember(Base):
    __tablename__ = "unit_members"
    __table_args__ = (UniqueConstraint("unit_id", "user_id", "role"), Index("ix_unit_members_user", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[MemberRole] = status_column(MemberRole, MemberRole.COORDINATOR)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # round robin on ties


class AuthSession(Base):
    """A signed-in session; only a hash of its token is stored."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- people and conversations ----------------------------------------------------------------------


class Beneficiary(Base):
    """One citizen, whatever channels they use."""

    __tablename__ = "beneficiaries"
    __table_args__ = (
        # Inbox search (ILIKE '%name%', LIKE '%digits%'): trigram indexes on PostgreSQL; SQLite has
        # no trigram index, so there the same names are empty placeholders (WHERE 0).
        Index(
            "ix_beneficiaries_display_name_trgm",
            "display_name",
            postgresql_using="gin",
            postgresql_ops={"display_name": "gin_trgm_ops"},
            sqlite_where=text("0"),
        ),
        Index(
            "ix_beneficiaries_phone_trgm",
            "phone",
            postgresql_using="gin",
            postgresql_ops={"phone": "gin_trgm_ops"},
            sqlite_where=text("0"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    preferred_language: Mapped[str] = mapped_column(String(8), default="ar")
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ChannelIdentity(Base):
    """A beneficiary's account on one channel (Telegram user id, portal user id, ...)."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "account_ref", "user_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    account_ref: Mapped[str] = mapped_column(String(128))
    user_ref: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    beneficiary: Mapped[Beneficiary] = relationship()


class Conversation(Base):
    """A thread with one identity on one channel; replies go back on it."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "account_ref", "thread_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    account_ref: Mapped[str] = mapped_column(String(128))
    thread_ref: Mapped[str] = mapped_column(String(256))
    state: Mapped[ConversationState] = status_column(ConversationState, ConversationState.BOT)
    language: Mapped[str] = mapped_column(String(8), default="ar")
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_outbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    identity: Mapped[ChannelIdentity] = relationship()


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_unit_status", "unit_id", "status"),
        Index("ix_tickets_unit_created", "unit_id", "created_at"),
        Index("ix_tickets_beneficiary_status", "beneficiary_id", "status"),
        Index("ix_tickets_status_due", "status", "due_at"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        Index("ix_tickets_created", "created_at"),
        # The inbox order (due time, then id): per unit, across units, and for open tickets only.
        Index("ix_tickets_unit_due", "unit_id", "due_at", "id"),
        Index("ix_tickets_due", "due_at", "id"),
        Index(
            "ix_tickets_open_due",
            "due_at",
            "id",
            postgresql_where=text("status IN ('assigned', 'escalated', 'in_progress', 'new', 'objected', 'reopened')"),
            sqlite_where=text("status IN ('assigned', 'escalated', 'in_progress', 'new', 'objected', 'reopened')"),
        ),
        # The reports' urgent section: urgent tickets of a period (under 1% of all tickets).
        Index(
            "ix_tickets_urgent_created",
            "created_at",
            postgresql_where=text("priority = 'urgent'"),
            sqlite_where=text("priority = 'urgent'"),
        ),
        # Inbox search in the subject (see Beneficiary for why SQLite gets a placeholder).
        Index(
            "ix_tickets_subject_trgm",
            "subject",
            postgresql_using="gin",
            postgresql_ops={"subject": "gin_trgm_ops"},
            sqlite_where=text("0"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    status: Mapped[TicketStatus] = status_column(TicketStatus, TicketStatus.NEW)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    service_key: Mapped[str | None] = mapped_column(String(80))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    objection_count: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str] = mapped_column(String(8), default="ar")
    subject: Mapped[str] = mapped_column(String(300), default="")
    needs_triage: Mapped[bool] = mapped_column(Boolean, default=False)
    nlu_confidence: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the promise made at opening
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # waiting for the citizen
    sla_remaining_s: Mapped[float | None] = mapped_column(Float)  # working seconds left when paused
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Working hours to first response and to resolution, computed once with the business calendar
    # when they happen, so reports can take medians in SQL.
    first_response_working_h: Mapped[float | None] = mapped_column(Float)
    resolution_working_h: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()
    conversation: Mapped[Conversation] = relationship()


class Message(Base):
    """One message in a conversation, in or out, kept with its original text."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[Direction] = status_column(Direction, Direction.IN)
    author: Mapped[Author] = status_column(Author, Author.CITIZEN)
    text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(8))
    intent: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[float | None] = mapped_column(Float)
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"), unique=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # the coordinator who wrote it
    platform_message_id: Mapped[str | None] = mapped_column(String(256))
    reply_to_ref: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEvent(Base):
    """Who did what, when and why: every ticket action writes one."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Notification(Base):
    """Something a person should know now (assignment, escalation, objection); the console shows it."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class CsatRating(Base):
    """A citizen's 1-5 rating of an answer, with an optional comment."""

    __tablename__ = "csat_ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class QualityReview(Base):
    """A supervisor's review (تجويد) of an answered ticket: low ratings and a random sample."""

    __tablename__ = "quality_reviews"
    __table_args__ = (Index("ix_quality_reviews_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    reason: Mapped[str] = mapped_column(String(20))  # low_csat | sample
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | done
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    scores: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # rubric criterion -> 1..5
    comment: Mapped[str | None] = mapped_column(Text)
    sent_back: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CannedResponse(Base):
    __tablename__ = "canned_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))  # None: every unit
    title_ar: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    text_ar: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)


class ChannelHealth(Base):
    """How sending on a channel has gone lately: shown by `tawasul channels` and the console."""

    __tablename__ = "channel_health"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- durable edges -----------------------------------------------------------------------------------


class InboxEvent(Base):
    """A raw inbound platform event, stored before the webhook is acknowledged."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "account_ref", "event_id"),
        Index("ix_inbox_status_received", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    account_ref: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[InboxStatus] = status_column(InboxStatus, InboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    swept_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    event: Mapped[dict[str, Any]] = mapped_column(JSONType)  # the normalised InboundEvent
    raw: Mapped[str] = mapped_column(Text)  # the platform's own JSON for this event, as received


class OutboxMessage(Base):
    """An outbound message waiting to be, or already, delivered on its channel."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    account_ref: Mapped[str] = mapped_column(String(128))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    author: Mapped[Author] = status_column(Author, Author.BOT)
    thread_ref: Mapped[str] = mapped_column(String(256))
    user_ref: Mapped[str] = mapped_column(String(256))
    text: Mapped[str] = mapped_column(Text)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # buttons, reply_to, ...
    status: Mapped[OutboxStatus] = status_column(OutboxStatus, OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    platform_message_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    swept_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
