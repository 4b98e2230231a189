"""What happens around an answer: asking the citizen to rate it, taking the rating, telling the
owner of a ticket that the citizen wrote again.

Ratings arrive as button presses (``rating:<score>:<ticket>``) or, while the conversation waits for
one, as a bare digit in any script («٤», see bots/dialogue.py). A low rating, and a random sample of
answers, go to the supervisors' quality-review queue.
"""

from __future__ import annotations

import random

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bots.templates import ReplyBook
from ticket_core import audit, outbox, quality
from ticket_core.identities import Contact, contact_for_conversation
from ticket_core.models import Conversation, ConversationState, Notification, Ticket, TicketStatus, table, utcnow
from ticket_core.quality import RatingOutcome
from ticket_core.sla import SlaPolicy
from ticket_core.tickets import TicketView


def ask_for_rating(session: Session, ticket: Ticket, replies: ReplyBook, *, language: str) -> int:
    """Send the rating question with 1-5 buttons (numbered text where the channel has none)."""
    contact = contact_for_conversation(session, ticket.conversation_id)
    buttons = [{"title": "⭐" * score, "payload": f"rating:{score}:{ticket.number}"} for score in range(5, 0, -1)]
    text = replies.render("csat_ask", language, number=ticket.number)
    outbox_id = outbox.enqueue(
        session,
        contact,
        text,
        ticket_id=ticket.id,
        content={"template": "csat_ask", "buttons": buttons, "ticket_number": ticket.number},
    )
    conversation = session.get(Conversation, ticket.conversation_id)
    if conversation is not None:
        conversation.state = ConversationState.AWAITING_RATING
    return outbox_id


def after_answer(
    session: Session, ticket: Ticket, replies: ReplyBook, policy: SlaPolicy, *, rng: random.Random | None = None
) -> int:
    """Once a ticket is answered: ask for a rating and maybe sample it for quality review."""
    outbox_id = ask_for_rating(session, ticket, replies, language=ticket.language)
    quality.maybe_sample(session, ticket.id, policy.quality_sample_rate, rng)
    return outbox_id


def rated_ticket(session: Session, contact: Contact, number: str | None) -> Ticket | None:
    """The ticket a rating is about: the one named on the button (if it is theirs), else the
    conversation's most recently answered ticket."""
    query = select(Ticket).where(Ticket.beneficiary_id == contact.beneficiary_id)
    if number:
        query = query.where(Ticket.number == number)
    else:
        query = query.where(
            Ticket.conversation_id == contact.conversation_id,
            Ticket.status.in_([TicketStatus.ANSWERED.value, TicketStatus.CLOSED.value]),
        ).order_by(Ticket.answered_at.desc())
    return session.execute(query.limit(1)).scalar_one_or_none()


def rate(session: Session, ticket: Ticket, score: int, *, channel: str, policy: SlaPolicy) -> RatingOutcome:
    outcome = quality.record_rating(
        session, ticket, score, channel=channel, comment=None, low_score=policy.csat_low_score
    )
    conversation = session.get(Conversation, ticket.conversation_id)
    if conversation is not None and conversation.state is ConversationState.AWAITING_RATING:
        conversation.state = ConversationState.BOT
    return outcome


def change_state(session: Session, contact: Contact, state: str, *, ticket: TicketView | None, reason: str) -> None:
    """Move the conversation to ``state``: audited, and pushed to whoever holds its ticket."""
    conversations = table(Conversation)
    session.connection().execute(
        update(conversations)
        .where(conversations.c.id == contact.conversation_id)
        .values(state=state, updated_at=utcnow())
    )
    audit.record(
        session,
        "conversation.state",
        actor="citizen" if reason != "idle" else audit.SYSTEM,
        ticket_id=ticket.id if ticket else None,
        conversation_id=contact.conversation_id,
        reason=reason,
        to=state,
        **{"from": contact.state},
    )
    if ticket is not None:
        tell_owner(session, ticket, kind=f"conversation_{state}")


def tell_owner(session: Session, ticket: TicketView, *, kind: str) -> None:
    """Notify whoever holds the ticket that something happened on it (the console shows it live)."""
    if ticket.assignee_id is None:
        return
    session.connection().execute(
        insert(table(Notification)).values(
            user_id=ticket.assignee_id,
            kind=kind,
            ticket_id=ticket.id,
            created_at=utcnow(),
            payload={"number": ticket.number},
        )
    )


def alert_unit(session: Session, ticket: TicketView, *, kind: str, reason: str) -> int:
    """Tell everyone on duty in the ticket's unit, and its head and supervisors, at once."""
    from ticket_core.models import MemberRole, UnitMember, User

    members = session.execute(
        select(UnitMember.user_id, UnitMember.role, User.on_duty)
        .join(User, User.id == UnitMember.user_id)
        .where(UnitMember.unit_id == ticket.unit.id, User.is_active.is_(True))
    ).all()
    people = {
        user_id for user_id, role, on_duty in members if on_duty or role in (MemberRole.HEAD, MemberRole.SUPERVISOR)
    }
    now = utcnow()
    for user_id in sorted(people):
        session.connection().execute(
            insert(table(Notification)).values(
                user_id=user_id,
                kind=kind,
                ticket_id=ticket.id,
                created_at=now,
                payload={"number": ticket.number, "reason": reason, "unit": ticket.unit.key},
            )
        )
    audit.record(session, f"ticket.{kind}_alert", ticket_id=ticket.id, notified=len(people), reason=reason)
    return len(people)
