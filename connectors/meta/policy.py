"""What Meta lets the hub send, and when: messaging windows and button limits, shared by the three channels.

Windows (../shared/reference/channels.md §2.7, §3.3, §4.4, §8.2):

- Messenger and Instagram: a normal ``RESPONSE`` within 24 hours of the citizen's last message; from
  24 hours to 7 days only a person may answer, with ``messaging_type=MESSAGE_TAG, tag=HUMAN_AGENT``
  (author "coordinator"); after that nothing can be sent until the citizen writes again.
- WhatsApp: free-form messages within 24 hours of the citizen's last message; after that only an
  approved template.

When the hub does not know when the citizen last wrote (``last_inbound_at`` is None) the send goes
out as a normal response and the platform decides; its "outside the window" error is terminal too.
Refusals are DeliveryErrors with ``retryable=False`` and a reason written for the coordinator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from connectors.base import Button, DeliveryError, OutboundMessage, asdict_shallow, split_text
from connectors.meta.graph import messenger_window_closed, whatsapp_window_closed

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AUTHORS = frozenset({"coordinator"})  # Meta forbids the HUMAN_AGENT tag on automated replies


@dataclass(frozen=True)
class SendMode:
    """How a Messenger/Instagram message goes out: its ``messaging_type`` and optional ``tag``."""

    messaging_type: str
    tag: str | None = None

    def fields(self) -> dict[str, str]:
        return {"messaging_type": self.messaging_type, **({"tag": self.tag} if self.tag else {})}


RESPONSE = SendMode("RESPONSE")
HUMAN_AGENT = SendMode("MESSAGE_TAG", "HUMAN_AGENT")


def messenger_send_mode(message: OutboundMessage, now: datetime, label: str) -> SendMode:
    """RESPONSE inside 24 h, HUMAN_AGENT for a coordinator inside 7 days, else a terminal refusal."""
    if message.last_inbound_at is None:
        return RESPONSE
    elapsed = now - message.last_inbound_at
    if elapsed <= STANDARD_WINDOW:
        return RESPONSE
    if elapsed <= HUMAN_AGENT_WINDOW:
        if message.author in HUMAN_AUTHORS:
            return HUMAN_AGENT
        until = (message.last_inbound_at + HUMAN_AGENT_WINDOW).strftime("%Y-%m-%d %H:%M UTC")
        raise DeliveryError(
            f"window closed for automated replies: the citizen last wrote on {label} {_ago(elapsed)}, and "
            f"{label} allows automated replies only within 24 hours; a coordinator can still answer "
            f"until {until} (sent with the HUMAN_AGENT tag)",
            retryable=False,
            code="window_closed",
        )
    raise DeliveryError(
        f"{messenger_window_closed(label)} (the citizen last wrote {_ago(elapsed)})",
        retryable=False,
        code="window_closed",
    )


def whatsapp_window_open(message: OutboundMessage, now: datetime) -> bool:
    return message.last_inbound_at is None or now - message.last_inbound_at <= STANDARD_WINDOW


def whatsapp_window_error(message: OutboundMessage, now: datetime) -> DeliveryError:
    ago = f" (the citizen last wrote {_ago(now - message.last_inbound_at)})" if message.last_inbound_at else ""
    return DeliveryError(whatsapp_window_closed() + ago, retryable=False, code="window_closed")


# --- buttons -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ButtonLimits:
    """What a platform's native buttons accept; anything beyond goes out as numbered text instead."""

    max_count: int
    max_title_chars: int
    max_payload_chars: int
    max_body_chars: int | None = None  # WhatsApp's interactive body is shorter than a text message
    unique_titles: bool = False

    def fit(self, buttons: tuple[Button, ...], body: str) -> bool:
        if not buttons:
            return True
        titles = [b.title.strip() for b in buttons]
        return (
            len(buttons) <= self.max_count
            and all(0 < len(t) <= self.max_title_chars for t in titles)
            and all(0 < len(b.payload) <= self.max_payload_chars for b in buttons)
            and (self.max_body_chars is None or 0 < len(body) <= self.max_body_chars)
            and (not self.unique_titles or len(set(titles)) == len(titles))
        )


# Messenger and Instagram quick replies: up to 13, title 20 characters, payload 1000 characters.
QUICK_REPLIES = ButtonLimits(max_count=13, max_title_chars=20, max_payload_chars=1000)
# WhatsApp interactive reply buttons: up to 3, unique titles of 20 characters, ids of 256, body 1024.
WHATSAPP_REPLY_BUTTONS = ButtonLimits(
    max_count=3, max_title_chars=20, max_payload_chars=256, max_body_chars=1024, unique_titles=True
)


def buttons_fit(message: OutboundMessage, limits: ButtonLimits, max_text: int, unit: str) -> bool:
    """Would the platform's buttons carry these? Judged on the part they will ride on: the delivery
    service splits the text first and attaches the buttons to the last part."""
    if not message.buttons:
        return True
    parts = split_text(message.text, max_text, unit=unit) or [""]
    return limits.fit(message.buttons, parts[-1])


def as_numbered_text(message: OutboundMessage) -> OutboundMessage:
    """The plain-text fallback: the choices as numbered lines under the text, no buttons."""
    if not message.buttons:
        return message
    lines = [message.text, ""] + [f"{i}. {b.title}" for i, b in enumerate(message.buttons, 1)]
    return OutboundMessage(**{**asdict_shallow(message), "text": "\n".join(lines), "buttons": ()})


def _ago(elapsed: timedelta) -> str:
    hours = elapsed.total_seconds() / 3600
    if hours < 48:
        return f"{hours:.0f} hours ago"
    return f"{hours / 24:.0f} days ago"
