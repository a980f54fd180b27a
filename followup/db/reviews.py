"""A doctor's review of a resident: the call/visit outcome and the next follow-up."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from followup.db.base import Base
from followup.db.models import Reading

# Simple.org's call outcomes (docs/clinical.md, "Follow-up list"), with the 规范's home
# visit and referral.
NO_ANSWER = "no_answer"
OUTCOMES = {
    "agreed_to_visit": "Contacted: agreed to come",
    NO_ANSWER: "No answer",
    "remind_later": "Remind later",
    "home_visit_done": "Home visit done",
    "referred": "Referred",
    "removed": "Remove from list",
}
RECORD_OUTCOME = "follow_up_record"
"""The outcome of a review made by a follow-up record (随访服务记录表); not one of the
review form's choices."""
FOLLOWUP_DONE = frozenset({"agreed_to_visit", "home_visit_done", "referred", RECORD_OUTCOME})
"""Outcomes that count as a follow-up done (the dashboard's 4 a year; docs/clinical.md,
"Dashboard"): a contact. "no answer" (未接通) is a call attempt: it leaves the resident on
the list and changes no status; "remind later" and "remove" are not follow-ups either.
``followup_record``: a national follow-up record saved as the review (the forms)."""
REMOVE_REASONS = {
    "already_seen": "Already seen / visited",
    "not_responding": "Not responding",
    "wrong_number": "Wrong number",
    "moved": "Moved / transferred",
    "refused": "Refused",
    "died": "Died",
    "other": "Other",
}
METHODS = {"phone": "Phone call", "visit": "Home visit", "clinic": "At the clinic"}


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    doctor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    method: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(32))
    remove_reason: Mapped[str | None] = mapped_column(String(32))
    next_follow_up_on: Mapped[date | None]
    note: Mapped[str] = mapped_column(Text, default="")
    readings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """UUIDs of the readings this review covered (they left the list)."""

    __table_args__ = (Index("ix_reviews_resident_created", "resident_id", "created_at"),)


OUTCOME_NAMES = {**OUTCOMES, RECORD_OUTCOME: "Follow-up record"}
"""Every outcome a saved review can have, for showing the history."""


def save_review(
    session: Session,
    *,
    resident_id: int,
    doctor_id: int,
    now: datetime,
    seen_until: datetime | None,
    method: str,
    outcome: str,
    remove_reason: str | None = None,
    next_follow_up_on: date | None = None,
    note: str = "",
) -> Review:
    """A review of a resident, covering the open readings that arrived up to ``seen_until``
    (what the doctor's page showed): they leave the list. The one way a review is saved,
    from the review form or from a follow-up record."""
    covered: list[str] = []
    if seen_until is not None:
        covered = list(
            session.scalars(
                select(Reading.uuid).where(
                    Reading.resident_id == resident_id,
                    Reading.reviewed_at.is_(None),
                    Reading.received_at <= seen_until,
                )
            )
        )
        if covered:
            session.execute(
                update(Reading).where(Reading.uuid.in_(covered)).values(reviewed_at=now)
            )
    rev = Review(
        resident_id=resident_id,
        doctor_id=doctor_id,
        created_at=now,
        method=method,
        outcome=outcome,
        remove_reason=remove_reason,
        next_follow_up_on=next_follow_up_on,
        note=note,
        readings=covered,
    )
    session.add(rev)
    session.flush()
    return rev
