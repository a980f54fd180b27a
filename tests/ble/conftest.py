"""Shared fixtures for the BLE tests: the station's zone and fast options."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from drivers.ble.link import BleBackend
from drivers.ble.options import BleOptions

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def tz() -> ZoneInfo:
    return TZ


@pytest.fixture
def backend() -> BleBackend:
    return BleBackend.emulated()


def fast_options(**extra: object) -> BleOptions:
    return BleOptions(tz=TZ, scan_timeout_s=2.0, connect_timeout_s=2.0, extra=extra)
