"""Typed readings, the one thing every driver produces.

Values carry their unit in the field name; glucose is kept in mmol/L with the
device's original value and unit beside it; timestamps are timezone-aware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Transport(StrEnum):
    BLE = "ble"
    SERIAL = "serial"
    EMULATED = "emulated"
    USB = "usb"
    """A USB device spoken to directly (pyusb), not as a serial port: the receipt printer."""


class PressureUnit(StrEnum):
    MMHG = "mmHg"
    KPA = "kPa"


class GlucoseUnit(StrEnum):
    MMOL_PER_L = "mmol/L"
    MG_PER_DL = "mg/dL"
    KG_PER_L = "kg/L"
    MOL_PER_L = "mol/L"


class MealContext(StrEnum):
    FASTING = "fasting"
    AFTER_MEAL = "after_meal"
    RANDOM = "random"


MG_PER_DL_PER_MMOL_PER_L = 18.016
"""1 mmol/L of glucose is 18.016 mg/dL (molar mass 180.16 g/mol): docs/clinical.md."""

KPA_TO_MMHG = 7.500616827
"""1 kPa in mmHg."""


def mg_per_dl_to_mmol_per_l(value: float) -> float:
    """Convert, round to the meters' 0.1 mmol/L (docs/clinical.md, "Units and conversions")."""
    return round(value / MG_PER_DL_PER_MMOL_PER_L + 1e-9, 1)


def kpa_to_mmhg(value: float) -> int:
    """To the nearest whole mmHg, halves up (docs/clinical.md, "Units and conversions")."""
    return int(value * KPA_TO_MMHG + 0.5)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Who measured: kept with every reading (Device Information, 0x180A)."""

    model: str
    transport: Transport
    manufacturer: str = ""
    serial: str = ""
    firmware: str = ""
    address: str = ""
    """BLE address or serial port, for logs and the technician screen."""

    @property
    def label(self) -> str:
        where = f" at {self.address}" if self.address else ""
        serial = f" s/n {self.serial}" if self.serial else ""
        return f"{self.manufacturer} {self.model}{serial}{where}".strip()


@dataclass(frozen=True, slots=True)
class BloodPressureStatus:
    """Measurement status bits of the Blood Pressure Measurement (0x2A35)."""

    body_movement: bool = False
    cuff_too_loose: bool = False
    irregular_pulse: bool = False
    pulse_out_of_range: bool = False
    improper_position: bool = False

    @property
    def discards_reading(self) -> bool:
        """Movement, cuff fit or position: no reading, measure again."""
        return self.body_movement or self.cuff_too_loose or self.improper_position


@dataclass(frozen=True, slots=True)
class CuffPressure:
    """A live cuff pressure during inflation/deflation (0x2A36)."""

    mmhg: float


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """One blood pressure measurement from a monitor, in whole mmHg."""

    systolic_mmhg: int
    diastolic_mmhg: int
    pulse_bpm: int | None
    device: DeviceInfo
    mean_arterial_mmhg: int | None = None
    device_time: datetime | None = None
    original_unit: PressureUnit = PressureUnit.MMHG
    status: BloodPressureStatus = field(default_factory=BloodPressureStatus)
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """One capillary glucose measurement, in mmol/L at 0.1 resolution."""

    mmol_per_l: float
    original_value: float
    original_unit: GlucoseUnit
    device: DeviceInfo
    device_time: datetime | None = None
    sequence_number: int | None = None
    meal: MealContext | None = None
    out_of_range: str | None = None
    """``"LO"`` or ``"HI"`` when the meter shows that instead of a number."""


Measurement = BloodPressureMeasurement | GlucoseMeasurement


@dataclass(frozen=True, slots=True)
class IdCardData:
    """The text block of a second-generation resident ID card.

    ``id_number`` is the whole number: pass it on to the store, never print
    it (``repr`` masks it).
    """

    name: str
    sex: str
    nation: str
    birth_date: str
    address: str
    id_number: str = field(repr=False)
    issuing_authority: str
    valid_from: str
    valid_to: str
