"""Helpers shared by the BLE tests (imported; fixtures live in conftest.py)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from drivers.ble.options import BleOptions

TZ = ZoneInfo("Asia/Shanghai")
"""The station's zone in the default configuration."""


def fast_options(**extra: object) -> BleOptions:
    return BleOptions(tz=TZ, scan_timeout_s=2.0, connect_timeout_s=2.0, extra=extra)
