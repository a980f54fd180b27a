"""Captured bytes → what the kiosk would record, for ``healthkiosk devices
reading KIND HEX``: one JSON-ready dict per kind, made by each driver's own
``to_reading`` function (the same code the driver runs on a station), with
``recorded`` true, or false and a ``reason``, and the values in the kiosk's
units. Undecodable bytes raise the codec's :class:`ProtocolError`. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from drivers.ble import bps, bps_codec, glucose, glucose_codec, plx, thermometer, weight
from drivers.ble.options import BleOptions
from drivers.recorded import blood_pressure_json, glucose_json
from healthkiosk.readings import DeviceInfo, Transport
from healthkiosk.rules import RulesConfig

CAPTURED = DeviceInfo(model="captured bytes", transport=Transport.BLE)

ReadingFn = Callable[[bytes, RulesConfig, tzinfo], dict[str, Any]]


def _bpm(data: bytes, rules: RulesConfig, tz: tzinfo) -> dict[str, Any]:
    record = bps_codec.decode_measurement(data)
    return blood_pressure_json(lambda: bps.record_to_reading(record, device=CAPTURED, tz=tz), rules)


def _glucose(
    data: bytes, rules: RulesConfig, tz: tzinfo, context: bytes | None = None
) -> dict[str, Any]:
    record = glucose_codec.decode_measurement(data)
    ctx = None if context is None else glucose_codec.decode_context(context)
    if context is not None and ctx is not None and ctx.sequence_number != record.sequence_number:
        raise glucose_codec.GlucoseCodecError(
            f"context is for record {ctx.sequence_number}, not {record.sequence_number}",
            raw=context,
        )
    opts = BleOptions(tz=tz)
    return glucose_json(
        lambda: glucose.record_to_reading(record, ctx, device=CAPTURED, opts=opts), rules
    )


READINGS: dict[str, ReadingFn] = {
    "bpm": _bpm,
    "glucose": _glucose,
    "weight": lambda data, rules, tz: weight.to_reading(data, rules=rules.bmi, tz=tz),
    "plx-spot": lambda data, rules, tz: plx.spot_to_reading_json(data, rules=rules.spo2, tz=tz),
    "plx-continuous": lambda data, rules, tz: plx.continuous_to_reading_json(
        data, rules=rules.spo2, tz=tz
    ),
    "temperature": lambda data, rules, tz: thermometer.to_reading(
        data, rules=rules.temperature, tz=tz
    ),
}
KINDS = tuple(READINGS)


def reading_to_json(
    kind: str, data: bytes, *, rules: RulesConfig, tz: tzinfo, context: bytes | None = None
) -> dict[str, Any]:
    """``context``: a glucose record's Measurement Context (0x2A34), if captured."""
    if kind == "glucose":
        return _glucose(data, rules, tz, context)
    if context is not None:
        raise ValueError(f"{kind} takes one HEX")
    return READINGS[kind](data, rules, tz)
