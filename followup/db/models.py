"""Core tables: stations, residents, readings, dead letters.

Readings are keyed by the kiosk's reading UUID: ingest is an idempotent
upsert. ``payload`` keeps the message as received so a reading can be
compared field by field with the kiosk's.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, and_, false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from followup.db.base import Base
from sync.schema import StatusMessage


class Station(Base):
    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    group: Mapped[str] = mapped_column(String(63), default="default")
    name: Mapped[str] = mapped_column(String(200), default="")
    area: Mapped[str] = mapped_column(String(200), default="")
    first_seen: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    online: Mapped[bool] = mapped_column(default=False)
    status_boot_id: Mapped[str | None] = mapped_column(String(64))
    status_seq: Mapped[int | None]
    status: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The last ``hk.status/1`` accepted (newer boot/sequence wins)."""
    # What the fleet page filters, counts and sorts by, copied out of ``status``
    # whenever it is set (see :func:`status_columns`), so SQL can do it.
    status_version: Mapped[str | None] = mapped_column(String(200))
    status_backlog: Mapped[int | None]
    status_disk_free_percent: Mapped[float | None]
    status_device_oldest_seen: Mapped[datetime | None]
    """The oldest ``last_seen`` among the station's devices that have one."""
    status_device_never_seen: Mapped[bool] = mapped_column(default=False, server_default=false())
    """A device in the status has never been seen."""
    status_device_min_battery: Mapped[int | None]
    """The lowest battery level among the station's devices that report one."""
    status_clock_synced: Mapped[bool | None]
    """Whether the station's clock is synchronised (None: its status does not say)."""
    status_tech_pin_failures: Mapped[int | None]
    """Wrong technician PINs in a row (the station's own count)."""

    __table_args__ = (
        Index("ix_stations_group_id", "group", "id"),
        Index("ix_stations_status_version", "status_version"),
    )

    @validates("status")
    def _copy_status_columns(self, _key: str, value: dict[str, Any] | None) -> Any:
        for name, column_value in status_columns(value).items():
            setattr(self, name, column_value)
        return value


