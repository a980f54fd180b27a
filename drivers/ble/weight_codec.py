"""Weight Scale Service (0x181D) and Body Composition Service (0x181B) codecs:
Weight Measurement (0x2A9D), Weight Scale Feature (0x2A9E), Body Composition
Measurement (0x2A9C) and Body Composition Feature (0x2A9B).

Weight Measurement (little-endian): flags (uint8: bit0 imperial, bit1 time
stamp, bit2 user id, bit3 BMI *and* height; bits 4-7 reserved and ignored),
weight (uint16), [time stamp: Date Time], [user id: uint8, 0xFF unknown],
[BMI: uint16, 0.1], [height: uint16]. The scale of each field is fixed by the
specification, whatever the scale's precision: weight 0.005 kg or 0.01 lb,
height 0.001 m or 0.1 in. (The Feature's "weight resolution" says how precise
the scale is, not how the field is scaled: one public library multiplies by
it, and reads 1.2 kg where the scale sent 0.6 kg.) A weight of 0xFFFF means
"measurement unsuccessful": :attr:`WeightRecord.weight` is None.

Body Composition Measurement: flags (uint16: bit0 imperial, bit1 time stamp,
bit2 user id, bit3 basal metabolism, bit4 muscle percentage, bit5 muscle mass,
bit6 fat free mass, bit7 soft lean mass, bit8 body water mass, bit9
impedance, bit10 weight, bit11 height, bit12 multiple packet measurement;
bits 13-15 reserved and ignored), body fat percentage (uint16, 0.1 %), then
the fields the flags announce, in that order. Masses are 0.005 kg or 0.01 lb,
height 0.001 m or 0.1 in, basal metabolism 1 kJ, impedance 0.1 Ω. 0xFFFF in a
field is "unavailable" (by analogy with the Weight Scale's rule): the field is
None and its name is in :attr:`BodyCompositionRecord.unavailable`.

Pure: no I/O. Every malformed input raises :class:`WeightCodecError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from drivers.ble.gatt_time import (
    DATE_TIME_SIZE,
    DateTime,
    TimeCodecError,
    decode_date_time_in,
    encode_date_time,
)
from healthkiosk.errors import ProtocolError
from healthkiosk.readings import HeightUnit, WeightUnit


class WeightCodecError(ProtocolError):
    reason = "weight_invalid"


UNSUCCESSFUL = 0xFFFF
"""A 16-bit field's "measurement unsuccessful" (Weight Scale) or "unavailable"."""
UNKNOWN_USER = 0xFF

MASS_STEP = {WeightUnit.KG: Decimal("0.005"), WeightUnit.LB: Decimal("0.01")}
HEIGHT_STEP = {WeightUnit.KG: Decimal("0.001"), WeightUnit.LB: Decimal("0.1")}
BMI_STEP = Decimal("0.1")
PERCENT_STEP = Decimal("0.1")
IMPEDANCE_STEP = Decimal("0.1")


def height_unit(unit: WeightUnit) -> HeightUnit:
    """Heights go with the weights: metres with kg, inches with lb."""
    return HeightUnit.M if unit is WeightUnit.KG else HeightUnit.IN


def _scaled(raw: int, step: Decimal) -> Decimal:
    return raw * step


def _raw(value: Decimal, step: Decimal, what: str) -> int:
    count = value / step
    if count != count.to_integral_value() or not 0 <= count < UNSUCCESSFUL:
        raise WeightCodecError(f"{what} {value} is not a multiple of {step} in 0..65534 steps")
    return int(count)


def _u16(raw: bytes, pos: int) -> int:
    return int(struct.unpack_from("<H", raw, pos)[0])


# --- Weight Measurement (0x2A9D) -------------------------------------------------

_W_IMPERIAL, _W_TIME, _W_USER, _W_BMI_HEIGHT = 0x01, 0x02, 0x04, 0x08


