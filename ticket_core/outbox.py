"""The outbox: every outbound message is a row first, then a delivery with retries.

State: pending -> sending (leased) -> sent; a retryable failure -> retry (next_attempt_at, with
backoff); a terminal failure or exhausted attempts -> dead, with the platform's reason kept and an
audit event on the ticket, so nothing is dropped silently. ``parts_sent`` lets a long message that
failed half way resume with the part that did not go out.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from ticket_core import audit, deferred, messages
from ticket_core.identities import Contact
from ticket_core.models import (
    Author,
    Conversation,
    Direction,
    Message,
    OutboxMessage,
    OutboxStatus,
    table,
    utcnow,
)

_outbox = table(OutboxMessage)
_messages = table(Message)
_conversations = table(Conversation)
# Built once; executing with a parameter dict skips per-call statement building (hot path).
_INSERT_OUTBOX = insert(_outbox).returning(_outbox.c.id)

RESENDABLE = (OutboxStatus.PENDING, OutboxStatus.RETRY)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_s: float = 2.0
    max_s: float = 900.0

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter; a platform's Retry-After wins when it is longer."""
        computed = min(self.max_s, self.base_s * (2 ** max(attempts - 1, 0)))
        computed *= random.uniform(0.8, 1.2)  # spread retries of many rows over time
        return max(computed, retry_after or 0.0)


def enqueue(
    session: Session,
    contact: Contact,
    text: str,
    *,
    ticket_id: int | None = None,
    author: Author = Author.BOT,
    content: dict[str, Any] | None = None,
    manual: bool = False,
) -> int:
    """Queue a reply on the contact's own channel, with its message row in the timeline; returns its id."""
    now = utcnow()
    conn = session.connection()
    outbox_id: int = conn.execute(
        _INSERT_OUTBOX,
        {
            "channel": contact.channel,
            "account_ref": contact.account_ref,
            "conversation_id": contact.conversation_id,
            "ticket_id": ticket_id,
            "author": author.value,
            "thread_ref": contact.thread_ref,
            "user_ref": contact.user_ref,
            "text": text,
            "content": content or {},
            "status": (OutboxStatus.MANUAL if manual else OutboxStatus.PENDING).value,
            "attempts": 0,
            "parts_sent": 0,
            "next_attempt_at": now,
            "platform_message_ids": [],
            "created_at": now,
        },
    ).scalar_one()
    deferred.insert(
        session,
        messages.INSERT,
        {
            "conversation_id": contact.conversation_id,
            "ticket_id": ticket_id,
            "direction": Direction.OUT.value,
            "author": author.value,
            "text": text,
            "outbox_id": outbox_id,
            "entities": [],
            "attachments": [],
            "created_at": now,
        },
    )
    return outbox_id


@dataclass(frozen=True)
class Claimed:
    """An outbox row taken for sending (a plain snapshot: no session needed to read it)."""

    id: int
    channel: str
    account_ref: str
    thread_ref: str
    user_ref: str
    text: str
    content: dict[str, Any]
    parts_sent: int
    attempts: int
    ticket_id: int | None
    conversation_id: int
    author: str = "bot"
    last_inbound_at: datetime | None = None  # the citizen's last message, for messaging windows


def claim_many(
    session: Session, outbox_ids: Sequence[int], *, lease: timedelta, now: datetime | None = None
) -> list[Claimed]:
    """Take due rows for sending in one statement (one worker wins each row); counts the attempt
    and sets a lease after which the sweeper assumes the worker died."""
    if not outbox_ids:
        return []
    now = now or utcnow()
    c = _outbox.c
    rows = session.connection().execute(
        update(_outbox)
        .where(c.id.in_(outbox_ids), c.status.in_([s.value for s in RESENDABLE]), c.next_attempt_at <= now)
        .values(status=OutboxStatus.SENDING.value, lease_until=now + lease, attempts=c.attempts + 1)
        .returning(
            c.id,
            c.channel,
            c.account_ref,
            c.thread_ref,
            c.user_ref,
            c.text,
            c.content,
            c.parts_sent,
            c.attempts,
            c.ticket_id,
            c.conversation_id,
        )
    )
    return sorted((Claimed(*row) for row in rows), key=lambda r: r.id)


def renew_lease(session: Session, outbox_id: int, attempts: int, *, lease: timedelta) -> bool:
    """Extend the lease of a row this worker still holds (same attempt, still sending); False if
    the lease ran out and the sweeper or another worker has taken the row since."""
    c = _outbox.c
    renewed = session.connection().execute(
        update(_outbox)
        .where(c.id == outbox_id, c.status == OutboxStatus.SENDING.value, c.attempts == attempts)
        .values(lease_until=utcnow() + lease)
        .returning(c.id)
    )
    return renewed.first() is not None


