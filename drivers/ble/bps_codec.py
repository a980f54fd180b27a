"""Blood Pressure Service codecs: Blood Pressure Measurement (0x2A35),
Intermediate Cuff Pressure (0x2A36) and Blood Pressure Feature (0x2A49).

Measurement layout (little-endian): flags (uint8: bit0 unit kPa, bit1 time
stamp, bit2 pulse rate, bit3 user id, bit4 measurement status; bits 5-7
reserved and ignored), systolic, diastolic, mean arterial pressure (SFLOAT
each), [time stamp: Date Time, 7 bytes], [pulse rate: SFLOAT], [user id:
uint8, 0xFF unknown], [measurement status: uint16]. The Intermediate Cuff
Pressure has the same layout: its "systolic" is the current cuff pressure and
the other two are unused (NaN).

Pure: no I/O. Every malformed input raises :class:`BpsCodecError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from drivers.ble.gatt_time import DateTime, TimeCodecError, decode_date_time, encode_date_time
from drivers.ble.ieee11073 import Nfloat, NfloatError, decode_sfloat, encode_sfloat
from healthkiosk.errors import ProtocolError
from healthkiosk.readings import PressureUnit


class BpsCodecError(ProtocolError):
    reason = "bps_invalid"


UNKNOWN_USER = 0xFF


class PulseRateRange(IntEnum):
    WITHIN = 0
    ABOVE_UPPER_LIMIT = 1
    BELOW_LOWER_LIMIT = 2
    RESERVED = 3


@dataclass(frozen=True, slots=True)
class MeasurementStatus:
    body_movement: bool = False
    cuff_too_loose: bool = False
    irregular_pulse: bool = False
    pulse_rate_range: PulseRateRange = PulseRateRange.WITHIN
    improper_position: bool = False

    @classmethod
    def from_bits(cls, bits: int) -> MeasurementStatus:
        return cls(
            body_movement=bool(bits & 0x01),
            cuff_too_loose=bool(bits & 0x02),
            irregular_pulse=bool(bits & 0x04),
            pulse_rate_range=PulseRateRange((bits >> 3) & 0x03),
            improper_position=bool(bits & 0x20),
        )

    @property
    def bits(self) -> int:
        return (
            int(self.body_movement)
            | int(self.cuff_too_loose) << 1
            | int(self.irregular_pulse) << 2
            | int(self.pulse_rate_range) << 3
            | int(self.improper_position) << 5
        )

    def as_dict(self) -> dict[str, bool]:
        return {
            "body_movement": self.body_movement,
            "cuff_too_loose": self.cuff_too_loose,
            "irregular_pulse": self.irregular_pulse,
            "pulse_rate_above_upper_limit": self.pulse_rate_range
            is PulseRateRange.ABOVE_UPPER_LIMIT,
            "pulse_rate_below_lower_limit": self.pulse_rate_range
            is PulseRateRange.BELOW_LOWER_LIMIT,
            "pulse_rate_range_reserved": self.pulse_rate_range is PulseRateRange.RESERVED,
            "improper_position": self.improper_position,
        }


@dataclass(frozen=True, slots=True)
class BloodPressureRecord:
    """One Blood Pressure Measurement or Intermediate Cuff Pressure value."""

    unit: PressureUnit
    systolic: Nfloat
    diastolic: Nfloat
    mean_arterial_pressure: Nfloat
    timestamp: DateTime | None = None
    pulse_rate: Nfloat | None = None
    user_id: int | None = None
    status: MeasurementStatus | None = None


_F_KPA, _F_TIME, _F_PULSE, _F_USER, _F_STATUS = 0x01, 0x02, 0x04, 0x08, 0x10


def decode_measurement(data: bytes) -> BloodPressureRecord:
    """Decode 0x2A35 (and 0x2A36, which shares the layout)."""
    raw = bytes(data)
    if len(raw) < 7:
        raise BpsCodecError(f"blood pressure value too short ({len(raw)} bytes)", raw=raw)
    flags = raw[0]
    need = 7
    need += 7 if flags & _F_TIME else 0
    need += 2 if flags & _F_PULSE else 0
    need += 1 if flags & _F_USER else 0
    need += 2 if flags & _F_STATUS else 0
    if len(raw) != need:
        raise BpsCodecError(f"flags {flags:#04x} need {need} bytes, got {len(raw)}", raw=raw)
    try:
        systolic = decode_sfloat(raw[1:3])
        diastolic = decode_sfloat(raw[3:5])
        mean = decode_sfloat(raw[5:7])
        pos = 7
        timestamp = None
        if flags & _F_TIME:
            timestamp = decode_date_time(raw[pos : pos + 7])
            pos += 7
        pulse = None
        if flags & _F_PULSE:
            pulse = decode_sfloat(raw[pos : pos + 2])
            pos += 2
        user = None
        if flags & _F_USER:
            user = raw[pos]
            pos += 1
        status = None
        if flags & _F_STATUS:
            (bits,) = struct.unpack_from("<H", raw, pos)
            status = MeasurementStatus.from_bits(bits)
    except (NfloatError, TimeCodecError) as err:
        raise BpsCodecError(f"blood pressure value: {err}", raw=raw) from None
    return BloodPressureRecord(
        unit=PressureUnit.KPA if flags & _F_KPA else PressureUnit.MMHG,
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial_pressure=mean,
        timestamp=timestamp,
        pulse_rate=pulse,
        user_id=user,
        status=status,
    )


decode_intermediate_cuff_pressure = decode_measurement


def encode_measurement(record: BloodPressureRecord) -> bytes:
    flags = 0
    body = b""
    try:
        body += encode_sfloat(record.systolic)
        body += encode_sfloat(record.diastolic)
        body += encode_sfloat(record.mean_arterial_pressure)
        if record.unit is PressureUnit.KPA:
            flags |= _F_KPA
        if record.timestamp is not None:
            flags |= _F_TIME
            body += encode_date_time(record.timestamp)
        if record.pulse_rate is not None:
            flags |= _F_PULSE
            body += encode_sfloat(record.pulse_rate)
        if record.user_id is not None:
            if not 0 <= record.user_id <= 0xFF:
                raise BpsCodecError(f"user id {record.user_id} out of range")
            flags |= _F_USER
            body += bytes([record.user_id])
        if record.status is not None:
            flags |= _F_STATUS
            body += struct.pack("<H", record.status.bits)
    except (NfloatError, TimeCodecError) as err:
        raise BpsCodecError(f"cannot encode: {err}") from None
    return bytes([flags]) + body


encode_intermediate_cuff_pressure = encode_measurement


@dataclass(frozen=True, slots=True)
class BloodPressureFeature:
    """0x2A49: which status bits the monitor can detect."""

    body_movement_detection: bool = False
    cuff_fit_detection: bool = False
    irregular_pulse_detection: bool = False
    pulse_rate_range_detection: bool = False
    measurement_position_detection: bool = False
    multiple_bond: bool = False

    @property
    def bits(self) -> int:
        return sum(
            int(flag) << i
            for i, flag in enumerate(
                (
                    self.body_movement_detection,
                    self.cuff_fit_detection,
                    self.irregular_pulse_detection,
                    self.pulse_rate_range_detection,
                    self.measurement_position_detection,
                    self.multiple_bond,
                )
            )
        )

    def as_dict(self) -> dict[str, bool]:
        return {
            "body_movement_detection": self.body_movement_detection,
            "cuff_fit_detection": self.cuff_fit_detection,
            "irregular_pulse_detection": self.irregular_pulse_detection,
            "pulse_rate_range_detection": self.pulse_rate_range_detection,
            "measurement_position_detection": self.measurement_position_detection,
            "multiple_bond": self.multiple_bond,
        }


def decode_feature(data: bytes) -> BloodPressureFeature:
    raw = bytes(data)
    if len(raw) != 2:
        raise BpsCodecError(f"Blood Pressure Feature needs 2 bytes, got {len(raw)}", raw=raw)
    bits = int.from_bytes(raw, "little")
    return BloodPressureFeature(*(bool(bits & (1 << i)) for i in range(6)))


def encode_feature(feature: BloodPressureFeature) -> bytes:
    return feature.bits.to_bytes(2, "little")