@dataclass(frozen=True, slots=True)
class WeightRecord:
    """One Weight Measurement, in the units it was sent in."""

    unit: WeightUnit
    weight: Decimal | None
    """kg or lb (``unit``); None: the scale sent 0xFFFF, measurement unsuccessful."""
    timestamp: DateTime | None = None
    user_id: int | None = None
    bmi: Decimal | None = None
    height: Decimal | None = None
    """m with kg, in with lb (:attr:`height_unit`); sent together with ``bmi``."""

    @property
    def height_unit(self) -> HeightUnit:
        return height_unit(self.unit)

    @property
    def unsuccessful(self) -> bool:
        return self.weight is None


def decode_weight_measurement(data: bytes) -> WeightRecord:
    raw = bytes(data)
    if len(raw) < 3:
        raise WeightCodecError(f"Weight Measurement too short ({len(raw)} bytes)", raw=raw)
    flags = raw[0]
    need = 3
    need += DATE_TIME_SIZE if flags & _W_TIME else 0
    need += 1 if flags & _W_USER else 0
    need += 4 if flags & _W_BMI_HEIGHT else 0
    if len(raw) != need:
        raise WeightCodecError(f"flags {flags:#04x} need {need} bytes, got {len(raw)}", raw=raw)
    unit = WeightUnit.LB if flags & _W_IMPERIAL else WeightUnit.KG
    weight_raw = _u16(raw, 1)
    pos = 3
    timestamp = None
    if flags & _W_TIME:
        try:
            timestamp = decode_date_time_in(raw, raw[pos : pos + DATE_TIME_SIZE])
        except TimeCodecError as err:
            raise WeightCodecError(f"Weight Measurement: {err}", raw=raw) from None
        pos += DATE_TIME_SIZE
    user = None
    if flags & _W_USER:
        user = raw[pos]
        pos += 1
    bmi = height = None
    if flags & _W_BMI_HEIGHT:
        bmi = _scaled(_u16(raw, pos), BMI_STEP)
        height = _scaled(_u16(raw, pos + 2), HEIGHT_STEP[unit])
    return WeightRecord(
        unit=unit,
        weight=None if weight_raw == UNSUCCESSFUL else _scaled(weight_raw, MASS_STEP[unit]),
        timestamp=timestamp,
        user_id=user,
        bmi=bmi,
        height=height,
    )


def encode_weight_measurement(record: WeightRecord) -> bytes:
    flags = _W_IMPERIAL if record.unit is WeightUnit.LB else 0
    weight = (
        UNSUCCESSFUL
        if record.weight is None
        else _raw(record.weight, MASS_STEP[record.unit], "weight")
    )
    body = struct.pack("<H", weight)
    if record.timestamp is not None:
        flags |= _W_TIME
        try:
            body += encode_date_time(record.timestamp)
        except TimeCodecError as err:
            raise WeightCodecError(f"cannot encode: {err}") from None
    if record.user_id is not None:
        if not 0 <= record.user_id <= 0xFF:
            raise WeightCodecError(f"user id {record.user_id} out of range")
        flags |= _W_USER
        body += bytes([record.user_id])
    if (record.bmi is None) != (record.height is None):
        raise WeightCodecError("BMI and height are sent together or not at all")
    if record.bmi is not None and record.height is not None:
        flags |= _W_BMI_HEIGHT
        body += struct.pack(
            "<HH",
            _raw(record.bmi, BMI_STEP, "BMI"),
            _raw(record.height, HEIGHT_STEP[record.unit], "height"),
        )
    return bytes([flags]) + body


# --- Weight Scale Feature (0x2A9E) and Body Composition Feature (0x2A9B) ---------

