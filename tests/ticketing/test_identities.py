"""Who is writing: a chunk's events resolved together (ticket_core/identities.resolve_many)."""

from __future__ import annotations

import itertools
import random
import threading

from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update

from connectors.base import EventKind, InboundEvent
from ticket_core import identities
from ticket_core.db import Database
from ticket_core.identities import Contact
from ticket_core.models import Beneficiary, ChannelIdentity, Conversation, ConversationState

_serial = itertools.count(1)


def _event(channel: str, user: str, *, thread: str | None = None, phone: str | None = None) -> InboundEvent:
    return InboundEvent(
        channel,
        "acct",
        f"evt-{next(_serial)}",
        EventKind.MESSAGE,
        thread_ref=thread or user,
        user_ref=user,
        text="سلام",
        phone=phone,
    )


def _count(db: Database, model: type) -> int:
    with db.read_session() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_chunk_resolves_like_its_messages_one_after_another(db: Database) -> None:
    with db.session() as session:
        old = identities.resolve(session, _event("whatsapp", "966551234567", phone="+966551234567"), language="en")
        session.execute(
            update(Conversation).where(Conversation.id == old.conversation_id).values(state=ConversationState.HUMAN)
        )
    people_before = _count(db, Beneficiary)
    chunk = [
        (_event("telegram", "new-a"), "ar"),
        (_event("whatsapp", "966551234567"), None),  # a button press from the known citizen
        (_event("telegram", "new-a"), None),  # the new citizen's photo right after their text
        (_event("portal", "p-1", phone="٠٥٥١٢٣٤٥٦٧"), "ar"),  # the known phone, Arabic-Indic digits
        (_event("portal", "s-1", phone="0559999999"), "ar"),
        (_event("portal", "s-2", phone="+966559999999"), "en"),  # the same new phone on a second account
        (_event("whatsapp", "966500000001", thread="966551234567"), "ar"),  # someone else in that thread
    ]
    with db.session() as session:
        a, known, a_again, p1, s1, s2, guest = identities.resolve_many(session, chunk)

    assert a.new_conversation and not a_again.new_conversation
    # Only a person's first event of the chunk, and only if this chunk created the person, is new.
    assert [c.new_person for c in (a, known, a_again, p1, s1, s2, guest)] == [
        True,
        False,
        False,
        False,
        True,
        False,
        True,
    ]
    assert a_again.conversation_id == a.conversation_id and a_again.language == "ar"  # kept from the text
    assert (known.beneficiary_id, known.conversation_id) == (old.beneficiary_id, old.conversation_id)
    assert known.state == "human" and known.language == "en" and not known.new_conversation
    assert p1.beneficiary_id == old.beneficiary_id  # the platform vouches for the phone: same person
    assert s1.beneficiary_id == s2.beneficiary_id != old.beneficiary_id
    assert s1.identity_id != s2.identity_id
    assert guest.conversation_id == old.conversation_id and guest.identity_id != old.identity_id
    assert _count(db, Beneficiary) == people_before + 3  # new-a, the 0559999999 person, the guest

    # The same chunk again: nothing new is created and every message finds its conversation.
    with db.session() as session:
        again = identities.resolve_many(session, chunk)
    assert [c.conversation_id for c in again] == [c.conversation_id for c in (a, known, a_again, p1, s1, s2, guest)]
    assert not any(c.new_conversation or c.new_person for c in again)
    assert _count(db, Beneficiary) == people_before + 3


def test_a_chunk_costs_a_few_statements_not_a_few_per_message(db: Database) -> None:
    chunk = [(_event("telegram", f"citizen-{i % 15}"), "ar") for i in range(20)]
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement.split()[0])

    sa_event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.session() as session:
            first = identities.resolve_many(session, chunk)
        created = [s for s in statements if s != "BEGIN"]
        statements.clear()
        with db.session() as session:
            identities.resolve_many(session, chunk)
        returning = [s for s in statements if s != "BEGIN"]
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", count)
    # 15 new citizens: look up; insert beneficiaries, identities, conversations; touch the five
    # conversations that had a second message in the chunk.
    assert created == ["SELECT", "INSERT", "INSERT", "INSERT", "UPDATE"]
    # Returning: look up, refresh identities, look for and lock conversations, touch them.
    assert returning == ["SELECT", "UPDATE", "SELECT", "SELECT", "UPDATE"]
    assert sum(c.new_conversation for c in first) == 15


def test_workers_resolving_overlapping_chunks_agree_and_leave_no_orphans(db: Database) -> None:
    users = [f"racer-{i}" for i in range(40)]
    seen: dict[str, set[tuple[int, int, int]]] = {u: set() for u in users}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(6):
                picked = rng.sample(users, 12)
                with db.session() as session:
                    contacts = identities.resolve_many(session, [(_event("telegram", u), "ar") for u in picked])
                with lock:
                    for user, contact in zip(picked, contacts, strict=True):
                        seen[user].add(_ids(contact))
        except BaseException as exc:  # a deadlock or a unique violation would land here
            errors.append(exc)

    people_before = _count(db, Beneficiary)
    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    used = [u for u in users if seen[u]]
    assert all(len(seen[u]) == 1 for u in used)  # every worker saw the same rows for a citizen
    assert _count(db, ChannelIdentity) >= len(used)
    with db.read_session() as session:
        racers = session.execute(
            select(func.count()).select_from(ChannelIdentity).where(ChannelIdentity.user_ref.like("racer-%"))
        ).scalar_one()
    assert racers == len(used)
    assert _count(db, Beneficiary) == people_before + len(used)  # no beneficiary left behind by a loser
    assert _count(db, Conversation) >= len(used)


def _ids(contact: Contact) -> tuple[int, int, int]:
    return (contact.beneficiary_id, contact.identity_id, contact.conversation_id)
