"""Who is writing: beneficiary, channel identity and conversation, created on first contact.

Written with Core statements rather than ORM objects because it runs for every inbound message
(ORM flushes were most of the intake cost; see docs/benchmarks.md). Safe under concurrent workers:
the unique constraints decide (INSERT ... ON CONFLICT DO NOTHING), and the loser re-reads the
winner's row. On PostgreSQL the conversation row is locked for the rest of the transaction, which
orders the processing of one citizen's messages; SQLite's single writer does the same by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, tuple_, update
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
    # This transaction created the beneficiary and this is its first event in the chunk: the person
    # has no ticket yet, so nothing needs looking up.
    new_person: bool = False


_INSERT_BENEFICIARIES = insert(_beneficiaries).returning(_beneficiaries.c.id, sort_by_parameter_order=True)
_INSERT_BENEFICIARIES_UNORDERED = insert(_beneficiaries).returning(_beneficiaries.c.id)
_BY_DIALECT: dict[str, dict[str, Any]] = {}

IdentityKey = tuple[str, str, str]  # channel, account_ref, user_ref
ConversationKey = tuple[str, str, str]  # channel, account_ref, thread_ref


def _statements(dialect: str) -> dict[str, Any]:
    """INSERT ... ON CONFLICT DO NOTHING statements, built once per dialect (hot path). They return
    the key of each row they inserted, so rows another worker inserted first can be told apart."""
    if dialect not in _BY_DIALECT:
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        i = _identities.c
        _BY_DIALECT[dialect] = {
            "identity": upsert(_identities)
            .on_conflict_do_nothing(index_elements=["channel", "account_ref", "user_ref"])
            .returning(i.id, i.beneficiary_id, i.channel, i.account_ref, i.user_ref),
            "conversation": upsert(_conversations)
            .on_conflict_do_nothing(index_elements=["channel", "account_ref", "thread_ref"])
            .returning(*_CONVERSATION_COLUMNS),
        }
    return _BY_DIALECT[dialect]


_CONVERSATION_COLUMNS = (
    _conversations.c.id,
    _conversations.c.state,
    _conversations.c.language,
    _conversations.c.channel,
    _conversations.c.account_ref,
    _conversations.c.thread_ref,
)


def resolve(session: Session, event: InboundEvent, *, language: str | None, now: datetime | None = None) -> Contact:
    """The contact for an inbound event, creating beneficiary, identity and conversation if new."""
    return resolve_many(session, [(event, language)], now=now)[0]


def resolve_many(
    session: Session, items: Sequence[tuple[InboundEvent, str | None]], *, now: datetime | None = None
) -> list[Contact]:
    """The contacts for a chunk's events (each with the language its text is in, or None for a
    button or an attachment), in the order given, creating what is new: a few statements for the
    whole chunk rather than three or four per message.

    Rows are written in phases, each in one order all workers share: identities inserted (by key),
    identities refreshed (by key), conversations inserted (by key), existing conversations locked
    (by id). A transaction waits only on others in the same phase or a later one, so two workers
    resolving overlapping chunks cannot deadlock. Events of one conversation are taken in the order
    given: only the first is ``new_conversation``, and a button press keeps the language of the
    message before it.
    """
    now = now or utcnow()
    conn = session.connection()
    dialect = conn.dialect.name
    first_of: dict[IdentityKey, tuple[InboundEvent, str | None]] = {}
    for event, language in items:
        first_of.setdefault(_identity_key(event), (event, language))
    keys = sorted(first_of)
    found = _find_identities(conn, keys)
    created, new_people = _create_identities(conn, dialect, [first_of[k] for k in keys if k not in found], now)
    found.update(created)
    found.update(_find_identities(conn, [k for k in keys if k not in found]))  # lost a race: theirs
    _refresh_identities(conn, [e for e, _ in items if _identity_key(e) not in created], found, now)
    rows, inserted = _conversations_locked(conn, dialect, items, found, first_contact=set(created), now=now)

    contacts: list[Contact] = []
    language_now = {key: str(row.language or "ar") for key, row in rows.items()}
    seen: set[ConversationKey] = set()
    people_seen: set[int] = set()
    for event, language in items:
        key = _conversation_key(event)
        identity_id, beneficiary_id = found[_identity_key(event)]
        language_now[key] = language or language_now[key]
        contacts.append(
            Contact(
                beneficiary_id=beneficiary_id,
                identity_id=identity_id,
                conversation_id=rows[key].id,
                channel=event.channel,
                account_ref=event.account_ref,
                thread_ref=event.thread_ref,
                user_ref=event.user_ref,
                state=str(rows[key].state),
                new_conversation=key in inserted and key not in seen,
                language=language_now[key],
                new_person=beneficiary_id in new_people and beneficiary_id not in people_seen,
            )
        )
        seen.add(key)
        people_seen.add(beneficiary_id)
    _touch_conversations(conn, items, rows, inserted, now)
    return contacts


def _identity_key(event: InboundEvent) -> IdentityKey:
    return (event.channel, event.account_ref, event.user_ref)


def _conversation_key(event: InboundEvent) -> ConversationKey:
    return (event.channel, event.account_ref, event.thread_ref)


def _find_identities(conn: Any, keys: list[IdentityKey]) -> dict[IdentityKey, tuple[int, int]]:
    """(identity id, beneficiary id) of those keys that exist."""
    if not keys:
        return {}
    i = _identities.c
    rows = conn.execute(
        select(i.id, i.beneficiary_id, i.channel, i.account_ref, i.user_ref).where(
            tuple_(i.channel, i.account_ref, i.user_ref).in_(keys)
        )
    )
    return {(r.channel, r.account_ref, r.user_ref): (r.id, r.beneficiary_id) for r in rows}


def _create_identities(
    conn: Any, dialect: str, items: list[tuple[InboundEvent, str | None]], now: datetime
) -> tuple[dict[IdentityKey, tuple[int, int]], set[int]]:
    """Identities for first contacts (one event each, in key order) with their beneficiaries;
    returns those this transaction created (a key another worker created first is left out, and
    the beneficiary made for it removed) and the ids of the beneficiaries it created.

    A phone the platform itself vouches for (WhatsApp, a shared Telegram contact, the signed
    portal) that we already know links the new channel to the same person; new identities that
    share a phone share one new beneficiary.
    """
    if not items:
        return {}, set()
    phones = {_identity_key(e): verified_phone(e.phone) for e, _ in items}
    known: dict[str, int] = {}
    wanted = sorted({p for p in phones.values() if p})
    if wanted:
        b = _beneficiaries.c
        for beneficiary_id, phone in conn.execute(
            select(b.id, b.phone).where(b.phone.in_(wanted)).order_by(b.id.desc())
        ):
            known[phone] = beneficiary_id  # newest first, so the oldest is kept
    fresh: list[tuple[InboundEvent, str | None]] = []  # one per new person
    slot: dict[IdentityKey, int] = {}  # identity key -> its person's index in fresh
    slot_of_phone: dict[str, int] = {}
    for event, language in items:
        key, phone = _identity_key(event), phones[_identity_key(event)]
        if phone in known:
            continue
        if phone is not None and phone in slot_of_phone:
            slot[key] = slot_of_phone[phone]
            continue
        slot[key] = len(fresh)
        if phone is not None:
            slot_of_phone[phone] = len(fresh)
        fresh.append((event, language))
    new_ids: list[int] = []
    if fresh:
        rows = [
            {
                "display_name": e.user_display,
                "preferred_language": language or "ar",
                "phone": phones[_identity_key(e)],
                "email": e.email,
                "created_at": now,
                "updated_at": now,
            }
            for e, language in fresh
        ]
        if dialect == "postgresql":
            new_ids = list(conn.execute(_INSERT_BENEFICIARIES, rows).scalars())
        else:
            # SQLAlchemy would insert row by row to return ids in parameter order; SQLite's single
            # writer numbers the rows of one INSERT in the order given, so sorting the ids is enough.
            new_ids = sorted(conn.execute(_INSERT_BENEFICIARIES_UNORDERED, rows).scalars())
    beneficiary = {key: new_ids[slot[key]] if key in slot else known[phones[key] or ""] for key in phones}
    created = {
        (r.channel, r.account_ref, r.user_ref): (r.id, r.beneficiary_id)
        for r in conn.execute(
            _statements(dialect)["identity"],
            [
                {
                    "beneficiary_id": beneficiary[_identity_key(e)],
                    "channel": e.channel,
                    "account_ref": e.account_ref,
                    "user_ref": e.user_ref,
                    "display_name": e.user_display,
                    "created_at": now,
                    "last_seen_at": now,
                }
                for e, _ in items
            ],
        )
    }
    used = {beneficiary_id for _, beneficiary_id in created.values()}
    orphans = sorted(set(new_ids) - used)
    if orphans:  # made for identities another worker created first
        conn.execute(delete(_beneficiaries).where(_beneficiaries.c.id.in_(orphans)))
    return created, used & set(new_ids)


_REFRESH_IDENTITY = (
    update(_identities)
    .where(_identities.c.id == bindparam("b_id"))
    .values(
        last_seen_at=bindparam("b_now"),
        display_name=func.coalesce(bindparam("b_display"), _identities.c.display_name),
    )
)
# Contact details the platform itself asserts fill gaps; they never overwrite what we have.
_FILL_CONTACT_DETAILS = (
    update(_beneficiaries)
    .where(_beneficiaries.c.id == bindparam("b_id"))
    .values(
        phone=func.coalesce(_beneficiaries.c.phone, bindparam("b_phone")),
        email=func.coalesce(_beneficiaries.c.email, bindparam("b_email")),
    )
)


def _refresh_identities(
    conn: Any, events: list[InboundEvent], found: dict[IdentityKey, tuple[int, int]], now: datetime
) -> None:
    """Last seen and display name of returning identities; phone and e-mail where we had none."""
    display: dict[IdentityKey, str | None] = {}
    details: dict[int, dict[str, str | None]] = {}
    for event in events:
        key = _identity_key(event)
        display[key] = event.user_display or display.get(key)
        if event.phone or event.email:
            known = details.setdefault(found[key][1], {"b_phone": None, "b_email": None})
            known["b_phone"] = known["b_phone"] or verified_phone(event.phone)
            known["b_email"] = known["b_email"] or event.email
    if display:
        conn.execute(
            _REFRESH_IDENTITY,
            [{"b_id": found[key][0], "b_now": now, "b_display": display[key]} for key in sorted(display)],
        )
    if details:
        conn.execute(_FILL_CONTACT_DETAILS, [{"b_id": b, **details[b]} for b in sorted(details)])


def _conversations_locked(
    conn: Any,
    dialect: str,
    items: Sequence[tuple[InboundEvent, str | None]],
    found: dict[IdentityKey, tuple[int, int]],
    *,
    first_contact: set[IdentityKey],
    now: datetime,
) -> tuple[dict[ConversationKey, Any], set[ConversationKey]]:
    """Every conversation of the chunk (id, state, language), created if new, and the keys this
    transaction created. On PostgreSQL each is locked for the rest of the transaction, which
    orders the processing of one citizen's messages; SQLite's single writer does that by itself."""
    first_of: dict[ConversationKey, tuple[InboundEvent, str | None]] = {}
    for event, language in items:
        first_of.setdefault(_conversation_key(event), (event, language))
    keys = sorted(first_of)
    c = _conversations.c
    key_columns = tuple_(c.channel, c.account_ref, c.thread_ref)
    # On first contact the conversation is almost always new too: no need to look before inserting.
    maybe = [k for k in keys if _identity_key(first_of[k][0]) not in first_contact]
    existing: set[ConversationKey] = set()
    if maybe:
        existing = {
            tuple(r) for r in conn.execute(select(c.channel, c.account_ref, c.thread_ref).where(key_columns.in_(maybe)))
        }
    rows: dict[ConversationKey, Any] = {}
    new = [k for k in keys if k not in existing]
    if new:
        params = []
        for key in new:
            event, language = first_of[key]
            identity_id, beneficiary_id = found[_identity_key(event)]
            params.append(
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
                }
            )
        # A row this transaction inserts is locked by it, as the SELECT below locks an existing one.
        rows = {
            (r.channel, r.account_ref, r.thread_ref): r
            for r in conn.execute(_statements(dialect)["conversation"], params)
        }
    inserted = set(rows)
    rest = [k for k in keys if k not in inserted]
    if rest:
        find = select(*_CONVERSATION_COLUMNS).where(key_columns.in_(rest)).order_by(c.id)
        if dialect == "postgresql":
            # NO KEY UPDATE: orders this citizen's messages without blocking inserts that merely
            # reference the conversation (foreign-key checks take KEY SHARE locks).
            find = find.with_for_update(key_share=True)
        rows.update({(r.channel, r.account_ref, r.thread_ref): r for r in conn.execute(find)})
    return rows, inserted


_TOUCH_CONVERSATION = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("b_id"))
    .values(
        last_inbound_at=bindparam("b_at"),
        # A button press or an attachment says nothing about the language: keep the last one.
        language=func.coalesce(bindparam("b_language"), _conversations.c.language),
        updated_at=bindparam("b_now"),
    )
)


def _touch_conversations(
    conn: Any,
    items: Sequence[tuple[InboundEvent, str | None]],
    rows: dict[ConversationKey, Any],
    inserted: set[ConversationKey],
    now: datetime,
) -> None:
    """Last inbound time and language of each conversation, from its latest event of the chunk
    (a conversation created from its only event already has them)."""
    latest: dict[ConversationKey, dict[str, Any]] = {}
    count: dict[ConversationKey, int] = {}
    for event, language in items:
        key = _conversation_key(event)
        count[key] = count.get(key, 0) + 1
        earlier = latest.get(key, {}).get("b_language")
        latest[key] = {
            "b_id": rows[key].id,
            "b_at": event.sent_at or now,
            "b_language": language or earlier,
            "b_now": now,
        }
    params = [latest[k] for k in sorted(latest, key=lambda k: rows[k].id) if k not in inserted or count[k] > 1]
    if params:
        conn.execute(_TOUCH_CONVERSATION, params)


def verified_phone(raw: str | None) -> str | None:
    """One spelling per number (+9665XXXXXXXX for Saudi mobiles), so the same phone matches."""
    if not raw:
        return None
    from nlu.patterns import canonical_phone

    latin = raw.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789"))
    return canonical_phone(latin) if any(ch.isdigit() for ch in latin) else None


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