WEIGHT_RESOLUTIONS: dict[int, tuple[Decimal, Decimal]] = {
    1: (Decimal("0.5"), Decimal("1")),
    2: (Decimal("0.2"), Decimal("0.5")),
    3: (Decimal("0.1"), Decimal("0.2")),
    4: (Decimal("0.05"), Decimal("0.1")),
    5: (Decimal("0.02"), Decimal("0.05")),
    6: (Decimal("0.01"), Decimal("0.02")),
    7: (Decimal("0.005"), Decimal("0.01")),
}
"""Resolution code → (kg, lb); 0 is "not specified"."""
HEIGHT_RESOLUTIONS: dict[int, tuple[Decimal, Decimal]] = {
    1: (Decimal("0.01"), Decimal("1")),
    2: (Decimal("0.005"), Decimal("0.5")),
    3: (Decimal("0.001"), Decimal("0.1")),
}
"""Resolution code → (m, in); 0 is "not specified", 4-7 reserved."""


def _resolution(
    table: dict[int, tuple[Decimal, Decimal]], code: int, imperial: bool
) -> Decimal | None:
    pair = table.get(code)
    return None if pair is None else pair[1 if imperial else 0]


@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    time_stamp: bool = False
    multiple_users: bool = False
    bmi: bool = False
    weight_resolution: int = 0
    """Code 0-7 (see :data:`WEIGHT_RESOLUTIONS`): the scale's precision, not the field's scale."""
    height_resolution: int = 0

    @property
    def bits(self) -> int:
        return (
            int(self.time_stamp)
            | int(self.multiple_users) << 1
            | int(self.bmi) << 2
            | (self.weight_resolution & 0x0F) << 3
            | (self.height_resolution & 0x07) << 7
        )

    def weight_resolution_in(self, unit: WeightUnit) -> Decimal | None:
        return _resolution(WEIGHT_RESOLUTIONS, self.weight_resolution, unit is WeightUnit.LB)

    def height_resolution_in(self, unit: HeightUnit) -> Decimal | None:
        return _resolution(HEIGHT_RESOLUTIONS, self.height_resolution, unit is HeightUnit.IN)

    def as_dict(self) -> dict[str, object]:
        kg = self.weight_resolution_in(WeightUnit.KG)
        m = self.height_resolution_in(HeightUnit.M)
        return {
            "time_stamp": self.time_stamp,
            "multiple_users": self.multiple_users,
            "bmi": self.bmi,
            "weight_resolution_kg": None if kg is None else float(kg),
            "height_resolution_m": None if m is None else float(m),
        }


def decode_weight_scale_feature(data: bytes) -> WeightScaleFeature:
    raw = bytes(data)
    if len(raw) != 4:
        raise WeightCodecError(f"Weight Scale Feature needs 4 bytes, got {len(raw)}", raw=raw)
    bits = int.from_bytes(raw, "little")
    return WeightScaleFeature(
        time_stamp=bool(bits & 1),
        multiple_users=bool(bits & 2),
        bmi=bool(bits & 4),
        weight_resolution=(bits >> 3) & 0x0F,
        height_resolution=(bits >> 7) & 0x07,
    )


def encode_weight_scale_feature(feature: WeightScaleFeature) -> bytes:
    return feature.bits.to_bytes(4, "little")


# --- Body Composition Measurement (0x2A9C) ---------------------------------------

_B_IMPERIAL, _B_TIME, _B_USER, _B_MULTIPLE = 0x0001, 0x0002, 0x0004, 0x1000

_PERCENT, _MASS, _HEIGHT, _KJ, _OHM = "percent", "mass", "height", "kj", "ohm"
BODY_FIELDS: tuple[tuple[int, str, str], ...] = (
    (0x0008, "basal_metabolism_kj", _KJ),
    (0x0010, "muscle_percent", _PERCENT),
    (0x0020, "muscle_mass", _MASS),
    (0x0040, "fat_free_mass", _MASS),
    (0x0080, "soft_lean_mass", _MASS),
    (0x0100, "body_water_mass", _MASS),
    (0x0200, "impedance_ohm", _OHM),
    (0x0400, "weight", _MASS),
    (0x0800, "height", _HEIGHT),
)
"""(flag bit, field, kind) of the optional 16-bit fields, in the order they are sent."""


