"""What the kiosk hands the store, and what it gets back: plain frozen
dataclasses, separate from the ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from drivers.readings import BloodPressureMeasurement
from healthkiosk.idnumber import IdNumber


class ClassificationLike(Protocol):
    """What the store keeps of a classification (``healthkiosk.rules``'
    ``Classification`` has these attributes, and so has :class:`Classification`)."""

    @property
    def category(self) -> str: ...
    @property
    def urgent(self) -> bool: ...
    @property
    def isolated_systolic(self) -> bool | None: ...
    @property
    def close_to_limit(self) -> bool: ...
    @property
    def rule(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Classification:
    """The classification shown on the kiosk, as stored and sent."""

    category: str
    urgent: bool
    isolated_systolic: bool | None = None
    close_to_limit: bool = False
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class ResidentDetails:
    """Who measured, as far as known. :meth:`from_id_number` fills sex and birth
    date from the number; a received message gives exactly what it carries."""

    id_number: IdNumber  # IdNumber's repr is masked
    name: str | None = None
    sex: str = "unknown"
    birth_date: date | None = None

    @classmethod
    def from_id_number(cls, number: IdNumber, *, name: str | None = None) -> ResidentDetails:
        return cls(id_number=number, name=name, sex=number.sex.value, birth_date=number.birth_date)


@dataclass(frozen=True, slots=True)
class TimedMeasurement:
    """One blood pressure measurement and the kiosk's clock when it arrived."""

    measured_at: datetime
    value: BloodPressureMeasurement


@dataclass(frozen=True, slots=True)
class BloodPressureAverage:
    """A blood pressure reading: the average of the measurements (2–3 by the
    guideline's protocol), averaged and rounded by the rules module."""

    systolic_mmhg: int
    diastolic_mmhg: int
    pulse_bpm: int | None
    measurements: tuple[TimedMeasurement, ...]
    mean_arterial_mmhg: int | None = None


@dataclass(frozen=True, slots=True)
class SavedReading:
    uuid: UUID
    station_seq: int
    resident_id: int
    measured_at: datetime
