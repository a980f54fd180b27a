"""Each resident's follow-up status, kept current so the list is one indexed query.

Rows are recomputed by :mod:`followup.db.status_store` (from the rules in
``healthkiosk.rules.status``) whenever a reading arrives, a review is saved
or a resident is edited. ``level`` is 2 urgent, 1 abnormal, 0 none; overdue
is ``due_on < today`` so time passing needs no recomputation.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from followup.db.base import Base
from followup.db.models import Reading


class ResidentStatusRow(Base):
    __tablename__ = "resident_status"

    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), primary_key=True)
    level: Mapped[int] = mapped_column(default=0)
    trigger_uuid: Mapped[str | None] = mapped_column(String(36))
    trigger_at: Mapped[datetime | None]
    trigger_kind: Mapped[str | None] = mapped_column(String(20))
    trigger_summary: Mapped[str | None] = mapped_column(String(80))
    trigger_station_id: Mapped[str | None] = mapped_column(String(63))
    rule: Mapped[str | None] = mapped_column(String(60))
    reason: Mapped[str | None] = mapped_column(Text)
    screening: Mapped[bool] = mapped_column(default=False)
    review_due_on: Mapped[date | None]
    due_on: Mapped[date | None]
    """Overdue from the day after this date unless a contact comes first."""
    doctor_id: Mapped[int | None]
    """The resident's responsible doctor, copied at each refresh (a resident's edit and
    the roster import refresh): the list of one doctor's residents is an index range."""
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_resident_status_level_trigger", "level", "trigger_at"),
        Index("ix_resident_status_due_on", "due_on"),
        # The list's counts (level and due date only): an index-only scan,
        # about a third of a sequential scan's time at 100,000 residents.
        Index("ix_resident_status_level_due_on", "level", "due_on"),
        Index("ix_resident_status_doctor_level_trigger", "doctor_id", "level", "trigger_at"),
        Index("ix_resident_status_doctor_level_due_on", "doctor_id", "level", "due_on"),
    )


class StatusWatermark(Base):
    """How far the status refresher has read ``readings.received_at``."""

    __tablename__ = "status_watermark"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime | None]


# The refresher scans new readings by arrival time (added here, not in models.py).
Index("ix_readings_received_at", Reading.received_at)