def _step(kind: str, unit: WeightUnit) -> Decimal:
    if kind == _MASS:
        return MASS_STEP[unit]
    if kind == _HEIGHT:
        return HEIGHT_STEP[unit]
    if kind == _KJ:
        return Decimal(1)
    return PERCENT_STEP if kind == _PERCENT else IMPEDANCE_STEP


@dataclass(frozen=True, slots=True)
class BodyCompositionRecord:
    """One Body Composition Measurement packet, in the units it was sent in
    (masses kg or lb, height m or in, as ``unit`` says)."""

    unit: WeightUnit
    body_fat_percent: Decimal | None
    timestamp: DateTime | None = None
    user_id: int | None = None
    basal_metabolism_kj: Decimal | None = None
    muscle_percent: Decimal | None = None
    muscle_mass: Decimal | None = None
    fat_free_mass: Decimal | None = None
    soft_lean_mass: Decimal | None = None
    body_water_mass: Decimal | None = None
    impedance_ohm: Decimal | None = None
    weight: Decimal | None = None
    height: Decimal | None = None
    multiple_packet: bool = False
    """The measurement continues in the next packet (bit 12)."""
    unavailable: frozenset[str] = field(default_factory=frozenset)
    """Fields that were sent as 0xFFFF ("unavailable"); each is None."""

    @property
    def height_unit(self) -> HeightUnit:
        return height_unit(self.unit)


def decode_body_composition(data: bytes) -> BodyCompositionRecord:
    raw = bytes(data)
    if len(raw) < 4:
        raise WeightCodecError(
            f"Body Composition Measurement too short ({len(raw)} bytes)", raw=raw
        )
    flags = _u16(raw, 0)
    need = 4
    need += DATE_TIME_SIZE if flags & _B_TIME else 0
    need += 1 if flags & _B_USER else 0
    need += 2 * sum(1 for bit, _, _ in BODY_FIELDS if flags & bit)
    if len(raw) != need:
        raise WeightCodecError(f"flags {flags:#06x} need {need} bytes, got {len(raw)}", raw=raw)
    unit = WeightUnit.LB if flags & _B_IMPERIAL else WeightUnit.KG
    unavailable: set[str] = set()
    values: dict[str, Decimal | None] = {}

    def value(name: str, raw16: int, step: Decimal) -> Decimal | None:
        if raw16 == UNSUCCESSFUL:
            unavailable.add(name)
            return None
        return _scaled(raw16, step)

    fat = value("body_fat_percent", _u16(raw, 2), PERCENT_STEP)
    pos = 4
    timestamp = None
    if flags & _B_TIME:
        try:
            timestamp = decode_date_time_in(raw, raw[pos : pos + DATE_TIME_SIZE])
        except TimeCodecError as err:
            raise WeightCodecError(f"Body Composition Measurement: {err}", raw=raw) from None
        pos += DATE_TIME_SIZE
    user = None
    if flags & _B_USER:
        user = raw[pos]
        pos += 1
    for bit, name, kind in BODY_FIELDS:
        if flags & bit:
            values[name] = value(name, _u16(raw, pos), _step(kind, unit))
            pos += 2
    return BodyCompositionRecord(
        unit=unit,
        body_fat_percent=fat,
        timestamp=timestamp,
        user_id=user,
        multiple_packet=bool(flags & _B_MULTIPLE),
        unavailable=frozenset(unavailable),
        **values,
    )


