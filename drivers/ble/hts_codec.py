"""Health Thermometer Service (0x1809) codecs: Temperature Measurement
(0x2A1C), Intermediate Temperature (0x2A1E, the same layout) and Temperature
Type (0x2A1D).

Measurement (little-endian): flags (uint8: bit0 Fahrenheit, else Celsius;
bit1 time stamp; bit2 temperature type; bits 3-7 reserved and ignored),
temperature (FLOAT, the 32-bit IEEE 11073 format: 8-bit exponent, 24-bit
mantissa, both two's complement), [time stamp: Date Time], [temperature type:
uint8]. Type codes 1-9: armpit, body (general), ear (usually ear lobe),
finger, gastro-intestinal tract, mouth, rectum, toe, tympanum (ear drum);
0 and 10-255 reserved (kept as their number, named ``reserved_N``).

Pure: no I/O. Every malformed input raises :class:`HtsCodecError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.ble.gatt_time import (
    DATE_TIME_SIZE,
    DateTime,
    TimeCodecError,
    decode_date_time_in,
    encode_date_time,
)
from drivers.ble.ieee11073 import Nfloat, NfloatError, decode_float, encode_float
from healthkiosk.errors import ProtocolError
from healthkiosk.readings import TemperatureSite, TemperatureUnit


class HtsCodecError(ProtocolError):
    reason = "temperature_invalid"


TEMPERATURE_TYPES: dict[int, TemperatureSite] = {
    1: TemperatureSite.ARMPIT,
    2: TemperatureSite.BODY,
    3: TemperatureSite.EAR,
    4: TemperatureSite.FINGER,
    5: TemperatureSite.GASTROINTESTINAL_TRACT,
    6: TemperatureSite.MOUTH,
    7: TemperatureSite.RECTUM,
    8: TemperatureSite.TOE,
    9: TemperatureSite.TYMPANUM,
}


def site_of(code: int | None) -> TemperatureSite | None:
    """The site of a type code; None for no type or a reserved code."""
    return None if code is None else TEMPERATURE_TYPES.get(code)


def type_name(code: int | None) -> str | None:
    if code is None:
        return None
    site = TEMPERATURE_TYPES.get(code)
    return site.value if site is not None else f"reserved_{code}"


@dataclass(frozen=True, slots=True)
class TemperatureRecord:
    unit: TemperatureUnit
    temperature: Nfloat
    """In ``unit``; a special FLOAT (NaN, NRes, ±INF) when the device has no number."""
    timestamp: DateTime | None = None
    temperature_type: int | None = None
    """The raw Temperature Type code (see :data:`TEMPERATURE_TYPES`)."""

    @property
    def site(self) -> TemperatureSite | None:
        return site_of(self.temperature_type)


_F_FAHRENHEIT, _F_TIME, _F_TYPE = 0x01, 0x02, 0x04


def decode_measurement(data: bytes) -> TemperatureRecord:
    """Decode 0x2A1C (and 0x2A1E, which shares the layout)."""
    raw = bytes(data)
    if len(raw) < 5:
        raise HtsCodecError(f"Temperature Measurement too short ({len(raw)} bytes)", raw=raw)
    flags = raw[0]
    need = 5 + (DATE_TIME_SIZE if flags & _F_TIME else 0) + (1 if flags & _F_TYPE else 0)
    if len(raw) != need:
        raise HtsCodecError(f"flags {flags:#04x} need {need} bytes, got {len(raw)}", raw=raw)
    try:
        value = decode_float(raw[1:5])
        timestamp = None
        if flags & _F_TIME:
            timestamp = decode_date_time_in(raw, raw[5 : 5 + DATE_TIME_SIZE])
    except (NfloatError, TimeCodecError) as err:
        raise HtsCodecError(f"Temperature Measurement: {err}", raw=raw) from None
    return TemperatureRecord(
        unit=TemperatureUnit.FAHRENHEIT if flags & _F_FAHRENHEIT else TemperatureUnit.CELSIUS,
        temperature=value,
        timestamp=timestamp,
        temperature_type=raw[-1] if flags & _F_TYPE else None,
    )


decode_intermediate = decode_measurement


def encode_measurement(record: TemperatureRecord) -> bytes:
    flags = _F_FAHRENHEIT if record.unit is TemperatureUnit.FAHRENHEIT else 0
    try:
        body = encode_float(record.temperature)
        if record.timestamp is not None:
            flags |= _F_TIME
            body += encode_date_time(record.timestamp)
    except (NfloatError, TimeCodecError) as err:
        raise HtsCodecError(f"cannot encode: {err}") from None
    if record.temperature_type is not None:
        if not 0 <= record.temperature_type <= 0xFF:
            raise HtsCodecError(f"temperature type {record.temperature_type} out of range")
        flags |= _F_TYPE
        body += bytes([record.temperature_type])
    return bytes([flags]) + body


encode_intermediate = encode_measurement


def decode_temperature_type(data: bytes) -> int:
    """0x2A1D: one byte, the type code."""
    raw = bytes(data)
    if len(raw) != 1:
        raise HtsCodecError(f"Temperature Type needs 1 byte, got {len(raw)}", raw=raw)
    return raw[0]


def encode_temperature_type(code: int) -> bytes:
    if not 0 <= code <= 0xFF:
        raise HtsCodecError(f"temperature type {code} out of range")
    return bytes([code])
