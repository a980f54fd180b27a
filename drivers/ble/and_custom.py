"""A&D Medical's custom command characteristic (service 233BF000-…,
characteristic 233BF001-…) on the UA-651BLE, as A&D's public SDK notes for
the UA-651BLE (v1.2, section 5.1) describe it and as open code quotes them.

A frame is: size (uint8: the number of bytes that follow), type (0 read,
1 write, 2 response), command id, value. A&D's own apps pad to 20 bytes with
zeros; the padding is not part of the frame. Commands used here: 0x01 set time
(value: year − 2000 … i.e. the year's last two digits, month, day, hour,
minute, second), 0x03 disconnect (the monitor goes to stand-by), 0xA6 set
buffer size, 0xD6 read buffer size, 0x12 delete all memory.

Pure: no I/O. Malformed frames raise :class:`AndCommandError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from healthkiosk.errors import ProtocolError


class AndCommandError(ProtocolError):
    reason = "and_command_invalid"


FRAME_SIZE = 20


class FrameType(IntEnum):
    READ = 0
    WRITE = 1
    RESPONSE = 2


class Command(IntEnum):
    SET_TIME = 0x01
    DISCONNECT = 0x03
    UNPAIR = 0x10
    DELETE_ALL_MEMORY = 0x12
    SET_BUFFER_SIZE = 0xA6
    READ_BUFFER_SIZE = 0xD6


@dataclass(frozen=True, slots=True)
class AndFrame:
    type: FrameType
    command: int
    value: bytes = b""


def encode(frame: AndFrame, *, pad: bool = False) -> bytes:
    if len(frame.value) > FRAME_SIZE - 3:
        raise AndCommandError(f"value too long ({len(frame.value)} bytes)")
    body = bytes([frame.type, frame.command]) + frame.value
    raw = bytes([len(body)]) + body
    return raw.ljust(FRAME_SIZE, b"\x00") if pad else raw


def decode(data: bytes) -> AndFrame:
    raw = bytes(data)
    if len(raw) < 3 or len(raw) > FRAME_SIZE:
        raise AndCommandError(f"A&D frame of {len(raw)} bytes", raw=raw)
    size = raw[0]
    if size < 2 or 1 + size > len(raw):
        raise AndCommandError(f"A&D frame size {size} does not fit {len(raw)} bytes", raw=raw)
    if any(raw[1 + size :]):
        raise AndCommandError("A&D frame padding is not zero", raw=raw)
    try:
        kind = FrameType(raw[1])
    except ValueError:
        raise AndCommandError(f"A&D frame type {raw[1]}", raw=raw) from None
    return AndFrame(kind, raw[2], raw[3 : 1 + size])


def set_time(when: datetime) -> AndFrame:
    return AndFrame(
        FrameType.WRITE,
        Command.SET_TIME,
        bytes([when.year % 100, when.month, when.day, when.hour, when.minute, when.second]),
    )


def disconnect() -> AndFrame:
    return AndFrame(FrameType.WRITE, Command.DISCONNECT)


def read_buffer_size() -> AndFrame:
    return AndFrame(FrameType.READ, Command.READ_BUFFER_SIZE)
