"""Pulse Oximeter Service (0x1822) codecs: PLX Spot-Check Measurement
(0x2A5E), PLX Continuous Measurement (0x2A5F) and PLX Features (0x2A60).

Spot-check (little-endian): flags (uint8: bit0 time stamp, bit1 measurement
status, bit2 device and sensor status, bit3 pulse amplitude index, bit4 device
clock is not set; bits 5-7 reserved and ignored), SpO2 (SFLOAT, %), pulse rate
(SFLOAT, bpm), [time stamp: Date Time], [measurement status: uint16], [device
and sensor status: uint24], [pulse amplitude index: SFLOAT, %].

Continuous: flags (uint8: bit0 SpO2PR-Fast, bit1 SpO2PR-Slow, bit2
measurement status, bit3 device and sensor status, bit4 pulse amplitude
index; bits 5-7 reserved and ignored), SpO2PR-Normal (SpO2 and pulse rate,
SFLOAT each), [SpO2PR-Fast], [SpO2PR-Slow], [measurement status], [device and
sensor status], [pulse amplitude index]. No time stamp.

Measurement status bits 5-15 (0-4 reserved): measurement ongoing, early
estimated data, validated data, fully qualified data, data from measurement
storage, data for demonstration, data for testing, calibration ongoing,
measurement unavailable, questionable measurement detected, invalid
measurement detected. Device and sensor status bits 0-15 (16-23 reserved):
see :class:`DeviceStatus`. Reserved bits are ignored.

Features: supported features (uint16: bit0 measurement status support
present, bit1 device and sensor status support present, bit2 measurement
storage for spot-check, bit3 time stamp for spot-check, bit4 SpO2PR-Fast,
bit5 SpO2PR-Slow, bit6 pulse amplitude index, bit7 multiple bonds), then
[measurement status support: uint16] if bit0, [device and sensor status
support: uint24] if bit1.

Pure: no I/O. Every malformed input raises :class:`PlxCodecError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields

from drivers.ble.gatt_time import (
    DATE_TIME_SIZE,
    DateTime,
    TimeCodecError,
    decode_date_time_in,
    encode_date_time,
)
from drivers.ble.ieee11073 import Nfloat, NfloatError, decode_sfloat, encode_sfloat
from healthkiosk.errors import ProtocolError


class PlxCodecError(ProtocolError):
    reason = "plx_invalid"


def _bools_from(cls_fields: int, bits: int, first: int) -> list[bool]:
    return [bool(bits & (1 << (first + i))) for i in range(cls_fields)]


@dataclass(frozen=True, slots=True)
class MeasurementStatus:
    """PLX Measurement Status, bits 5-15 (bits 0-4 reserved)."""

    measurement_ongoing: bool = False
    early_estimated_data: bool = False
    validated_data: bool = False
    fully_qualified_data: bool = False
    data_from_measurement_storage: bool = False
    data_for_demonstration: bool = False
    data_for_testing: bool = False
    calibration_ongoing: bool = False
    measurement_unavailable: bool = False
    questionable_measurement_detected: bool = False
    invalid_measurement_detected: bool = False

    FIRST_BIT = 5

    @classmethod
    def from_bits(cls, bits: int) -> MeasurementStatus:
        return cls(*_bools_from(len(fields(cls)), bits, cls.FIRST_BIT))

    @property
    def bits(self) -> int:
        return sum(
            int(getattr(self, f.name)) << (self.FIRST_BIT + i) for i, f in enumerate(fields(self))
        )

    def as_dict(self) -> dict[str, bool]:
        return {f.name: bool(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """PLX Device and Sensor Status, bits 0-15 (16-23 reserved)."""

    extended_display_update_ongoing: bool = False
    equipment_malfunction_detected: bool = False
    signal_processing_irregularity_detected: bool = False
    inadequate_signal_detected: bool = False
    poor_signal_detected: bool = False
    low_perfusion_detected: bool = False
    erratic_signal_detected: bool = False
    nonpulsatile_signal_detected: bool = False
    questionable_pulse_detected: bool = False
    signal_analysis_ongoing: bool = False
    sensor_interference_detected: bool = False
    sensor_unconnected_to_user: bool = False
    unknown_sensor_connected: bool = False
    sensor_displaced: bool = False
    sensor_malfunctioning: bool = False
    sensor_disconnected: bool = False

    @classmethod
    def from_bits(cls, bits: int) -> DeviceStatus:
        return cls(*_bools_from(len(fields(cls)), bits, 0))

    @property
    def bits(self) -> int:
        return sum(int(getattr(self, f.name)) << i for i, f in enumerate(fields(self)))

    def as_dict(self) -> dict[str, bool]:
        return {f.name: bool(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class SpO2PR:
    """An SpO2 (%) and pulse rate (bpm) pair."""

    spo2: Nfloat
    pulse_rate: Nfloat


@dataclass(frozen=True, slots=True)
class SpotCheckRecord:
    spo2: Nfloat
    pulse_rate: Nfloat
    timestamp: DateTime | None = None
    measurement_status: MeasurementStatus | None = None
    device_status: DeviceStatus | None = None
    pulse_amplitude_index: Nfloat | None = None
    device_clock_not_set: bool = False


@dataclass(frozen=True, slots=True)
class ContinuousRecord:
    spo2: Nfloat
    """SpO2PR-Normal's SpO2."""
    pulse_rate: Nfloat
    """SpO2PR-Normal's pulse rate."""
    fast: SpO2PR | None = None
    slow: SpO2PR | None = None
    measurement_status: MeasurementStatus | None = None
    device_status: DeviceStatus | None = None
    pulse_amplitude_index: Nfloat | None = None


