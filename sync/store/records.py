"""What the kiosk hands the store, and what it gets back: plain frozen
dataclasses, separate from the ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from healthkiosk import __version__
from healthkiosk.idnumber import IdNumber
from sync.schema import (
    BloodPressureValues,
    DeviceEventValues,
    GlucoseValues,
    WireClassification,
    WireDevice,
)


@dataclass(frozen=True, slots=True)
class ResidentDetails:
    """Who measured, as far as known (what the kiosk or a received message
    gives: sex and birth date are not derived from the number here)."""

    id_number: IdNumber  # IdNumber's repr is masked
    name: str | None = None
    sex: str = "unknown"
    birth_date: date | None = None


@dataclass(frozen=True, slots=True)
class NewReading:
    """A completed reading as the store takes it: the parts of its
    ``hk.reading/1`` message (validated when they were made), who measured, and
    the visit it belongs to.

    The kiosk's readings come without a ``station_seq`` (the store hands out
    the next); an imported reading carries the number it had."""

    uuid: UUID
    resident: ResidentDetails
    measured_at: datetime
    """The kiosk's clock when the reading was complete (timezone-aware)."""
    values: BloodPressureValues | GlucoseValues | DeviceEventValues
    device: WireDevice
    classification: WireClassification | None
    """None only for a device event (a value the rules refused: never classified)."""
    device_time: datetime | None = None
    visit_uuid: str | None = None
    """The visit (created on its first reading); None for an imported reading."""
    station_seq: int | None = None
    software_version: str = __version__
    clock_synced: bool | None = None
    """Whether the kiosk's clock was synchronised when the reading was made."""

    @property
    def kind(self) -> str:
        if isinstance(self.values, DeviceEventValues):
            return "device_event"
        return "blood_pressure" if isinstance(self.values, BloodPressureValues) else "glucose"


@dataclass(frozen=True, slots=True)
class SavedReading:
    uuid: UUID
    station_seq: int
    resident_id: int
    measured_at: datetime
