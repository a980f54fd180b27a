"""Urgent-reading alerts: one row per reading (idempotent), with its acknowledgement."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from followup.db.base import Base


class Alert(Base):
    __tablename__ = "alerts"

    reading_uuid: Mapped[str] = mapped_column(ForeignKey("readings.uuid"), primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    measured_at: Mapped[datetime]
    raised_at: Mapped[datetime]
    mqtt_published_at: Mapped[datetime | None]
    webhook_status: Mapped[str | None] = mapped_column(String(40))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def seconds_to_acknowledge(self) -> float | None:
        """From the measurement to the doctor's acknowledgement."""
        if self.acknowledged_at is None:
            return None
        return (self.acknowledged_at - self.measured_at).total_seconds()
