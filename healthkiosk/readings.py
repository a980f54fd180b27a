"""Typed readings, the one thing every driver produces.

Values carry their unit in the field name; glucose is kept in mmol/L with the
device's original value and unit beside it; timestamps are timezone-aware.
Weight is kept in kg, temperature in °C (each at 0.1, halves up, the
original value and unit beside it), SpO2 in whole percent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
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


_TENTH = Decimal("0.1")

MG_PER_DL_PER_MMOL_PER_L = 18.016
"""1 mmol/L of glucose is 18.016 mg/dL (molar mass 180.16 g/mol): docs/clinical.md."""

KPA_TO_MMHG = 7.500616827
"""1 kPa in mmHg."""


def round_tenth(value: Decimal | float | int) -> float:
    """To 0.1, halves up on the decimal value as written (6.05 → 6.1, where
    ``round(6.05, 1)`` gives 6.0): the one rounding of every value shown at
    0.1 (glucose, weight, BMI, temperature) by the codecs, the drivers and the
    rules alike (docs/clinical.md, "Units and conversions")."""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    return float(d.quantize(_TENTH, rounding=ROUND_HALF_UP))


def mg_per_dl_to_mmol_per_l(value: Decimal | float) -> float:
    """Convert, round to the meters' 0.1 mmol/L, halves up (docs/clinical.md,
    "Units and conversions")."""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    return round_tenth(d / Decimal(str(MG_PER_DL_PER_MMOL_PER_L)))


def kpa_to_mmhg(value: float) -> int:
    """To the nearest whole mmHg, halves up (docs/clinical.md, "Units and conversions")."""
    return int(value * KPA_TO_MMHG + 0.5)


class WeightUnit(StrEnum):
    KG = "kg"
    LB = "lb"


class HeightUnit(StrEnum):
    M = "m"
    IN = "in"


class TemperatureUnit(StrEnum):
    CELSIUS = "C"
    FAHRENHEIT = "F"


KG_PER_LB = 0.45359237
"""The international avoirdupois pound (1959), exactly."""

M_PER_IN = 0.0254
"""The international inch (1959), exactly."""


def _exact(value: Decimal | float | int) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def weight_to_kg(value: Decimal | float, unit: WeightUnit) -> float:
    """A weight in kg at 0.1, halves up, from kg or lb."""
    d = _exact(value)
    if unit is WeightUnit.LB:
        d *= Decimal(str(KG_PER_LB))
    return round_tenth(d)


def height_to_m(value: Decimal | float, unit: HeightUnit) -> float:
    """A height in m at 0.001 (the Weight Scale's finest), halves up, from m or in."""
    d = _exact(value)
    if unit is HeightUnit.IN:
        d *= Decimal(str(M_PER_IN))
    return float(d.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def temperature_to_celsius(value: Decimal | float, unit: TemperatureUnit) -> float:
    """A temperature in °C at 0.1, halves up, from °C or °F (°C = (°F − 32) × 5/9)."""
    d = _exact(value)
    if unit is TemperatureUnit.FAHRENHEIT:
        d = (d - 32) * 5 / 9
    return round_tenth(d)


def body_mass_index(*, weight_kg: Decimal | float, height_m: Decimal | float) -> float:
    """BMI = weight (kg) / height (m)², at 0.1, halves up (docs/clinical.md, "Body mass index")."""
    h = _exact(height_m)
    if h <= 0:
        raise ValueError(f"height {height_m} m is not a height")
    return round_tenth(_exact(weight_kg) / (h * h))


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


@dataclass(frozen=True, slots=True)
class BodyComposition:
    """What a Body Composition Service scale (0x181B) adds to a weight; each
    field None when the scale did not send it or sent "unavailable"."""

    body_fat_percent: float | None = None
    muscle_percent: float | None = None
    muscle_mass_kg: float | None = None
    fat_free_mass_kg: float | None = None
    soft_lean_mass_kg: float | None = None
    body_water_mass_kg: float | None = None
    impedance_ohm: float | None = None
    basal_metabolism_kj: int | None = None


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """One weight from a scale, in kg at 0.1 (the original value and unit beside it)."""

    weight_kg: float
    original_value: float
    original_unit: WeightUnit
    device: DeviceInfo
    device_time: datetime | None = None
    user_id: int | None = None
    height_m: float | None = None
    """The height the scale sent (its user's profile), in m; None when it sent none."""
    bmi: float | None = None
    """Computed here from the weight and ``height_m`` (0.1, halves up); None without a height."""
    device_bmi: float | None = None
    """The BMI the scale itself sent, kept as it was."""
    body_composition: BodyComposition | None = None


class OximetryMode(StrEnum):
    SPOT_CHECK = "spot_check"
    CONTINUOUS = "continuous"


@dataclass(frozen=True, slots=True)
class OximetryMeasurement:
    """One stable pulse oximetry reading: SpO2 in whole percent, pulse in whole bpm."""

    spo2_percent: int
    pulse_bpm: int | None
    device: DeviceInfo
    mode: OximetryMode
    device_time: datetime | None = None
    pulse_amplitude_index: float | None = None
    """The perfusion index the device sent (percent), or None."""


class TemperatureSite(StrEnum):
    """Temperature Type (0x2A1D) codes 1-9, as ISO/IEEE 11073-10408 names them."""

    ARMPIT = "armpit"
    BODY = "body"
    EAR = "ear"
    FINGER = "finger"
    GASTROINTESTINAL_TRACT = "gastrointestinal_tract"
    MOUTH = "mouth"
    RECTUM = "rectum"
    TOE = "toe"
    TYMPANUM = "tympanum"


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """One body temperature, in °C at 0.1 (the original value and unit beside it)."""

    celsius: float
    original_value: float
    original_unit: TemperatureUnit
    device: DeviceInfo
    site: TemperatureSite | None = None
    device_time: datetime | None = None


Measurement = BloodPressureMeasurement | GlucoseMeasurement
"""What the store and the wire schema take today (weight, oximetry and
temperature join them with the visit integration of issue #17)."""


AnyMeasurement = (
    BloodPressureMeasurement
    | GlucoseMeasurement
    | WeightMeasurement
    | OximetryMeasurement
    | TemperatureMeasurement
)


class MemoryReason(StrEnum):
    """Why a record a device sent is not the reading of the visit waiting for it."""

    BEFORE_STEP = "before_step"
    """Made before the visit's measurement step began (by the device's own
    sequence number or memory index): someone measured between visits."""
    STORED_AT_CONNECT = "stored_at_connect"
    """Sent from the device's memory when the link came up, before any
    measurement of this step could have been made."""
    WHILE_NOBODY_WAITED = "while_nobody_waited"
    """Printed by a serial device while no visit was waiting for it."""
    DEVICE_TIME = "device_time"
    """Its time stamp, by a device clock known to be right, is before the
    step began."""
    EARLIER_IN_STEP = "earlier_in_step"
    """Made during the step but followed by a newer one (only the newest is
    the visit's reading)."""


@dataclass(frozen=True, slots=True)
class DeviceMemoryRecord:
    """A record from a device that is not the reading of any visit: kept for
    the technician (the store's device memory, the fleet page), never
    attributed to a resident and never sent as a reading."""

    reading: AnyMeasurement
    reason: MemoryReason
    received_at: datetime
    """The station's clock (UTC) when it arrived."""

    @property
    def kind(self) -> str:
        return {
            BloodPressureMeasurement: "blood_pressure",
            GlucoseMeasurement: "glucose",
            WeightMeasurement: "weight",
            OximetryMeasurement: "oximetry",
            TemperatureMeasurement: "temperature",
        }[type(self.reading)]


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
