"""Citizen ratings (CSAT) and the supervisors' quality-review queue (تجويد).

After an answer the citizen is asked to rate it 1-5 on the same channel. Low ratings, and a
configurable random sample of answered tickets, go to a review queue where a supervisor scores the
answer against a rubric and may send the ticket back (it reopens with its coordinator).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticket_core import audit, lifecycle
from ticket_core.models import CsatRating, QualityReview, Ticket, TicketStatus, utcnow

# The rubric a reviewer scores each answer on, 1 (poor) to 5 (excellent).
RUBRIC: dict[str, dict[str, str]] = {
    "accuracy": {"ar": "صحة المعلومة واكتمالها", "en": "Correct and complete"},
    "clarity": {"ar": "وضوح الصياغة باللغة العربية", "en": "Clear wording"},
    "courtesy": {"ar": "اللباقة والتعاطف", "en": "Courteous and empathetic"},
    "resolution": {"ar": "حل الطلب أو توجيه واضح", "en": "Resolved or clearly directed"},
    "timeliness": {"ar": "الالتزام بوقت الرد", "en": "Answered on time"},
}


class ReviewError(ValueError):
    """A review is incomplete or the ticket cannot be sent back; the message says which."""


@dataclass(frozen=True)
class RatingOutcome:
    rating_id: int
    queued_for_review: bool


def record_rating(
    session: Session, ticket: Ticket, score: int, *, channel: str, comment: str | None, low_score: int
) -> RatingOutcome:
    """Store a 1-5 rating; a low one sends the ticket to the review queue."""
    if not 1 <= score <= 5:
        raise ValueError("a rating is a whole number from 1 to 5")
    rating = CsatRating(
        ticket_id=ticket.id, score=score, comment=(comment or None), channel=channel, created_at=utcnow()
    )
    session.add(rating)
    session.flush()
    audit.record(session, "ticket.rated", actor="citizen", ticket_id=ticket.id, score=score)
    queued = False
    if score <= low_score:
        queued = queue_review(session, ticket.id, "low_csat")
    return RatingOutcome(rating.id, queued)


def queue_review(session: Session, ticket_id: int, reason: str) -> bool:
    """Put a ticket in the review queue once per reason (a second low rating adds nothing)."""
    exists = session.execute(
        select(QualityReview.id).where(
            QualityReview.ticket_id == ticket_id, QualityReview.reason == reason, QualityReview.status == "pending"
        )
    ).first()
    if exists:
        return False
    session.add(QualityReview(ticket_id=ticket_id, reason=reason, status="pending", created_at=utcnow()))
    return True


def maybe_sample(session: Session, ticket_id: int, rate: float, rng: random.Random | None = None) -> bool:
    """Sample an answered ticket for review with probability ``rate``."""
    if (rng or random).random() < rate:
        return queue_review(session, ticket_id, "sample")
    return False


def submit_review(
    session: Session,
    review_id: int,
    reviewer_id: int,
    scores: dict[str, int],
    *,
    comment: str | None,
    send_back: bool,
) -> QualityReview:
    """Score an answer on every rubric criterion; ``send_back`` reopens the ticket."""
    review = session.get(QualityReview, review_id)
    if review is None or review.status != "pending":
        raise ReviewError(f"review {review_id} is not pending")
    missing = sorted(set(RUBRIC) - set(scores))
    if missing or any(not 1 <= int(v) <= 5 for v in scores.values()) or set(scores) - set(RUBRIC):
        raise ReviewError(
            f"score every criterion 1-5: {', '.join(RUBRIC)}" + (f" (missing {', '.join(missing)})" if missing else "")
        )
    if send_back and not comment:
        raise ReviewError("sending a ticket back needs a comment for the coordinator")
    review.scores = {k: int(v) for k, v in scores.items()}
    review.comment = comment
    review.reviewer_id = reviewer_id
    review.status = "done"
    review.sent_back = send_back
    review.reviewed_at = utcnow()
    audit.record(
        session,
        "quality.reviewed",
        actor=f"user:{reviewer_id}",
        ticket_id=review.ticket_id,
        scores=review.scores,
        sent_back=send_back,
    )
    if send_back:
        ticket = session.get(Ticket, review.ticket_id)
        assert ticket is not None
        lifecycle.move(
            session, ticket, TicketStatus.REOPENED, actor=f"user:{reviewer_id}", reason=f"quality review: {comment}"
        )
    return review
