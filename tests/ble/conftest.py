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


@pytest.fixture(params=["model", "bumble"])
def radio(request: pytest.FixtureRequest) -> str:
    """Every driver test runs on both emulated stacks: the in-process GATT
    model and bumble's in-process link (real ATT)."""
    return str(request.param)


@pytest.fixture
def backend(radio: str) -> BleBackend:
    return BleBackend.bumble() if radio == "bumble" else BleBackend.emulated()


def fast_options(**extra: object) -> BleOptions:
    return BleOptions(tz=TZ, scan_timeout_s=2.0, connect_timeout_s=2.0, extra=extra)
