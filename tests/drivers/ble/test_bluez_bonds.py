"""The station's bond book on BlueZ (drivers/ble/bonds.py), against a fake
bluetoothd on a private D-Bus (tests/support/fake_bluez.py): Paired and
Bonded read, BlueZ before 5.65 (no Bonded) taken as bonded when paired,
RemoveDevice waited for until the device is gone, and a bus without BlueZ
named as Bluetooth unavailable. Real BlueZ was not available here."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.ble.bonds import NO_BOND, BlueZBonds, BondState
from healthkiosk.errors import DeviceConnectionError
from tests.support.fake_bluez import fake_bluez


async def test_bond_state_and_removal(tmp_path: Path) -> None:
    async with fake_bluez(str(tmp_path)) as (address, bluez):
        bluez.add("C0:FF:EE:07:36:1A", paired=True, bonded=True)
        bluez.add("C0:FF:EE:00:18:10", paired=True, bonded=False)  # this session only
        bluez.add("C0:FF:EE:00:18:08", paired=True, bonded=None)  # BlueZ < 5.65
        bluez.add("AA:BB:CC:DD:EE:01", paired=False, bonded=False)  # seen in a scan
        bonds = BlueZBonds(bus_address=address)
        assert await bonds.state("c0:ff:ee:07:36:1a") == BondState(True, True, True)
        assert await bonds.state("C0:FF:EE:00:18:10") == BondState(True, True, False)
        assert await bonds.state("C0:FF:EE:00:18:08") == BondState(True, True, True)
        state = await bonds.state("AA:BB:CC:DD:EE:01")
        assert state.known and not state.has_bond
        assert await bonds.state("11:22:33:44:55:66") == NO_BOND

        assert await bonds.remove("C0:FF:EE:07:36:1A")
        # RemoveDevice answered at once; remove() returned only once it was gone
        assert bluez.removed == ["/org/bluez/hci0/dev_C0_FF_EE_07_36_1A"]
        assert await bonds.state("C0:FF:EE:07:36:1A") == NO_BOND
        assert not await bonds.remove("C0:FF:EE:07:36:1A")


async def test_a_bus_without_bluez_is_bluetooth_unavailable(tmp_path: Path) -> None:
    async with fake_bluez(str(tmp_path)) as (address, _bluez):
        pass
    with pytest.raises(DeviceConnectionError) as err:
        await BlueZBonds(bus_address=address).state("C0:FF:EE:07:36:1A")
    assert err.value.reason == "bluetooth_unavailable"
