"""Captured bytes → plain JSON-ready dicts, for ``healthkiosk devices decode``.

The field names are the technician's contract (issue 4); special SFLOAT
values are null. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from drivers.ble import (
    battery,
    bps_codec,
    gatt_time,
    glucose_codec,
    hts_codec,
    plx_codec,
    racp,
    weight_codec,
)
from drivers.ble.gatt_time import DateTime
from drivers.ble.ieee11073 import Nfloat, decode_float, decode_sfloat


def parse_hex(text: str) -> bytes:
    """Hex as nRF Connect and friends print it: ``(0x) 1E-8A-00``, ``1e 8a 00``,
    ``0x1E8A00`` or ``1E:8A:00``."""
    cleaned = text.strip()
    if cleaned.startswith("(0x)"):
        cleaned = cleaned[4:]
    for sep in (" ", "-", ":", ",", "\t"):
        cleaned = cleaned.replace(sep, "")
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"not hex: {text!r}") from None


def _num(value: Nfloat | None) -> float | None:
    return None if value is None else value.value


def _iso(value: DateTime | None) -> str | None:
    if value is None or not value.is_known:
        return None
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hours:02d}:{value.minutes:02d}:{value.seconds:02d}"
    )


def _nfloat(value: Nfloat) -> dict[str, Any]:
    return {
        "value": value.value,
        "special": None if value.special is None else value.special.value,
    }


def _bp(data: bytes) -> dict[str, Any]:
    r = bps_codec.decode_measurement(data)
    return {
        "systolic": _num(r.systolic),
        "diastolic": _num(r.diastolic),
        "mean_arterial_pressure": _num(r.mean_arterial_pressure),
        "unit": r.unit.value,
        "timestamp": _iso(r.timestamp),
        "pulse_rate": _num(r.pulse_rate),
        "user_id": r.user_id,
        "measurement_status": None if r.status is None else r.status.as_dict(),
    }


def _glucose(data: bytes) -> dict[str, Any]:
    r = glucose_codec.decode_measurement(data)
    return {
        "sequence_number": r.sequence_number,
        "base_time": _iso(r.base_time),
        "time_offset_minutes": r.time_offset_minutes,
        "concentration": _num(r.concentration),
        "unit": None if r.unit is None else r.unit.value,
        "mmol_per_l": r.mmol_per_l,
        "type": r.type_name,
        "sample_location": r.location_name,
        "sensor_status": None if r.sensor_status is None else r.sensor_status.as_dict(),
        "context_follows": r.context_follows,
    }


def _racp(data: bytes) -> dict[str, Any]:
    v = racp.decode(data)
    out: dict[str, Any] = {"op_code": v.op_code.name.lower(), "operator": v.operator.name.lower()}
    if isinstance(v, racp.RacpResponse):
        if v.number_of_records is not None:
            out["number_of_records"] = v.number_of_records
        elif v.request_op_code is not None and v.response_code is not None:
            out["request_op_code"] = v.request_op_code.name.lower()
            out["response_code"] = v.response_code.name.lower()
    elif v.filter_type is not None:
        out["filter_type"] = v.filter_type.name.lower()
        out["operand"] = list(v.operand)
    return out


def _cts(data: bytes) -> dict[str, Any]:
    c = gatt_time.decode_current_time(data)
    return {
        "date_time": _iso(c.date_time),
        "day_of_week": c.day_of_week or None,
        "fractions256": c.fractions256,
        "adjust_reason": {
            "manual": c.adjust_reason.manual,
            "external_reference": c.adjust_reason.external_reference,
            "time_zone_change": c.adjust_reason.time_zone_change,
            "dst_change": c.adjust_reason.dst_change,
        },
    }


def _dec(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _weight(data: bytes) -> dict[str, Any]:
    r = weight_codec.decode_weight_measurement(data)
    return {
        "weight": _dec(r.weight),
        "unit": r.unit.value,
        "timestamp": _iso(r.timestamp),
        "user_id": r.user_id,
        "bmi": _dec(r.bmi),
        "height": _dec(r.height),
    }


def _body_composition(data: bytes) -> dict[str, Any]:
    r = weight_codec.decode_body_composition(data)
    out: dict[str, Any] = {
        "unit": r.unit.value,
        "timestamp": _iso(r.timestamp),
        "user_id": r.user_id,
        "body_fat_percent": _dec(r.body_fat_percent),
    }
    for _bit, name, _kind in weight_codec.BODY_FIELDS:
        out[name] = _dec(getattr(r, name))
    out["multiple_packet"] = r.multiple_packet
    out["unavailable"] = sorted(r.unavailable)
    return out


def _plx_status(
    status: plx_codec.MeasurementStatus | None, device: plx_codec.DeviceStatus | None
) -> dict[str, Any]:
    return {
        "measurement_status": None if status is None else status.as_dict(),
        "device_status": None if device is None else device.as_dict(),
    }


def _plx_spot(data: bytes) -> dict[str, Any]:
    r = plx_codec.decode_spot_check(data)
    return {
        "spo2": _num(r.spo2),
        "pulse_rate": _num(r.pulse_rate),
        "timestamp": _iso(r.timestamp),
        **_plx_status(r.measurement_status, r.device_status),
        "pulse_amplitude_index": _num(r.pulse_amplitude_index),
    }


def _plx_continuous(data: bytes) -> dict[str, Any]:
    r = plx_codec.decode_continuous(data)
    return {
        "spo2": _num(r.spo2),
        "pulse_rate": _num(r.pulse_rate),
        "timestamp": None,  # a continuous measurement carries no time stamp
        **_plx_status(r.measurement_status, r.device_status),
        "pulse_amplitude_index": _num(r.pulse_amplitude_index),
    }


def _temperature(data: bytes) -> dict[str, Any]:
    r = hts_codec.decode_measurement(data)
    return {
        "value": _num(r.temperature),
        "unit": r.unit.value,
        "timestamp": _iso(r.timestamp),
        "type": hts_codec.type_name(r.temperature_type),
    }


DECODERS: dict[str, Callable[[bytes], dict[str, Any]]] = {
    "bpm": _bp,
    "icp": _bp,
    "bp-feature": lambda data: bps_codec.decode_feature(data).as_dict(),
    "glucose": _glucose,
    "glucose-context": lambda data: glucose_codec.decode_context(data).as_dict(),
    "racp": _racp,
    "sfloat": lambda data: _nfloat(decode_sfloat(data)),
    "float": lambda data: _nfloat(decode_float(data)),
    "cts": _cts,
    "battery": lambda data: {"battery_percent": battery.decode_level(data)},
    "weight": _weight,
    "weight-feature": lambda data: weight_codec.decode_weight_scale_feature(data).as_dict(),
    "body-composition": _body_composition,
    "plx-spot": _plx_spot,
    "plx-continuous": _plx_continuous,
    "plx-features": lambda data: plx_codec.decode_features(data).as_dict(),
    "temperature": _temperature,
}
KINDS = tuple(DECODERS)


def decode_to_json(kind: str, data: bytes) -> dict[str, Any]:
    """Decode ``data`` as ``kind``; raises the codec's own ProtocolError subclass."""
    return DECODERS[kind](data)
