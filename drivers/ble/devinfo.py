"""Device Information strings (0x2A29 manufacturer, 0x2A24 model, 0x2A25
serial, 0x2A26 firmware): UTF-8, without a terminator (some devices pad with
NULs, which are dropped). Pure."""

from __future__ import annotations

from healthkiosk.errors import ProtocolError


class DeviceInfoCodecError(ProtocolError):
    reason = "device_info_invalid"


def decode_string(data: bytes) -> str:
    raw = bytes(data)
    try:
        return raw.rstrip(b"\x00").decode("utf-8").strip()
    except UnicodeDecodeError as err:
        raise DeviceInfoCodecError(f"not UTF-8: {err.reason}", raw=raw) from None


def encode_string(value: str) -> bytes:
    return value.encode("utf-8")
