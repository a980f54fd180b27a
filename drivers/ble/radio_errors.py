"""bleak's exceptions → the reasons the kiosk can act on.

Most BLE failures are "try again" (a link lost, a device out of reach), but
some need the staff and must say so: the station's Bluetooth is off or
missing; the device refuses us because this station holds no bond with it
(``not_paired``: BlueZ turns the device's ATT Insufficient Authentication /
Encryption into ``org.bluez.Error.NotPermitted`` "Not paired"); the device
has forgotten the bond this station still holds (``bond_lost``: the
encryption with the stored key fails with HCI 0x06 "PIN or Key Missing",
which BlueZ 5.69+ reports as ``le-connection-key-missing``); a pairing that
did not complete (``pairing_failed``).
Pure: an exception in, a reason string (or None: nothing specific) out.
"""

from __future__ import annotations

from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)

BLUETOOTH_OFF = "bluetooth_off"
ADAPTER_MISSING = "adapter_missing"
BLUETOOTH_UNAVAILABLE = "bluetooth_unavailable"
NOT_PAIRED = "not_paired"
PAIRING_FAILED = "pairing_failed"
BOND_LOST = "bond_lost"

RADIO_DOWN = frozenset({BLUETOOTH_OFF, ADAPTER_MISSING, BLUETOOTH_UNAVAILABLE})
"""The station's own Bluetooth is not working: trying again will not help."""

_SECURITY_CODES = frozenset(
    {
        BleakGATTProtocolErrorCode.INSUFFICIENT_AUTHENTICATION,
        BleakGATTProtocolErrorCode.INSUFFICIENT_AUTHORIZATION,
        BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION,
        BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION_KEY_SIZE,
    }
)

_NOT_AVAILABLE = {
    BleakBluetoothNotAvailableReason.POWERED_OFF: BLUETOOTH_OFF,
    BleakBluetoothNotAvailableReason.NO_BLUETOOTH: ADAPTER_MISSING,
    BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE: ADAPTER_MISSING,
}

_BLUEZ = {
    "org.bluez.Error.NotReady": BLUETOOTH_OFF,  # the adapter is powered off
    "org.bluez.Error.AuthenticationFailed": PAIRING_FAILED,
    "org.bluez.Error.AuthenticationRejected": PAIRING_FAILED,
    "org.bluez.Error.AuthenticationCanceled": PAIRING_FAILED,
    "org.bluez.Error.AuthenticationTimeout": PAIRING_FAILED,
}

_KEY_MISSING = ("le-connection-key-missing", "PIN or Key Missing", "Key Missing")
"""How a device that forgot its side of the bond shows in BlueZ's text."""


def radio_reason(err: BaseException) -> str | None:
    """The reason ``err`` names, when it says something about the radio or pairing."""
    if isinstance(err, BleakBluetoothNotAvailableError):
        return _NOT_AVAILABLE.get(err.reason, BLUETOOTH_UNAVAILABLE)
    if isinstance(err, BleakGATTProtocolError):
        return NOT_PAIRED if err.code in _SECURITY_CODES else None
    if isinstance(err, BleakDBusError):
        if err.dbus_error in _BLUEZ:
            return _BLUEZ[err.dbus_error]
        details = err.dbus_error_details or ""
        if err.dbus_error == "org.bluez.Error.NotPermitted" and "Not paired" in details:
            return NOT_PAIRED
        if any(words in details for words in _KEY_MISSING):
            return BOND_LOST
        if "ATT error: 0x" in details:
            try:
                code = int(details.split("ATT error: 0x", 1)[1][:2], 16)
            except ValueError:
                return None
            return NOT_PAIRED if code in _SECURITY_CODES else None
    return None
