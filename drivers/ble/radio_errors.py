"""bleak's exceptions → the reasons the kiosk can act on.

Most BLE failures are "try again" (a link lost, a device out of reach), but
two need the staff and must say so: the station's Bluetooth is off or missing,
and the device refuses us because it is not paired (bonded) with this station.
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
        if "ATT error: 0x" in details:
            try:
                code = int(details.split("ATT error: 0x", 1)[1][:2], 16)
            except ValueError:
                return None
            return NOT_PAIRED if code in _SECURITY_CODES else None
    return None
