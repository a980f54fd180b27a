"""Escalation steps: who was told, when, of an urgent reading (or a station's help call)
that nobody acknowledged in time (:mod:`followup.alerts.escalation`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from followup.db.base import Base


class EscalationStep(Base):
    __tablename__ = "escalation_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(20))
    """What is escalated: ``alert`` (an urgent reading; ``subject_ref`` its UUID) or
    another source's kind (``help_call``)."""
    subject_ref: Mapped[str] = mapped_column(String(64))
    resident_id: Mapped[int | None]
    station_id: Mapped[str | None] = mapped_column(String(63))
    step: Mapped[int]
    """1, 2, 3: the place in the duty chain."""
    role: Mapped[str] = mapped_column(String(20))
    """``doctor`` (the responsible doctor), ``station`` (the station's duty phone),
    ``centre`` (the health centre)."""
    target: Mapped[str] = mapped_column(String(100), default="")
    """Who, for people: a doctor's name, a station's id, "centre" (no phone number)."""
    at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    """``sent`` (the webhook answered 2xx), ``failed`` (it did not: the timer still
    moves on), ``skipped`` (no one configured for this link: the next is told at once)."""
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("subject_kind", "subject_ref", "step", name="uq_escalation_subject_step"),
        Index("ix_escalation_steps_resident", "resident_id", "at"),
    )
