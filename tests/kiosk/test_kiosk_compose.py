"""The composition root: which device stands behind each role with --simulate."""

from __future__ import annotations

import pytest

from drivers.qrcode.emulator import SAMPLE_ID
from healthkiosk.config import from_mapping
from kiosk.compose import open_devices
from kiosk.simulated import SimulatedBloodPressureMonitor, SimulatedIdCardReader

pytestmark = pytest.mark.timeout(60)


async def test_a_configured_qr_scanner_is_its_emulated_twin_and_the_rest_simulated() -> None:
    cfg = from_mapping({"devices": {"qr_code": {"driver": "serial-qr"}}})
    async with open_devices(cfg, simulate=True) as devices:
        assert isinstance(devices.blood_pressure, SimulatedBloodPressureMonitor)
        assert isinstance(devices.id_card, SimulatedIdCardReader)
        assert devices.qr_code is not None
        card = await devices.qr_code.read_card(timeout_s=10)
        assert card.id_number == SAMPLE_ID
        roles = {s.role for s in devices.statuses()}
        assert roles == {"blood_pressure", "glucose", "id_card", "qr_code"}


async def test_without_a_configured_scanner_there_is_no_qr_check_in() -> None:
    async with open_devices(from_mapping({}), simulate=True) as devices:
        assert devices.qr_code is None
        # Optional, so not listed as missing on the technician screen.
        assert "qr_code" not in {s.role for s in devices.statuses()}