_S_TIME, _S_STATUS, _S_DEVICE, _S_PAI, _S_CLOCK = 0x01, 0x02, 0x04, 0x08, 0x10
_C_FAST, _C_SLOW, _C_STATUS, _C_DEVICE, _C_PAI = 0x01, 0x02, 0x04, 0x08, 0x10


class _Reader:
    """Walks a value field by field; every error carries the whole value."""

    def __init__(self, raw: bytes, what: str) -> None:
        self.raw = raw
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        part = self.raw[self.pos : self.pos + n]
        self.pos += n
        return part

    def sfloat(self) -> Nfloat:
        try:
            return decode_sfloat(self.take(2))
        except NfloatError as err:
            raise PlxCodecError(f"{self.what}: {err}", raw=self.raw) from None

    def date_time(self) -> DateTime:
        try:
            return decode_date_time_in(self.raw, self.take(DATE_TIME_SIZE))
        except TimeCodecError as err:
            raise PlxCodecError(f"{self.what}: {err}", raw=self.raw) from None

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")


def _check_length(raw: bytes, need: int, flags: int, what: str) -> None:
    if len(raw) != need:
        raise PlxCodecError(
            f"{what}: flags {flags:#04x} need {need} bytes, got {len(raw)}", raw=raw
        )


def decode_spot_check(data: bytes) -> SpotCheckRecord:
    raw = bytes(data)
    what = "PLX Spot-Check Measurement"
    if len(raw) < 5:
        raise PlxCodecError(f"{what} too short ({len(raw)} bytes)", raw=raw)
    flags = raw[0]
    need = 5
    need += DATE_TIME_SIZE if flags & _S_TIME else 0
    need += 2 if flags & _S_STATUS else 0
    need += 3 if flags & _S_DEVICE else 0
    need += 2 if flags & _S_PAI else 0
    _check_length(raw, need, flags, what)
    r = _Reader(raw, what)
    r.take(1)
    spo2, pulse = r.sfloat(), r.sfloat()
    timestamp = r.date_time() if flags & _S_TIME else None
    status = MeasurementStatus.from_bits(r.uint(2)) if flags & _S_STATUS else None
    device = DeviceStatus.from_bits(r.uint(3)) if flags & _S_DEVICE else None
    pai = r.sfloat() if flags & _S_PAI else None
    return SpotCheckRecord(
        spo2=spo2,
        pulse_rate=pulse,
        timestamp=timestamp,
        measurement_status=status,
        device_status=device,
        pulse_amplitude_index=pai,
        device_clock_not_set=bool(flags & _S_CLOCK),
    )


def decode_continuous(data: bytes) -> ContinuousRecord:
    raw = bytes(data)
    what = "PLX Continuous Measurement"
    if len(raw) < 5:
        raise PlxCodecError(f"{what} too short ({len(raw)} bytes)", raw=raw)
    flags = raw[0]
    need = 5
    need += 4 if flags & _C_FAST else 0
    need += 4 if flags & _C_SLOW else 0
    need += 2 if flags & _C_STATUS else 0
    need += 3 if flags & _C_DEVICE else 0
    need += 2 if flags & _C_PAI else 0
    _check_length(raw, need, flags, what)
    r = _Reader(raw, what)
    r.take(1)
    spo2, pulse = r.sfloat(), r.sfloat()
    fast = SpO2PR(r.sfloat(), r.sfloat()) if flags & _C_FAST else None
    slow = SpO2PR(r.sfloat(), r.sfloat()) if flags & _C_SLOW else None
    status = MeasurementStatus.from_bits(r.uint(2)) if flags & _C_STATUS else None
    device = DeviceStatus.from_bits(r.uint(3)) if flags & _C_DEVICE else None
    pai = r.sfloat() if flags & _C_PAI else None
    return ContinuousRecord(
        spo2=spo2,
        pulse_rate=pulse,
        fast=fast,
        slow=slow,
        measurement_status=status,
        device_status=device,
        pulse_amplitude_index=pai,
    )


