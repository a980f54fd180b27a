"""A doctor's review of a resident: the call/visit outcome and the next follow-up."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from followup.db.base import Base

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
FOLLOWUP_DONE = frozenset({"agreed_to_visit", "home_visit_done", "referred", "followup_record"})
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
