"""bleak's failures that need the staff are named: Bluetooth off, not paired."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
    BleakGATTProtocolError,
)

from drivers.ble.bps import StandardBpsMonitor
from drivers.ble.radio_errors import radio_reason
from emulation.ble.bps import BpsEmulator
from emulation.ble.bumble_backend import ADAPTER, BUMBLE
from healthkiosk.errors import DeviceConnectionError
from tests.support.ble import fast_options

Reason = BleakBluetoothNotAvailableReason


@pytest.mark.parametrize(
    ("err", "reason"),
    [
        (BleakBluetoothNotAvailableError("off", Reason.POWERED_OFF), "bluetooth_off"),
        (BleakBluetoothNotAvailableError("none", Reason.NO_BLUETOOTH), "adapter_missing"),
        (BleakBluetoothNotAvailableError("classic", Reason.NO_BLE_CENTRAL_ROLE), "adapter_missing"),
        (BleakBluetoothNotAvailableError("policy", Reason.DENIED_BY_SYSTEM),
         "bluetooth_unavailable"),
        (BleakGATTProtocolError(0x05), "not_paired"),  # Insufficient Authentication
        (BleakGATTProtocolError(0x08), "not_paired"),  # Insufficient Authorization
        (BleakGATTProtocolError(0x0C), "not_paired"),  # Insufficient Encryption Key Size
        (BleakGATTProtocolError(0x0F), "not_paired"),  # Insufficient Encryption
        (BleakGATTProtocolError(0x02), None),  # Read Not Permitted: a driver bug, not pairing
        (BleakGATTProtocolError(0x0E), None),
        (BleakDBusError("org.bluez.Error.Failed", ["Operation failed with ATT error: 0x05"]),
         "not_paired"),
        (BleakDBusError("org.bluez.Error.Failed", ["Operation failed with ATT error: 0x0f"]),
         "not_paired"),
        (BleakDBusError("org.bluez.Error.Failed", ["Operation failed with ATT error: 0x0e"]),
         None),
        (BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]), "bluetooth_off"),
        (BleakDBusError("org.bluez.Error.AuthenticationFailed", []), "pairing_failed"),
        (BleakDBusError("org.bluez.Error.AuthenticationRejected", []), "pairing_failed"),
        (BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"]), None),
        # BlueZ's gatt-client turns ATT 0x05/0x0F/0x0C into NotPermitted "Not paired"
        (BleakDBusError("org.bluez.Error.NotPermitted", ["Not paired"]), "not_paired"),
        (BleakDBusError("org.bluez.Error.NotPermitted", ["Write not permitted"]), None),
        # BlueZ 5.69+: the device refused the stored key (HCI 0x06) at connect
        (BleakDBusError("org.bluez.Error.Failed", ["le-connection-key-missing"]), "bond_lost"),
        (BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-remote"]), None),
        (BleakError("Device disconnected"), None),
        (OSError("no system bus"), None),
    ],
)  # fmt: skip
def test_radio_reasons(err: BaseException, reason: str | None) -> None:
    assert radio_reason(err) == reason


async def test_bluetooth_off_is_named_not_a_lost_link(tz: ZoneInfo) -> None:
    ADAPTER.powered = False
    try:
        bpm = StandardBpsMonitor(address=None, backend=BUMBLE, options=fast_options())
        with pytest.raises(DeviceConnectionError) as info:
            await bpm.measure(timeout_s=5)
    finally:
        ADAPTER.powered = True
    assert info.value.reason == "bluetooth_off"


async def test_a_device_that_wants_a_bonded_station_is_not_paired(tz: ZoneInfo) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001) as em:
        em.peripheral.requires_pairing = True
        bpm = StandardBpsMonitor(address=em.address, backend=BUMBLE, options=fast_options())
        with pytest.raises(DeviceConnectionError) as info:
            await bpm.measure(timeout_s=5)
        await bpm.close()
    assert info.value.reason == "not_paired"
    assert em.measurements_sent == 0