def _sfloat(value: Nfloat) -> bytes:
    try:
        return encode_sfloat(value)
    except NfloatError as err:
        raise PlxCodecError(f"cannot encode: {err}") from None


def _tail(
    status: MeasurementStatus | None, device: DeviceStatus | None, pai: Nfloat | None
) -> bytes:
    out = b""
    if status is not None:
        out += struct.pack("<H", status.bits)
    if device is not None:
        out += device.bits.to_bytes(3, "little")
    if pai is not None:
        out += _sfloat(pai)
    return out


def encode_spot_check(record: SpotCheckRecord) -> bytes:
    flags = _S_CLOCK if record.device_clock_not_set else 0
    body = _sfloat(record.spo2) + _sfloat(record.pulse_rate)
    if record.timestamp is not None:
        flags |= _S_TIME
        try:
            body += encode_date_time(record.timestamp)
        except TimeCodecError as err:
            raise PlxCodecError(f"cannot encode: {err}") from None
    flags |= _S_STATUS if record.measurement_status is not None else 0
    flags |= _S_DEVICE if record.device_status is not None else 0
    flags |= _S_PAI if record.pulse_amplitude_index is not None else 0
    body += _tail(record.measurement_status, record.device_status, record.pulse_amplitude_index)
    return bytes([flags]) + body


def encode_continuous(record: ContinuousRecord) -> bytes:
    flags = 0
    body = _sfloat(record.spo2) + _sfloat(record.pulse_rate)
    for bit, pair in ((_C_FAST, record.fast), (_C_SLOW, record.slow)):
        if pair is not None:
            flags |= bit
            body += _sfloat(pair.spo2) + _sfloat(pair.pulse_rate)
    flags |= _C_STATUS if record.measurement_status is not None else 0
    flags |= _C_DEVICE if record.device_status is not None else 0
    flags |= _C_PAI if record.pulse_amplitude_index is not None else 0
    body += _tail(record.measurement_status, record.device_status, record.pulse_amplitude_index)
    return bytes([flags]) + body


FEATURE_NAMES = (
    "measurement_status_support",
    "device_and_sensor_status_support",
    "spot_check_measurement_storage",
    "spot_check_time_stamp",
    "spo2pr_fast",
    "spo2pr_slow",
    "pulse_amplitude_index",
    "multiple_bonds",
)


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    supported: frozenset[str] = frozenset()
    """Names from :data:`FEATURE_NAMES` (bits 0-7 of Supported Features)."""
    measurement_status_support: MeasurementStatus | None = None
    """Which measurement status bits the device can set (present with bit 0)."""
    device_status_support: DeviceStatus | None = None
    """Which device and sensor status bits it can set (present with bit 1)."""

    def has(self, name: str) -> bool:
        return name in self.supported

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {name: name in self.supported for name in FEATURE_NAMES}
        out["measurement_status_supported"] = (
            None
            if self.measurement_status_support is None
            else self.measurement_status_support.as_dict()
        )
        out["device_status_supported"] = (
            None if self.device_status_support is None else self.device_status_support.as_dict()
        )
        return out


def decode_features(data: bytes) -> PlxFeatures:
    raw = bytes(data)
    if len(raw) < 2:
        raise PlxCodecError(f"PLX Features too short ({len(raw)} bytes)", raw=raw)
    bits = int.from_bytes(raw[:2], "little")
    has_status, has_device = bool(bits & 1), bool(bits & 2)
    need = 2 + (2 if has_status else 0) + (3 if has_device else 0)
    if len(raw) != need:
        raise PlxCodecError(f"PLX Features {bits:#06x} need {need} bytes, got {len(raw)}", raw=raw)
    r = _Reader(raw, "PLX Features")
    r.take(2)
    return PlxFeatures(
        supported=frozenset(n for i, n in enumerate(FEATURE_NAMES) if bits & (1 << i)),
        measurement_status_support=MeasurementStatus.from_bits(r.uint(2)) if has_status else None,
        device_status_support=DeviceStatus.from_bits(r.uint(3)) if has_device else None,
    )


def encode_features(features: PlxFeatures) -> bytes:
    if ("measurement_status_support" in features.supported) != (
        features.measurement_status_support is not None
    ) or ("device_and_sensor_status_support" in features.supported) != (
        features.device_status_support is not None
    ):
        raise PlxCodecError("a status support field goes with its feature bit")
    bits = sum(1 << i for i, n in enumerate(FEATURE_NAMES) if n in features.supported)
    return struct.pack("<H", bits) + _tail(
        features.measurement_status_support, features.device_status_support, None
    )
