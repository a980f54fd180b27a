"""The composition root: which device stands behind each role with --simulate."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.qrcode.emulator import SAMPLE_ID
from healthkiosk.config import from_mapping
from healthkiosk.errors import DeviceError
from kiosk.compose import open_devices
from kiosk.simulated import SimulatedBloodPressureMonitor, SimulatedIdCardReader
from management import pairings

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


async def test_pair_pins_the_monitor_that_answers_and_later_opens_use_it(tmp_path: Path) -> None:
    cfg = from_mapping(
        {
            "station": {"data_dir": str(tmp_path)},
            "devices": {"blood_pressure": {"driver": "ble-bp-standard"}},
        }
    )
    async with open_devices(cfg, simulate=True) as devices:
        monitor = devices.blood_pressure
        assert monitor is not None and monitor.pairable  # type: ignore[attr-defined]
        info = await monitor.pair()  # type: ignore[attr-defined]
        assert info.address and pairings.read(tmp_path) == {"blood_pressure": info.address}
        again = await monitor.check()  # type: ignore[attr-defined]
        assert again.address == info.address
        # The remote "repair" forgets the pin: the next open takes any monitor again.
        assert pairings.forget(tmp_path, "blood_pressure")
        assert not pairings.forget(tmp_path, "blood_pressure")
        assert (await monitor.check()).address == info.address  # type: ignore[attr-defined]


async def test_a_configured_address_or_a_serial_device_is_not_paired_by_the_kiosk(
    tmp_path: Path,
) -> None:
    cfg = from_mapping(
        {
            "station": {"data_dir": str(tmp_path)},
            "devices": {
                "glucose": {"driver": "onetouch-ultra2"},
                "blood_pressure": {"driver": "ble-bp-standard", "address": "AA:BB:CC:DD:EE:01"},
            },
        }
    )
    async with open_devices(cfg, simulate=True) as devices:
        assert not devices.glucose.pairable  # type: ignore[union-attr]
        assert not devices.blood_pressure.pairable  # type: ignore[union-attr]
        with pytest.raises(DeviceError) as err:
            await devices.glucose.pair()  # type: ignore[union-attr]
        assert err.value.reason == "not_pairable"
    assert pairings.read(tmp_path) == {}


def test_a_damaged_pairings_file_counts_as_none(tmp_path: Path) -> None:
    pairings.path_for(tmp_path).write_text("{not json", encoding="utf-8")
    assert pairings.read(tmp_path) == {}
    pairings.pin(tmp_path, "glucose", "AA:BB:CC:DD:EE:02")
    assert pairings.address_for(tmp_path, "glucose") == "AA:BB:CC:DD:EE:02"
