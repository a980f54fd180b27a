"""Typed models of the kiosk's local store (SQLAlchemy 2).

A resident's ID number is kept only for delivery to the doctor's side; the
store finds residents by a keyed hash and shows only the masked form.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from healthkiosk.dbtypes import UtcDateTime, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime}


class Resident(Base):
    """A resident seen at this station."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """HMAC-SHA256 of the ID number under the station's key: the look-up key."""
    id_number: Mapped[str] = mapped_column(String(18))
    """For delivery only: never displayed, never logged."""
    id_masked: Mapped[str] = mapped_column(String(18))
    name: Mapped[str | None] = mapped_column(String(100))
    sex: Mapped[str] = mapped_column(String(8), default="unknown")
    birth_date: Mapped[date | None]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]

    def __repr__(self) -> str:
        return f"Resident(id={self.id}, {self.id_masked})"


class Visit(Base):
    """One elder at the kiosk, from check-in to the attract screen."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))
    """completed, abandoned, timeout, error."""


class Reading(Base):
    """A reading as stored, shown and sent (``hk.reading/1``)."""

    __tablename__ = "readings"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    station_seq: Mapped[int] = mapped_column(unique=True)
    """Monotonic per station: the order of readings whatever the clocks say."""
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    """blood_pressure, glucose, or device_event (a value the rules refused:
    ``event`` holds it, the classification columns are empty)."""
    measured_at: Mapped[datetime] = mapped_column(index=True)
    """The kiosk's clock."""
    device_time: Mapped[datetime | None]
    """The device's clock, when it has one."""

    # blood pressure, whole mmHg
    systolic_mmhg: Mapped[int | None]
    diastolic_mmhg: Mapped[int | None]
    mean_arterial_mmhg: Mapped[int | None]
    pulse_bpm: Mapped[int | None]
    irregular_pulse: Mapped[bool] = mapped_column(default=False)
    measurements: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    """The individual measurements averaged into this reading."""

    # glucose, mmol/L at 0.1 resolution, with what the meter said
    glucose_mmol_per_l: Mapped[float | None]
    meal_context: Mapped[str | None] = mapped_column(String(20))
    original_value: Mapped[float | None]
    original_unit: Mapped[str | None] = mapped_column(String(10))
    out_of_range: Mapped[str | None] = mapped_column(String(2))

    # device event: the hk.reading/1 DeviceEventValues as sent
    event: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    # device
    device_model: Mapped[str] = mapped_column(String(100))
    device_manufacturer: Mapped[str] = mapped_column(String(100), default="")
    device_serial: Mapped[str] = mapped_column(String(100), default="")
    device_firmware: Mapped[str] = mapped_column(String(100), default="")
    device_transport: Mapped[str] = mapped_column(String(10))

    # classification as shown on the kiosk
    category: Mapped[str] = mapped_column(String(20))
    urgent: Mapped[bool]
    isolated_systolic: Mapped[bool | None]
    close_to_limit: Mapped[bool] = mapped_column(default=False)
    rule: Mapped[str | None] = mapped_column(String(200))
    rules_name: Mapped[str | None] = mapped_column(String(60))
    rules_digest: Mapped[str | None] = mapped_column(String(64))
    """The rule set that classified it (``classification.rules``); None before #14."""

    software_version: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    clock_synced: Mapped[bool | None]
    """Whether the kiosk's clock was synchronised when the reading was made
    (None: not known; see :mod:`healthkiosk.clocktrust`)."""

    resident: Mapped[Resident] = relationship(lazy="joined")
    outbox: Mapped[OutboxEntry | None] = relationship(back_populates="reading")


class OutboxEntry(Base):
    """A reading waiting for the doctor's side's receipt."""

    __tablename__ = "outbox"

    reading_uuid: Mapped[str] = mapped_column(
        ForeignKey("readings.uuid", ondelete="CASCADE"), primary_key=True
    )
    enqueued_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    rejected_at: Mapped[datetime | None]
    rejected_reason: Mapped[str | None] = mapped_column(Text)

    reading: Mapped[Reading] = relationship(back_populates="outbox")

    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "rejected_at"),)


class DeviceEvent(Base):
    """Something a device reported that is not a valid reading (kept, never sent
    as one): implausible values, error codes, status bits."""

    __tablename__ = "device_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    device: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class DeviceMemory(Base):
    """A record a device sent that is not any visit's reading (made between
    visits, sent from its memory at connect, printed while nobody waited, dated
    before the step by a trusted clock): kept for the technician, never
    attributed to a resident and never sent as a reading."""

    __tablename__ = "device_memory"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime]
    """The station's clock when it arrived."""
    role: Mapped[str] = mapped_column(String(40))
    """The kiosk's role of the device (blood_pressure, glucose, ...)."""
    device: Mapped[str] = mapped_column(String(200))
    """The device's label (model, serial or address)."""
    kind: Mapped[str] = mapped_column(String(40))
    """blood_pressure, glucose, weight, oximetry, temperature."""
    reason: Mapped[str] = mapped_column(String(40))
    """:class:`healthkiosk.readings.MemoryReason`."""
    device_time: Mapped[datetime | None]
    """The device's own time stamp, as it sent it (None: none)."""
    values: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_device_memory_received_at", "received_at"),)


class DeviceCursor(Base):
    """How far a meter's memory has been read: downloads resume from here."""

    __tablename__ = "device_cursors"

    device_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_sequence: Mapped[int]
    updated_at: Mapped[datetime]


class AppliedConfig(Base):
    """Each remote configuration received: applied or rejected, with the reason."""

    __tablename__ = "applied_config"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]
    scope: Mapped[str] = mapped_column(String(20))
    """station or group."""
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    """applied, rejected, reverted."""
    reason: Mapped[str | None] = mapped_column(Text)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


class Meta(Base):
    """Small facts about the store itself (station id it belongs to, ...)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
