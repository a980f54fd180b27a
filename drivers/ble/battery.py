"""Battery Level (0x2A19) of the Battery Service (0x180F): one uint8, the
charge left in percent, 0 to 100 (Battery Service 1.1, section 3.1); 101 to
255 are reserved, so a device sending one is at fault, not nearly full.
Pure."""

from __future__ import annotations

from healthkiosk.errors import ProtocolError

FULL = 100


class BatteryCodecError(ProtocolError):
    reason = "battery_level_invalid"


def decode_level(data: bytes) -> int:
    """0x2A19 → percent (0..100); anything else raises :class:`BatteryCodecError`."""
    raw = bytes(data)
    if len(raw) != 1:
        raise BatteryCodecError(f"battery level is 1 byte, got {len(raw)}", raw=raw)
    if raw[0] > FULL:
        raise BatteryCodecError(f"battery level {raw[0]} % is above {FULL} %", raw=raw)
    return raw[0]


def encode_level(percent: int) -> bytes:
    if not 0 <= percent <= FULL:
        raise ValueError(f"battery level must be 0..{FULL} %, not {percent}")
    return bytes([percent])
