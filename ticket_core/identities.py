"""Who is writing: beneficiary, channel identity and conversation, created on first contact.

Written with Core statements rather than ORM objects because it runs for every inbound message
(ORM flushes were most of the intake cost; see docs/benchmarks.md). Safe under concurrent workers:
the unique constraints decide (INSERT ... ON CONFLICT DO NOTHING), and the loser re-reads the
winner's row. On PostgreSQL the conversation row is locked for the rest of the transaction, which
orders the processing of one citizen's messages; SQLite's single writer does the same by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connectors.base import InboundEvent
from ticket_core.models import Beneficiary, ChannelIdentity, Conversation, ConversationState, table, utcnow

_beneficiaries = table(Beneficiary)
_identities = table(ChannelIdentity)
_conversations = table(Conversation)


@dataclass(frozen=True)
class Contact:
    """The conversation a message belongs to, with what a reply needs to find its way back."""

    beneficiary_id: int
    identity_id: int
    conversation_id: int
    channel: str
    account_ref: str
    thread_ref: str
    user_ref: str
    state: str
    new_conversation: bool
    language: str = "ar"  # the language the citizen last wrote in (replies use it)


_INSERT_BENEFICIARY = insert(_beneficiaries).returning(_beneficiaries.c.id)
_BY_DIALECT: dict[str, dict[str, Any]] = {}


def _statements(dialect: str) -> dict[str, Any]:
    """INSERT ... ON CONFLICT DO NOTHING statements, built once per dialect (hot path)."""
    if dialect not in _BY_DIALECT:
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        _BY_DIALECT[dialect] = {
            "identity": upsert(_identities)
            .on_conflict_do_nothing(index_elements=["channel", "account_ref", "user_ref"])
            .returning(_identities.c.id),
            "conversation": upsert(_conversations)
            .on_conflict_do_nothing(index_elements=["channel", "account_ref", "thread_ref"])
            .returning(_conversations.c.id, _conversations.c.state, _conversations.c.language),
        }
    return _BY_DIALECT[dialect]


def resolve(session: Session, event: InboundEvent, *, language: str | None, now: datetime | None = None) -> Contact:
    """The contact for an inbound event, creating beneficiary, identity and conversation if new."""
    now = now or utcnow()
    conn = session.connection()
    dialect = conn.dialect.name
    identity_key = (
        (_identities.c.channel == event.channel)
        & (_identities.c.account_ref == event.account_ref)
        & (_identities.c.user_ref == event.user_ref)
    )
    existing = conn.execute(select(_identities.c.id, _identities.c.beneficiary_id).where(identity_key)).first()
    found: tuple[int, int]
    first_contact = False  # this transaction created the identity
    phone = verified_phone(event.phone)
    if existing is None:
        # A phone the platform itself vouches for (WhatsApp, a shared Telegram contact, the signed
        # portal) that we already know links this new channel to the same person.
        known = (
            conn.execute(
                select(_beneficiaries.c.id)
                .where(_beneficiaries.c.phone == phone)
                .order_by(_beneficiaries.c.id)
                .limit(1)
            ).scalar()
            if phone
            else None
        )
        beneficiary_id = (
            known
            or conn.execute(
                _INSERT_BENEFICIARY,
                {
                    "display_name": event.user_display,
                    "preferred_language": language or "ar",
                    "phone": phone,
                    "email": event.email,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
        )
        identity_id = conn.execute(
            _statements(dialect)["identity"],
            {
                "beneficiary_id": beneficiary_id,
                "channel": event.channel,
                "account_ref": event.account_ref,
                "user_ref": event.user_ref,
                "display_name": event.user_display,
                "created_at": now,
                "last_seen_at": now,
            },
        ).scalar_one_or_none()
        if identity_id is None:  # another worker created this identity first: use theirs
            if not known:
                conn.execute(delete(_beneficiaries).where(_beneficiaries.c.id == beneficiary_id))
            winner = conn.execute(select(_identities.c.id, _identities.c.beneficiary_id).where(identity_key)).one()
            found = (winner[0], winner[1])
        else:
            found = (identity_id, beneficiary_id)
            first_contact = True
    else:
        found = (existing[0], existing[1])
        _refresh_identity(conn, found[0], found[1], event, now)
    identity_id, beneficiary_id = found

    conversation_key = (
        (_conversations.c.channel == event.channel)
        & (_conversations.c.account_ref == event.account_ref)
        & (_conversations.c.thread_ref == event.thread_ref)
    )
    find = select(_conversations.c.id, _conversations.c.state, _conversations.c.language).where(conversation_key)
    if dialect == "postgresql":
        # NO KEY UPDATE: orders this citizen's messages without blocking inserts that merely
        # reference the conversation (foreign-key checks take KEY SHARE locks).
        find = find.with_for_update(key_share=True)
    # On first contact the conversation is almost always new too: try the insert straight away
    # (a row this transaction inserts is locked by it, as the SELECT would lock an existing one).
    row = None if first_contact else conn.execute(find).first()
    new = False
    if row is None:
        created = conn.execute(
            _statements(dialect)["conversation"],
            {
                "beneficiary_id": beneficiary_id,
                "identity_id": identity_id,
                "channel": event.channel,
                "account_ref": event.account_ref,
                "thread_ref": event.thread_ref,
                "state": ConversationState.BOT.value,
                "language": language or "ar",
                "last_inbound_at": event.sent_at or now,
                "created_at": now,
                "updated_at": now,
            },
        ).first()
        new = created is not None
        row = created or conn.execute(find).one()
    if not new:
        conn.execute(
            update(_conversations)
            .where(_conversations.c.id == row[0])
            # A button press or an attachment says nothing about the language: keep the last one.
            .values(
                last_inbound_at=event.sent_at or now, language=language or _conversations.c.language, updated_at=now
            )
        )
    return Contact(
        beneficiary_id=beneficiary_id,
        identity_id=identity_id,
        conversation_id=row[0],
        channel=event.channel,
        account_ref=event.account_ref,
        thread_ref=event.thread_ref,
        user_ref=event.user_ref,
        state=str(row[1]),
        new_conversation=new,
        language=str(language or row[2] or "ar"),
    )


def verified_phone(raw: str | None) -> str | None:
    """One spelling per number (+9665XXXXXXXX for Saudi mobiles), so the same phone matches."""
    if not raw:
        return None
    from nlu.patterns import canonical_phone

    latin = raw.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789"))
    return canonical_phone(latin) if any(ch.isdigit() for ch in latin) else None


def _refresh_identity(conn: Any, identity_id: int, beneficiary_id: int, event: InboundEvent, now: datetime) -> None:
    values: dict[str, Any] = {"last_seen_at": now}
    if event.user_display:
        values["display_name"] = event.user_display
    conn.execute(update(_identities).where(_identities.c.id == identity_id).values(**values))
    # Contact details the platform itself asserts fill gaps; they never overwrite what we have.
    if event.phone or event.email:
        conn.execute(
            update(_beneficiaries)
            .where(_beneficiaries.c.id == beneficiary_id)
            .values(
                phone=func.coalesce(_beneficiaries.c.phone, verified_phone(event.phone)),
                email=func.coalesce(_beneficiaries.c.email, event.email),
            )
        )


def contact_for_conversation(session: Session, conversation_id: int) -> Contact:
    """The contact of an existing conversation (for replies not caused by an inbound message)."""
    row = session.execute(
        select(
            _conversations.c.beneficiary_id,
            _conversations.c.identity_id,
            _conversations.c.id,
            _conversations.c.channel,
            _conversations.c.account_ref,
            _conversations.c.thread_ref,
            _identities.c.user_ref,
            _conversations.c.state,
            _conversations.c.language,
        )
        .join(_identities, _identities.c.id == _conversations.c.identity_id)
        .where(_conversations.c.id == conversation_id)
    ).one()
    return Contact(*row[:7], state=str(row[7]), new_conversation=False, language=str(row[8] or "ar"))


def link(session: Session, keep_id: int, merge_id: int, *, actor: str, reason: str) -> None:
    """Make two beneficiaries one person: the second's channels, conversations and tickets move to
    the first, whose history then shows everything. Used when a phone or e-mail is verified on both
    channels, or when a coordinator links them by hand."""
    from ticket_core import audit
    from ticket_core.models import Ticket

    if keep_id == merge_id:
        return
    conn = session.connection()
    for tbl in (_identities, _conversations, table(Ticket)):
        conn.execute(update(tbl).where(tbl.c.beneficiary_id == merge_id).values(beneficiary_id=keep_id))
    kept = conn.execute(
        select(_beneficiaries.c.phone, _beneficiaries.c.email).where(_beneficiaries.c.id == merge_id)
    ).first()
    if kept is not None:
        conn.execute(
            update(_beneficiaries)
            .where(_beneficiaries.c.id == keep_id)
            .values(
                phone=func.coalesce(_beneficiaries.c.phone, kept[0]),
                email=func.coalesce(_beneficiaries.c.email, kept[1]),
            )
        )
    audit.record(session, "beneficiary.linked", actor=actor, reason=reason, kept=keep_id, merged=merge_id)