def encode_body_composition(record: BodyCompositionRecord) -> bytes:
    flags = _B_IMPERIAL if record.unit is WeightUnit.LB else 0
    for name in record.unavailable:
        if getattr(record, name, "missing") is not None:
            raise WeightCodecError(f"{name} is unavailable but has a value")

    def field16(name: str, step: Decimal) -> bytes:
        value: Decimal | None = getattr(record, name)
        if value is None:
            return struct.pack("<H", UNSUCCESSFUL)
        return struct.pack("<H", _raw(value, step, name))

    if record.body_fat_percent is None and "body_fat_percent" not in record.unavailable:
        raise WeightCodecError("body fat percentage is mandatory (or unavailable)")
    body = field16("body_fat_percent", PERCENT_STEP)
    if record.timestamp is not None:
        flags |= _B_TIME
        try:
            body += encode_date_time(record.timestamp)
        except TimeCodecError as err:
            raise WeightCodecError(f"cannot encode: {err}") from None
    if record.user_id is not None:
        if not 0 <= record.user_id <= 0xFF:
            raise WeightCodecError(f"user id {record.user_id} out of range")
        flags |= _B_USER
        body += bytes([record.user_id])
    for bit, name, kind in BODY_FIELDS:
        if getattr(record, name) is not None or name in record.unavailable:
            flags |= bit
            body += field16(name, _step(kind, record.unit))
    if record.multiple_packet:
        flags |= _B_MULTIPLE
    return struct.pack("<H", flags) + body


def merge_packets(
    first: BodyCompositionRecord, rest: BodyCompositionRecord
) -> BodyCompositionRecord:
    """One measurement sent as two packets (bit 12 on the first): the fields of
    ``rest`` fill those ``first`` did not carry. The units must agree."""
    if first.unit is not rest.unit:
        raise WeightCodecError("the packets of one measurement disagree on their units")
    names = ["body_fat_percent", "timestamp", "user_id", *(name for _, name, _ in BODY_FIELDS)]
    filled: dict[str, Any] = {
        name: getattr(rest, name) for name in names if getattr(first, name) is None
    }
    merged = replace(first, multiple_packet=rest.multiple_packet, **filled)
    unavailable = {n for n in first.unavailable | rest.unavailable if getattr(merged, n) is None}
    return replace(merged, unavailable=frozenset(unavailable))


BODY_FEATURE_NAMES = (
    "time_stamp",
    "multiple_users",
    "basal_metabolism",
    "muscle_percentage",
    "muscle_mass",
    "fat_free_mass",
    "soft_lean_mass",
    "body_water_mass",
    "impedance",
    "weight",
    "height",
)


@dataclass(frozen=True, slots=True)
class BodyCompositionFeature:
    supported: frozenset[str] = field(default_factory=frozenset)
    """Names from :data:`BODY_FEATURE_NAMES` (bits 0-10)."""
    mass_resolution: int = 0
    """Code 0-7, as the Weight Scale's weight resolution (bits 11-14)."""
    height_resolution: int = 0
    """Code 0-7, as the Weight Scale's (bits 15-17)."""

    @property
    def bits(self) -> int:
        bits = sum(1 << i for i, name in enumerate(BODY_FEATURE_NAMES) if name in self.supported)
        return bits | (self.mass_resolution & 0x0F) << 11 | (self.height_resolution & 0x07) << 15

    def as_dict(self) -> dict[str, object]:
        kg = _resolution(WEIGHT_RESOLUTIONS, self.mass_resolution, False)
        m = _resolution(HEIGHT_RESOLUTIONS, self.height_resolution, False)
        out: dict[str, object] = {name: name in self.supported for name in BODY_FEATURE_NAMES}
        out["mass_resolution_kg"] = None if kg is None else float(kg)
        out["height_resolution_m"] = None if m is None else float(m)
        return out


def decode_body_composition_feature(data: bytes) -> BodyCompositionFeature:
    raw = bytes(data)
    if len(raw) != 4:
        raise WeightCodecError(f"Body Composition Feature needs 4 bytes, got {len(raw)}", raw=raw)
    bits = int.from_bytes(raw, "little")
    return BodyCompositionFeature(
        supported=frozenset(n for i, n in enumerate(BODY_FEATURE_NAMES) if bits & (1 << i)),
        mass_resolution=(bits >> 11) & 0x0F,
        height_resolution=(bits >> 15) & 0x07,
    )


def encode_body_composition_feature(feature: BodyCompositionFeature) -> bytes:
    return feature.bits.to_bytes(4, "little")
