"""Fixtures for the BLE tests: the station's zone and both emulated radios."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from drivers.ble.link import BleBackend
from tests.ble.helpers import TZ


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
