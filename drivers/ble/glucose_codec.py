"""Glucose Service codecs: Glucose Measurement (0x2A18), Glucose Measurement
Context (0x2A34) and Glucose Feature (0x2A51).

Measurement layout (little-endian): flags (uint8: bit0 time offset, bit1
concentration + type/sample location, bit2 unit mol/L (else kg/L), bit3 sensor
status annunciation, bit4 context information follows), sequence number
(uint16), base time (Date Time), [time offset: sint16 minutes], [concentration:
SFLOAT, type (low nibble) and sample location (high nibble): uint8], [sensor
status annunciation: uint16].

Context layout: flags (uint8: bit0 carbohydrate, bit1 meal, bit2 tester/health,
bit3 exercise, bit4 medication, bit5 medication unit litres (else kg), bit6
HbA1c, bit7 extended flags), sequence number (uint16), [extended flags uint8],
[carbohydrate id uint8 + SFLOAT kg], [meal uint8], [tester (low nibble) and
health (high nibble) uint8], [exercise duration uint16 s + intensity uint8 %],
[medication id uint8 + SFLOAT], [HbA1c SFLOAT %].

Unit conversion to the kiosk's mmol/L (docs/clinical.md, "Units and conversions"):
kg/L × 100 000 = mg/dL, then ÷ 18.016 (:func:`healthkiosk.readings.mg_per_dl_to_mmol_per_l`);
mol/L × 1000 = mmol/L; both rounded to 0.1 mmol/L.

Pure: no I/O. Every malformed input raises :class:`GlucoseCodecError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from enum import StrEnum

from drivers.ble.gatt_time import DateTime, TimeCodecError, decode_date_time, encode_date_time
from drivers.ble.ieee11073 import Nfloat, NfloatError, decode_sfloat, encode_sfloat
from healthkiosk.errors import ProtocolError
from healthkiosk.readings import MealContext, mg_per_dl_to_mmol_per_l, round_tenth


class GlucoseCodecError(ProtocolError):
    reason = "glucose_invalid"


class ConcentrationUnit(StrEnum):
    KG_PER_L = "kg/L"
    MOL_PER_L = "mol/L"


MG_PER_DL_PER_KG_PER_L = 100_000

SAMPLE_TYPES = {
    1: "capillary_whole_blood",
    2: "capillary_plasma",
    3: "venous_whole_blood",
    4: "venous_plasma",
    5: "arterial_whole_blood",
    6: "arterial_plasma",
    7: "undetermined_whole_blood",
    8: "undetermined_plasma",
    9: "interstitial_fluid",
    10: "control_solution",
}
SAMPLE_LOCATIONS = {
    1: "finger",
    2: "alternate_site_test",
    3: "earlobe",
    4: "control_solution",
    15: "not_available",
}


def _name(table: dict[int, str], code: int) -> str:
    return table.get(code, f"reserved_{code}")


@dataclass(frozen=True, slots=True)
class SensorStatus:
    """Sensor Status Annunciation bits (uint16, bits 0-11)."""

    device_battery_low: bool = False
    sensor_malfunction: bool = False
    sample_size_insufficient: bool = False
    strip_insertion_error: bool = False
    strip_type_incorrect: bool = False
    result_too_high: bool = False
    result_too_low: bool = False
    temperature_too_high: bool = False
    temperature_too_low: bool = False
    read_interrupted: bool = False
    general_device_fault: bool = False
    time_fault: bool = False

    @classmethod
    def from_bits(cls, bits: int) -> SensorStatus:
        return cls(*(bool(bits & (1 << i)) for i in range(12)))

    @property
    def bits(self) -> int:
        return sum(int(getattr(self, f.name)) << i for i, f in enumerate(fields(self)))

    def as_dict(self) -> dict[str, bool]:
        return {f.name: bool(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class GlucoseRecord:
    sequence_number: int
    base_time: DateTime
    time_offset_minutes: int | None = None
    concentration: Nfloat | None = None
    unit: ConcentrationUnit | None = None
    sample_type: int | None = None
    sample_location: int | None = None
    sensor_status: SensorStatus | None = None
    context_follows: bool = False

    @property
    def type_name(self) -> str | None:
        return None if self.sample_type is None else _name(SAMPLE_TYPES, self.sample_type)

    @property
    def location_name(self) -> str | None:
        if self.sample_location is None:
            return None
        return _name(SAMPLE_LOCATIONS, self.sample_location)

    @property
    def mmol_per_l(self) -> float | None:
        """The concentration in mmol/L at 0.1 resolution; None without a number."""
        if self.concentration is None or self.unit is None:
            return None
        return concentration_to_mmol_per_l(self.concentration, self.unit)


def concentration_to_mmol_per_l(value: Nfloat, unit: ConcentrationUnit) -> float | None:
    d = value.decimal
    if d is None:
        return None
    if unit is ConcentrationUnit.KG_PER_L:
        return mg_per_dl_to_mmol_per_l(float(d * MG_PER_DL_PER_KG_PER_L))
    return round_tenth(d * 1000)


_F_OFFSET, _F_CONC, _F_MOL, _F_STATUS, _F_CONTEXT = 0x01, 0x02, 0x04, 0x08, 0x10


def decode_measurement(data: bytes) -> GlucoseRecord:
    raw = bytes(data)
    if len(raw) < 10:
        raise GlucoseCodecError(f"Glucose Measurement too short ({len(raw)} bytes)", raw=raw)
    flags = raw[0]
    if flags & 0xE0:
        raise GlucoseCodecError(f"reserved flag bits set ({flags:#04x})", raw=raw)
    need = 10 + (2 if flags & _F_OFFSET else 0) + (3 if flags & _F_CONC else 0)
    need += 2 if flags & _F_STATUS else 0
    if len(raw) != need:
        raise GlucoseCodecError(f"flags {flags:#04x} need {need} bytes, got {len(raw)}", raw=raw)
    (sequence,) = struct.unpack_from("<H", raw, 1)
    try:
        base_time = decode_date_time(raw[3:10])
        pos = 10
        offset = None
        if flags & _F_OFFSET:
            (offset,) = struct.unpack_from("<h", raw, pos)
            pos += 2
        concentration = unit = sample_type = location = None
        if flags & _F_CONC:
            concentration = decode_sfloat(raw[pos : pos + 2])
            unit = ConcentrationUnit.MOL_PER_L if flags & _F_MOL else ConcentrationUnit.KG_PER_L
            sample_type, location = raw[pos + 2] & 0x0F, raw[pos + 2] >> 4
            pos += 3
        status = None
        if flags & _F_STATUS:
            (bits,) = struct.unpack_from("<H", raw, pos)
            status = SensorStatus.from_bits(bits)
    except (NfloatError, TimeCodecError) as err:
        raise GlucoseCodecError(f"Glucose Measurement: {err}", raw=raw) from None
    return GlucoseRecord(
        sequence_number=sequence,
        base_time=base_time,
        time_offset_minutes=offset,
        concentration=concentration,
        unit=unit,
        sample_type=sample_type,
        sample_location=location,
        sensor_status=status,
        context_follows=bool(flags & _F_CONTEXT),
    )


def encode_measurement(record: GlucoseRecord) -> bytes:
    flags = _F_CONTEXT if record.context_follows else 0
    if not 0 <= record.sequence_number <= 0xFFFF:
        raise GlucoseCodecError(f"sequence number {record.sequence_number} out of range")
    try:
        body = struct.pack("<H", record.sequence_number) + encode_date_time(record.base_time)
        if record.time_offset_minutes is not None:
            flags |= _F_OFFSET
            body += struct.pack("<h", record.time_offset_minutes)
        if record.concentration is not None:
            if record.unit is None or record.sample_type is None or record.sample_location is None:
                raise GlucoseCodecError("concentration needs unit, type and sample location")
            if not (0 <= record.sample_type <= 15 and 0 <= record.sample_location <= 15):
                raise GlucoseCodecError("type and sample location are nibbles")
            flags |= _F_CONC | (_F_MOL if record.unit is ConcentrationUnit.MOL_PER_L else 0)
            body += encode_sfloat(record.concentration)
            body += bytes([record.sample_type | record.sample_location << 4])
        if record.sensor_status is not None:
            flags |= _F_STATUS
            body += struct.pack("<H", record.sensor_status.bits)
    except (NfloatError, TimeCodecError, struct.error) as err:
        raise GlucoseCodecError(f"cannot encode: {err}") from None
    return bytes([flags]) + body


class Meal(StrEnum):
    PREPRANDIAL = "preprandial"
    POSTPRANDIAL = "postprandial"
    FASTING = "fasting"
    CASUAL = "casual"
    BEDTIME = "bedtime"


MEAL_CODES = {
    1: Meal.PREPRANDIAL,
    2: Meal.POSTPRANDIAL,
    3: Meal.FASTING,
    4: Meal.CASUAL,
    5: Meal.BEDTIME,
}
_MEAL_TO_CODE = {v: k for k, v in MEAL_CODES.items()}
CARBOHYDRATES = {
    1: "breakfast",
    2: "lunch",
    3: "dinner",
    4: "snack",
    5: "drink",
    6: "supper",
    7: "brunch",
}
TESTERS = {1: "self", 2: "health_care_professional", 3: "lab_test", 15: "not_available"}
HEALTH = {
    1: "minor_health_issues",
    2: "major_health_issues",
    3: "during_menses",
    4: "under_stress",
    5: "no_health_issues",
    15: "not_available",
}
MEDICATIONS = {
    1: "rapid_acting_insulin",
    2: "short_acting_insulin",
    3: "intermediate_acting_insulin",
    4: "long_acting_insulin",
    5: "pre_mixed_insulin",
}


def meal_context(meal: Meal | None) -> MealContext | None:
    """The kiosk's meal context from the meter's meal field."""
    if meal is None:
        return None
    if meal is Meal.FASTING:
        return MealContext.FASTING
    if meal is Meal.POSTPRANDIAL:
        return MealContext.AFTER_MEAL
    return MealContext.RANDOM


@dataclass(frozen=True, slots=True)
class GlucoseContext:
    sequence_number: int
    extended_flags: int | None = None
    carbohydrate_id: int | None = None
    carbohydrate_kg: Nfloat | None = None
    meal: Meal | None = None
    tester: int | None = None
    health: int | None = None
    exercise_duration_s: int | None = None
    exercise_intensity_percent: int | None = None
    medication_id: int | None = None
    medication: Nfloat | None = None
    medication_in_litres: bool = False
    hba1c_percent: Nfloat | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "sequence_number": self.sequence_number,
            "carbohydrate": None
            if self.carbohydrate_id is None
            else _name(CARBOHYDRATES, self.carbohydrate_id),
            "carbohydrate_kg": None if self.carbohydrate_kg is None else self.carbohydrate_kg.value,
            "meal": None if self.meal is None else self.meal.value,
            "tester": None if self.tester is None else _name(TESTERS, self.tester),
            "health": None if self.health is None else _name(HEALTH, self.health),
            "exercise_duration_s": self.exercise_duration_s,
            "exercise_intensity_percent": self.exercise_intensity_percent,
            "medication": None
            if self.medication_id is None
            else _name(MEDICATIONS, self.medication_id),
            "medication_amount": None if self.medication is None else self.medication.value,
            "medication_unit": None
            if self.medication_id is None
            else ("L" if self.medication_in_litres else "kg"),
            "hba1c_percent": None if self.hba1c_percent is None else self.hba1c_percent.value,
        }


def decode_context(data: bytes) -> GlucoseContext:
    raw = bytes(data)
    if len(raw) < 3:
        raise GlucoseCodecError(f"Glucose Measurement Context too short ({len(raw)})", raw=raw)
    flags = raw[0]
    sizes = [(0x80, 1), (0x01, 3), (0x02, 1), (0x04, 1), (0x08, 3), (0x10, 3), (0x40, 2)]
    need = 3 + sum(size for bit, size in sizes if flags & bit)
    if len(raw) != need:
        raise GlucoseCodecError(f"flags {flags:#04x} need {need} bytes, got {len(raw)}", raw=raw)
    (sequence,) = struct.unpack_from("<H", raw, 1)
    pos = 3
    values: dict[str, object] = {}
    try:
        if flags & 0x80:
            values["extended_flags"] = raw[pos]
            pos += 1
        if flags & 0x01:
            values["carbohydrate_id"] = raw[pos]
            values["carbohydrate_kg"] = decode_sfloat(raw[pos + 1 : pos + 3])
            pos += 3
        if flags & 0x02:
            code = raw[pos]
            if code not in MEAL_CODES:
                raise GlucoseCodecError(f"reserved meal value {code}", raw=raw)
            values["meal"] = MEAL_CODES[code]
            pos += 1
        if flags & 0x04:
            values["tester"], values["health"] = raw[pos] & 0x0F, raw[pos] >> 4
            pos += 1
        if flags & 0x08:
            (values["exercise_duration_s"],) = struct.unpack_from("<H", raw, pos)
            values["exercise_intensity_percent"] = raw[pos + 2]
            pos += 3
        if flags & 0x10:
            values["medication_id"] = raw[pos]
            values["medication"] = decode_sfloat(raw[pos + 1 : pos + 3])
            pos += 3
        if flags & 0x40:
            values["hba1c_percent"] = decode_sfloat(raw[pos : pos + 2])
    except NfloatError as err:
        raise GlucoseCodecError(f"Glucose Measurement Context: {err}", raw=raw) from None
    return GlucoseContext(
        sequence_number=sequence,
        medication_in_litres=bool(flags & 0x20),
        **values,  # type: ignore[arg-type]
    )


def encode_context(ctx: GlucoseContext) -> bytes:
    flags = 0x20 if ctx.medication_in_litres else 0
    body = b""
    try:
        if ctx.extended_flags is not None:
            flags |= 0x80
            body += bytes([ctx.extended_flags])
        if ctx.carbohydrate_id is not None and ctx.carbohydrate_kg is not None:
            flags |= 0x01
            body += bytes([ctx.carbohydrate_id]) + encode_sfloat(ctx.carbohydrate_kg)
        if ctx.meal is not None:
            flags |= 0x02
            body += bytes([_MEAL_TO_CODE[ctx.meal]])
        if ctx.tester is not None and ctx.health is not None:
            flags |= 0x04
            body += bytes([ctx.tester | ctx.health << 4])
        if ctx.exercise_duration_s is not None and ctx.exercise_intensity_percent is not None:
            flags |= 0x08
            body += struct.pack("<HB", ctx.exercise_duration_s, ctx.exercise_intensity_percent)
        if ctx.medication_id is not None and ctx.medication is not None:
            flags |= 0x10
            body += bytes([ctx.medication_id]) + encode_sfloat(ctx.medication)
        if ctx.hba1c_percent is not None:
            flags |= 0x40
            body += encode_sfloat(ctx.hba1c_percent)
        return bytes([flags]) + struct.pack("<H", ctx.sequence_number) + body
    except (NfloatError, struct.error, ValueError) as err:
        raise GlucoseCodecError(f"cannot encode: {err}") from None


GLUCOSE_FEATURES = (
    "low_battery_detection",
    "sensor_malfunction_detection",
    "sensor_sample_size",
    "strip_insertion_error_detection",
    "strip_type_error_detection",
    "result_high_low_detection",
    "temperature_high_low_detection",
    "read_interrupt_detection",
    "general_device_fault",
    "time_fault",
    "multiple_bond",
)


@dataclass(frozen=True, slots=True)
class GlucoseFeature:
    bits: int

    def as_dict(self) -> dict[str, bool]:
        return {name: bool(self.bits & (1 << i)) for i, name in enumerate(GLUCOSE_FEATURES)}


def decode_feature(data: bytes) -> GlucoseFeature:
    raw = bytes(data)
    if len(raw) != 2:
        raise GlucoseCodecError(f"Glucose Feature needs 2 bytes, got {len(raw)}", raw=raw)
    return GlucoseFeature(int.from_bytes(raw, "little") & 0x07FF)


def encode_feature(feature: GlucoseFeature) -> bytes:
    return (feature.bits & 0x07FF).to_bytes(2, "little")