def record_part_sent(session: Session, outbox_id: int, parts_sent: int, platform_ids: Sequence[str]) -> None:
    """Progress of a multi-part message, so a retry resumes with the part that did not go out."""
    session.connection().execute(
        update(_outbox)
        .where(_outbox.c.id == outbox_id)
        .values(parts_sent=parts_sent, platform_message_ids=list(platform_ids))
    )


@dataclass(frozen=True)
class Sent:
    outbox_id: int
    conversation_id: int
    parts_sent: int
    platform_ids: Sequence[str]


def mark_sent_many(session: Session, sent: Sequence[Sent]) -> None:
    """Record successful sends in three statements, however many rows."""
    if not sent:
        return
    now = utcnow()
    conn = session.connection()
    conn.execute(
        update(_outbox)
        .where(_outbox.c.id == bindparam("b_id"))
        .values(
            status=OutboxStatus.SENT.value,
            sent_at=now,
            lease_until=None,
            last_error=None,
            parts_sent=bindparam("b_parts"),
            platform_message_ids=bindparam("b_ids"),
        ),
        [{"b_id": s.outbox_id, "b_parts": s.parts_sent, "b_ids": list(s.platform_ids)} for s in sent],
    )
    conn.execute(
        update(_messages)
        .where(_messages.c.outbox_id == bindparam("b_id"))
        .values(platform_message_id=bindparam("b_pid")),
        [{"b_id": s.outbox_id, "b_pid": s.platform_ids[0] if s.platform_ids else None} for s in sent],
    )
    conn.execute(
        update(_conversations)
        .where(_conversations.c.id.in_({s.conversation_id for s in sent}))
        .values(last_outbound_at=now)
    )


def mark_failed(
    session: Session,
    outbox_id: int,
    reason: str,
    *,
    retryable: bool,
    policy: RetryPolicy,
    retry_after: float | None = None,
) -> tuple[OutboxStatus, float | None]:
    """Record a failed attempt: schedule a retry or dead-letter it. Returns (status, delay_s)."""
    conn = session.connection()
    row = conn.execute(
        select(_outbox.c.attempts, _outbox.c.ticket_id, _outbox.c.conversation_id, _outbox.c.channel).where(
            _outbox.c.id == outbox_id
        )
    ).first()
    if row is None:
        return OutboxStatus.DEAD, None
    attempts, ticket_id, conversation_id, channel = row
    if retryable and attempts < policy.max_attempts:
        delay = policy.delay(attempts, retry_after)
        conn.execute(
            update(_outbox)
            .where(_outbox.c.id == outbox_id)
            .values(
                status=OutboxStatus.RETRY.value,
                last_error=reason[:2000],
                lease_until=None,
                next_attempt_at=utcnow() + timedelta(seconds=delay),
            )
        )
        return OutboxStatus.RETRY, delay
    conn.execute(
        update(_outbox)
        .where(_outbox.c.id == outbox_id)
        .values(status=OutboxStatus.DEAD.value, last_error=reason[:2000], lease_until=None)
    )
    why = reason if not retryable else f"gave up after {attempts} attempts: {reason}"
    audit.record(
        session,
        "delivery.dead",
        ticket_id=ticket_id,
        conversation_id=conversation_id,
        reason=why[:2000],
        outbox_id=outbox_id,
        channel=channel,
    )
    return OutboxStatus.DEAD, None


def mark_manual(session: Session, outbox_id: int) -> None:
    """The channel has no send API: the message waits for a coordinator to send it by hand."""
    session.connection().execute(
        update(_outbox).where(_outbox.c.id == outbox_id).values(status=OutboxStatus.MANUAL.value, lease_until=None)
    )


def requeue(session: Session, outbox_id: int, *, actor: str) -> bool:
    """Give a dead row another chance (after the cause was fixed), resetting its attempts."""
    row = session.get(OutboxMessage, outbox_id)
    if row is None or row.status is not OutboxStatus.DEAD:
        return False
    row.status = OutboxStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = utcnow()
    audit.record(session, "delivery.requeued", actor=actor, ticket_id=row.ticket_id, outbox_id=row.id)
    return True


def due_for_sweep(session: Session, *, grace: timedelta, limit: int = 500, now: datetime | None = None) -> list[int]:
    """Rows that should be moving but are not: due retries nobody picked up, expired leases."""
    now = now or utcnow()
    expired = (OutboxMessage.status == OutboxStatus.SENDING) & (OutboxMessage.lease_until < now)
    due = (
        OutboxMessage.status.in_(RESENDABLE)
        & (OutboxMessage.next_attempt_at < now - grace)
        & or_(OutboxMessage.swept_at.is_(None), OutboxMessage.swept_at < now - grace)
    )
    stmt = select(OutboxMessage.id).where(expired | due).order_by(OutboxMessage.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list(session.execute(stmt).scalars())
    if ids:
        # A worker that died mid-send leaves "sending": make it sendable again (the attempt counted).
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.SENDING)
            .values(status=OutboxStatus.RETRY, next_attempt_at=now, last_error="worker lost during send")
        )
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(swept_at=now))
    return ids
