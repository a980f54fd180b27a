"""Fixtures for the BLE tests: the station's zone and the bumble backend that
reaches the emulated peripherals (real ATT over bumble's in-process link)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from drivers.ble.link import BleBackend
from emulation.ble.bumble_backend import BUMBLE
from tests.ble.helpers import TZ


@pytest.fixture
def tz() -> ZoneInfo:
    return TZ


@pytest.fixture
def backend() -> BleBackend:
    return BUMBLE