def status_columns(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The ``status_*`` columns for a stored status (all empty when it cannot be read,
    as the fleet page then shows no status either)."""
    msg: StatusMessage | None = None
    if raw is not None:
        try:
            msg = StatusMessage.model_validate(raw)
        except ValidationError:
            msg = None
    if msg is None:
        return {
            "status_version": None,
            "status_backlog": None,
            "status_disk_free_percent": None,
            "status_device_oldest_seen": None,
            "status_device_never_seen": False,
            "status_device_min_battery": None,
            "status_clock_synced": None,
            "status_tech_pin_failures": None,
        }
    seen = [d.last_seen for d in msg.devices if d.last_seen is not None]
    battery = [d.battery_percent for d in msg.devices if d.battery_percent is not None]
    return {
        "status_version": msg.version,
        "status_backlog": msg.backlog,
        "status_disk_free_percent": msg.disk_free_percent,
        "status_device_oldest_seen": min(seen) if seen else None,
        "status_device_never_seen": any(d.last_seen is None for d in msg.devices),
        "status_device_min_battery": min(battery) if battery else None,
        "status_clock_synced": msg.clock_synced,
        "status_tech_pin_failures": msg.tech_pin_failures,
    }


class Resident(Base):
    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """HMAC-SHA256 of the ID number under the follow-up service's key."""
    id_number: Mapped[str] = mapped_column(String(18))
    """Shown only when a doctor asks to reveal it (audited)."""
    id_masked: Mapped[str] = mapped_column(String(18))
    name: Mapped[str | None] = mapped_column(String(100))
    sex: Mapped[str] = mapped_column(String(8), default="unknown")
    birth_date: Mapped[date | None]
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(300))
    area: Mapped[str | None] = mapped_column(String(200), index=True)
    hypertension_programme: Mapped[bool] = mapped_column(default=False)
    diabetes_programme: Mapped[bool] = mapped_column(default=False)
    hypertension_enrolled_on: Mapped[date | None]
    """When the resident was taken into hypertension management (the roster's 纳入管理日期)."""
    diabetes_enrolled_on: Mapped[date | None]
    """When the resident was taken into type 2 diabetes management."""
    responsible_doctor_id: Mapped[int | None] = mapped_column(index=True)
    home_station_id: Mapped[str | None] = mapped_column(String(63), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"Resident(id={self.id}, {self.id_masked})"


class Reading(Base):
    __tablename__ = "readings"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id"))
    station_seq: Mapped[int]
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    kind: Mapped[str] = mapped_column(String(20))
    measured_at: Mapped[datetime]
    """When the reading was made, as the doctor's side reckons it: the station's
    clock, or the arrival time where that clock was not trusted
    (:mod:`followup.ingest.timing`). Lists, trends, reviews and alerts go by it."""
    device_time: Mapped[datetime | None]
    received_at: Mapped[datetime]
    clock_synced: Mapped[bool | None]
    """Whether the station's clock was synchronised (None: the station did not say)."""
    station_measured_at: Mapped[datetime | None]
    """What the station's clock said, kept when ``measured_at`` is the arrival
    time instead; None when ``measured_at`` is the station's own."""

    systolic_mmhg: Mapped[int | None]
    diastolic_mmhg: Mapped[int | None]
    mean_arterial_mmhg: Mapped[int | None]
    pulse_bpm: Mapped[int | None]
    irregular_pulse: Mapped[bool] = mapped_column(default=False)
    glucose_mmol_per_l: Mapped[float | None]
    meal_context: Mapped[str | None] = mapped_column(String(20))
    out_of_range: Mapped[str | None] = mapped_column(String(2))
    weight_kg: Mapped[float | None]
    """``weight``: kg at 0.1, with the height (m) the BMI used and the BMI."""
    height_m: Mapped[float | None]
    bmi: Mapped[float | None]
    spo2_percent: Mapped[int | None]
    """``spo2``: whole percent (the oximeter's pulse in ``pulse_bpm``)."""
    temperature_c: Mapped[float | None]
    """``temperature``: °C at 0.1, and where it was taken."""
    temperature_site: Mapped[str | None] = mapped_column(String(30))

    device_model: Mapped[str] = mapped_column(String(200))
    device_serial: Mapped[str] = mapped_column(String(100), default="")

    category: Mapped[str] = mapped_column(String(20))
    """As shown on the kiosk (the message's classification); "" for a device event."""
    urgent: Mapped[bool]
    isolated_systolic: Mapped[bool | None]
    kiosk_rules_name: Mapped[str | None] = mapped_column(String(60))
    kiosk_rules_digest: Mapped[str | None] = mapped_column(String(64))
    """The rule set the kiosk classified with (None: a kiosk older than #14)."""
    server_category: Mapped[str | None] = mapped_column(String(20))
    """The doctor's side's own classification at ingest (the list's meaning);
    None for a device event or a value its rules find implausible."""
    server_urgent: Mapped[bool | None]
    server_rule: Mapped[str | None] = mapped_column(String(200))
    server_rules_digest: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """For ``kind`` ``device_event``: the event's values as received (what the
    device reported; never in the measurement columns above)."""
    software_version: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)

    reviewed_at: Mapped[datetime | None]
    """Set when a doctor's review covers this reading: it leaves the list."""
    set_aside: Mapped[str | None] = mapped_column(String(300))
    """Why the status refresher could not use this reading (it was dead-lettered
    and is left out of its resident's status); None for every usable reading."""

    resident: Mapped[Resident] = relationship(lazy="raise")

    __table_args__ = (
        Index("ix_readings_resident_measured", "resident_id", "measured_at"),
        Index("ix_readings_station_seq", "station_id", "station_seq"),
        Index("ix_readings_open", "reviewed_at", "urgent", "category"),
    )


BP_FOR_CONTROL = and_(
    Reading.kind == "blood_pressure",
    Reading.systolic_mmhg.is_not(None),
    Reading.diastolic_mmhg.is_not(None),
)
"""A blood pressure reading the dashboard's control rate can use."""
FASTING_GLUCOSE = and_(
    Reading.kind == "glucose",
    Reading.meal_context == "fasting",
    Reading.glucose_mmol_per_l.is_not(None),
)
"""A fasting glucose reading (the dashboard's glucose control rate)."""
# The dashboard's last reading of each month: index-only scans of each resident's
# readings of the year with their values (migration 0013_dashboard).
Index(
    "ix_readings_bp_control",
    Reading.resident_id,
    Reading.measured_at,
    Reading.systolic_mmhg,
    Reading.diastolic_mmhg,
    postgresql_where=BP_FOR_CONTROL,
    sqlite_where=BP_FOR_CONTROL,
)
Index(
    "ix_readings_fasting_glucose",
    Reading.resident_id,
    Reading.measured_at,
    Reading.glucose_mmol_per_l,
    postgresql_where=FASTING_GLUCOSE,
    sqlite_where=FASTING_GLUCOSE,
)


class DeadLetter(Base):
    """A message ingest refused, kept with its reason and raw bytes."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(String(300))
    station_id: Mapped[str | None] = mapped_column(String(63))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
