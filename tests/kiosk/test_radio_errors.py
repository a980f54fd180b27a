"""Every reason the BLE drivers give for a radio or pairing failure reaches the
elder as "please tell the staff" (Bluetooth off / not paired), never as "the
device lost its connection, try again". The drivers' side — that an emulated
adapter powered off or a device wanting a bonded station raises these
reasons — is in tests/drivers/ble/test_radio_errors.py."""

from __future__ import annotations

import pytest

from drivers.ble import radio_errors
from healthkiosk.errors import DeviceConnectionError
from kiosk.flow.errors import error_actions, error_key


@pytest.mark.parametrize(
    ("reason", "key"),
    [
        (radio_errors.BLUETOOTH_OFF, "bluetooth_off"),
        (radio_errors.ADAPTER_MISSING, "bluetooth_off"),
        (radio_errors.BLUETOOTH_UNAVAILABLE, "bluetooth_off"),  # no BlueZ / D-Bus at all
        (radio_errors.NOT_PAIRED, "not_paired"),
        (radio_errors.PAIRING_FAILED, "not_paired"),
        (radio_errors.BOND_LOST, "not_paired"),  # the device forgot this station
        ("key_refused", "not_paired"),  # an Omron monitor refused this station's key
    ],
)
def test_radio_reasons_ask_for_the_staff(reason: str, key: str) -> None:
    err = DeviceConnectionError("from the driver", reason=reason)
    assert error_key(err) == key
    assert error_actions(key) == ("call_staff", "retry", "finish")  # 呼叫工作人员 first


def test_every_reason_the_drivers_can_give_is_mapped() -> None:
    given = {
        value
        for name, value in vars(radio_errors).items()
        if name.isupper() and isinstance(value, str)
    }
    assert given == {"bluetooth_off", "adapter_missing", "bluetooth_unavailable",
                     "not_paired", "pairing_failed", "bond_lost"}  # fmt: skip
    for reason in given:
        key = error_key(DeviceConnectionError("x", reason=reason))
        assert key in ("bluetooth_off", "not_paired")
