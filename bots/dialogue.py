"""The bot's decisions: given what the citizen sent and where the conversation stands, what happens.

Pure and explicit: ``plan(situation) -> Plan`` reads no database and sends nothing. The router
gathers the facts (conversation state, the open ticket, an FAQ match, business hours) and carries
out the plan with ticket_core and the outbox. States (``ConversationState``):

    bot ──handoff──► human ──hand back (coordinator or idle time)──► bot
     │  ▲                    (the bot says nothing while a person owns the conversation)
     │  └── rating given ◄── awaiting_rating ◄── a ticket was answered
     └─ «اعتراض» ─► awaiting_objection_confirm ──yes──► objection filed (ticket escalated)
                                                └─no──► bot

A message that signals danger (the NLU's ``urgency == "urgent"``) always comes first, in any state.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

CATEGORIES = ("inquiry", "complaint", "suggestion", "consultation")
# The FAQ answers questions; complaints and suggestions need a person and a ticket.
FAQ_INTENTS = ("inquiry", "consultation")


class Step(enum.StrEnum):
    URGENT = "urgent"  # danger signalled: a specialist now, support lines, never an FAQ
    SILENT = "silent"  # a coordinator owns the conversation: record, tell them, say nothing
    FAQ = "faq"  # answer from the knowledge base and ask whether it helped
    FAQ_HELPED = "faq_helped"
    FAQ_NOT_HELPED = "faq_not_helped"  # the original question becomes a ticket
    TICKET = "ticket"  # add to the citizen's open request on the same topic, or open one
    STATUS = "status"
    OBJECTION_ASK = "objection_ask"  # confirm before filing (it escalates the ticket)
    OBJECTION = "objection"
    OBJECTION_CANCELLED = "objection_cancelled"
    RATE = "rate"
    HANDOFF = "handoff"  # a person takes over; the bot goes quiet
    SMALL_TALK = "small_talk"  # greeting, thanks, or nothing to act on
    KEEP = "keep"  # an unknown button: keep it on the open ticket, say nothing


class AnalysisLike(Protocol):
    @property
    def intent(self) -> str: ...
    @property
    def uncertain(self) -> bool: ...


class FaqMatchLike(Protocol):
    @property
    def entry_id(self) -> str: ...


@dataclass(frozen=True)
class Situation:
    state: str  # the conversation's state (ConversationState value)
    text: str
    postback: str | None  # a button the hub sent, pressed
    has_attachments: bool
    analysis: AnalysisLike | None  # None when there is no text
    faq: FaqMatchLike | None  # the knowledge base's answer, if confident
    open_for_business: bool
    now: datetime
    urgency: str = "none"  # the NLU's urgent-safety signal: none | elevated | urgent


@dataclass(frozen=True)
class Plan:
    step: Step
    # what the step acts on: a score, a ticket number, an FAQ entry, the inbox id of an earlier question
    argument: str | None = None
    keep_state: bool = False  # True: do not move the conversation back to "bot"
    notes: tuple[str, ...] = field(default_factory=tuple)


_YES = re.compile(r"^\s*(نعم|ايه|إيه|اي|أي|ايوه|أيوه|اكيد|أكيد|تمام|موافق|yes|yeah|yep|y|ok|okay|1)\s*[.!]?\s*$", re.I)
_NO = re.compile(r"^\s*(لا|لأ|لاء|لا شكرا|لا شكراً|مو|ما ابي|no|nope|n|cancel|الغاء|إلغاء|2)\s*[.!]?\s*$", re.I)
_RATING = re.compile(r"^\s*([1-5١-٥۱-۵])\s*(?:/\s*[5٥۵])?\s*[.!]?\s*$")
_DIGITS = str.maketrans("١٢٣٤٥۱۲۳۴۵", "1234512345")


def rating_in(text: str | None) -> int | None:
    """A 1-5 score written on its own ("4", "٤", "4/5"), else None."""
    match = _RATING.match(text or "")
    return int(match.group(1).translate(_DIGITS)) if match else None


def plan(s: Situation) -> Plan:
    """What the hub does with one message (see the module docstring for the states)."""
    if s.urgency == "urgent" and not s.postback:
        # Before everything, in every state: even while a coordinator owns the chat, the citizen
        # gets the support lines at once and the protection unit is alerted.
        return Plan(Step.URGENT, keep_state=True)
    if s.state == "human":
        return Plan(Step.SILENT, keep_state=True)
    if s.postback:
        return _button(s.postback)
    if s.state == "awaiting_rating" and (score := rating_in(s.text)) is not None:
        return Plan(Step.RATE, str(score))
    if s.state == "awaiting_objection_confirm":
        if _YES.match(s.text):
            return Plan(Step.OBJECTION)
        if _NO.match(s.text):
            return Plan(Step.OBJECTION_CANCELLED)
    if s.analysis is None:  # attachments only: a person must look
        return Plan(Step.TICKET if s.has_attachments else Step.SMALL_TALK)
    intent = s.analysis.intent
    if intent == "ticket_status":
        return Plan(Step.STATUS)
    if intent == "objection":
        return Plan(Step.OBJECTION_ASK, keep_state=True)
    if intent == "handoff":
        return Plan(Step.HANDOFF, keep_state=True)
    if s.faq is not None and intent in FAQ_INTENTS:
        return Plan(Step.FAQ, s.faq.entry_id)
    if intent in ("greeting", "thanks", "other") and not s.analysis.uncertain:
        return Plan(Step.SMALL_TALK, intent)
    return Plan(Step.TICKET)


def _button(payload: str) -> Plan:
    """Buttons the hub sends: rating:<n>:<ticket>, objection[:<ticket>], objection:yes/no,
    faq:yes:<entry>, faq:no:<inbox id of the question>."""
    kind, _, rest = payload.partition(":")
    first, _, second = rest.partition(":")
    if kind == "rating" and (score := rating_in(first)) is not None:
        return Plan(Step.RATE, f"{score}:{second}" if second else str(score))
    if kind == "objection":
        if first == "yes":
            return Plan(Step.OBJECTION, second or None)
        if first == "no":
            return Plan(Step.OBJECTION_CANCELLED)
        return Plan(Step.OBJECTION_ASK, first or None, keep_state=True)
    if kind == "faq" and first in ("yes", "no"):
        return Plan(Step.FAQ_HELPED if first == "yes" else Step.FAQ_NOT_HELPED, second or None)
    return Plan(Step.KEEP, keep_state=True)
