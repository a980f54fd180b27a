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

from drivers.ble import plx, thermometer, weight
from healthkiosk.rules import RulesConfig

ReadingFn = Callable[[bytes, RulesConfig, tzinfo], dict[str, Any]]

READINGS: dict[str, ReadingFn] = {
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


def reading_to_json(kind: str, data: bytes, *, rules: RulesConfig, tz: tzinfo) -> dict[str, Any]:
    return READINGS[kind](data, rules, tz)
