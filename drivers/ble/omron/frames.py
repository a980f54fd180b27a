"""Omron's vendor transport: the unlock characteristic's 17-byte frames, the
EEPROM command/response frames with their XOR check byte, and the cutting of
a frame into 16-byte pieces over four channels (and putting it back together).

Layout, in our words (sources in docs/protocols/omron.md, from omblepy at
commit 708c13e and its maintainer's annotated capture in omblepy issue #57):

- A memory frame is: total length (1 byte, counting itself and the two last
  bytes), a 2-byte type, a 2-byte logical address, a 1-byte data length *n*,
  the data (present in writes and in read/start responses, absent in read,
  start and end commands), one byte that is 0 (in an end response: the
  device's status, 0 = OK), and a check byte making the XOR of every byte of
  the frame zero. Multi-byte fields are big-endian in both directions.
- The host writes piece *i* (bytes 16·i … 16·i+15) of a frame to TX channel
  *i*; the device answers on the four RX channels the same way. At most 64
  bytes per frame.
- The unlock characteristic takes one opcode byte and a 16-byte key: ``02``
  (with a zero key) asks to enter key programming (answer ``82 00``; ``82 0f``
  when refused), ``00`` + key stores the key (``80 00``), ``01`` + key
  unlocks a session (``81 00``; anything else: the key does not match).

Pure: no I/O. Malformed frames raise :class:`OmronFrameError`; a bad check
byte raises :class:`~healthkiosk.errors.InvalidChecksum` with both values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import reduce

from healthkiosk.errors import InvalidChecksum, ProtocolError

# --- GATT (vendor service) ------------------------------------------------------

SERVICE = "ecbe3980-c9a2-11e1-b1bd-0002a5d5c51b"
UNLOCK = "b305b680-aee7-11e1-a730-0002a5d5c51b"
TX_CHANNELS = (
    "db5b55e0-aee7-11e1-965e-0002a5d5c51b",
    "e0b8a060-aee7-11e1-92f4-0002a5d5c51b",
    "0ae12b00-aee8-11e1-a192-0002a5d5c51b",
    "10e1ba60-aee8-11e1-89e5-0002a5d5c51b",
)
RX_CHANNELS = (
    "49123040-aee8-11e1-a74d-0002a5d5c51b",
    "4d0bf320-aee8-11e1-a0d9-0002a5d5c51b",
    "5128ce60-aee8-11e1-b84b-0002a5d5c51b",
    "560f1420-aee8-11e1-8184-0002a5d5c51b",
)
"""Told apart by UUID here (omblepy tells them apart by ATT handle)."""

PIECE = 16
MAX_FRAME = PIECE * len(TX_CHANNELS)
MIN_FRAME = 8
KEY_SIZE = 16


class OmronFrameError(ProtocolError):
    reason = "omron_frame_invalid"


class Kind(IntEnum):
    """The 2-byte type of a memory frame."""

    START = 0x0000
    """Start transmission (a read of 16 bytes at 0: the device's ID bytes)."""
    READ = 0x0100
    WRITE = 0x01C0
    END = 0x0F00
    START_REPLY = 0x8000
    READ_REPLY = 0x8100
    WRITE_REPLY = 0x81C0
    END_REPLY = 0x8F00


REPLY_TO = {
    Kind.START: Kind.START_REPLY,
    Kind.READ: Kind.READ_REPLY,
    Kind.WRITE: Kind.WRITE_REPLY,
    Kind.END: Kind.END_REPLY,
}
ID_BYTES = 0x10


@dataclass(frozen=True, slots=True)
class Frame:
    kind: Kind
    address: int
    length: int
    """The data length byte: bytes requested (read), carried (write, replies)."""
    data: bytes = b""
    status: int = 0
    """The byte after the data: 0, or an end reply's status."""


def xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def encode_frame(frame: Frame) -> bytes:
    if not 0 <= frame.address <= 0xFFFF or not 0 <= frame.length <= 0xFF:
        raise OmronFrameError(f"address {frame.address:#x} or length {frame.length} out of range")
    if not 0 <= frame.status <= 0xFF:
        raise OmronFrameError(f"status {frame.status} out of range")
    total = MIN_FRAME + len(frame.data)
    if total > MAX_FRAME:
        raise OmronFrameError(f"a frame of {total} bytes does not fit four channels")
    body = (
        bytes([total])
        + int(frame.kind).to_bytes(2, "big")
        + frame.address.to_bytes(2, "big")
        + bytes([frame.length])
        + frame.data
        + bytes([frame.status])
    )
    return body + bytes([xor(body)])


def decode_frame(data: bytes) -> Frame:
    """One whole frame (its length byte says where it ends)."""
    raw = bytes(data)
    if len(raw) < MIN_FRAME:
        raise OmronFrameError(f"a frame has at least 8 bytes, got {len(raw)}", raw=raw)
    total = raw[0]
    if not MIN_FRAME <= total <= MAX_FRAME:
        raise OmronFrameError(f"impossible frame length {total}", raw=raw)
    if len(raw) != total:
        raise OmronFrameError(f"frame says {total} bytes, got {len(raw)}", raw=raw)
    check = xor(raw)
    if check != 0:
        raise InvalidChecksum(wire=raw[-1], calculated=xor(raw[:-1]), raw=raw)
    try:
        kind = Kind(int.from_bytes(raw[1:3], "big"))
    except ValueError:
        raise OmronFrameError(f"unknown frame type {raw[1:3].hex()}", raw=raw) from None
    return Frame(
        kind=kind,
        address=int.from_bytes(raw[3:5], "big"),
        length=raw[5],
        data=raw[6 : total - 2],
        status=raw[total - 2],
    )


# --- commands ---------------------------------------------------------------------


def start_command() -> Frame:
    return Frame(Kind.START, 0, ID_BYTES)


def read_command(address: int, length: int) -> Frame:
    return Frame(Kind.READ, address, length)


def write_command(address: int, data: bytes) -> Frame:
    return Frame(Kind.WRITE, address, len(data), bytes(data))


def end_command() -> Frame:
    return Frame(Kind.END, 0, 0)


def check_reply(request: Frame, raw_reply: bytes) -> bytes:
    """The data the reply ``raw_reply`` carries, after checking it answers ``request``.

    A start reply that declares 16 ID bytes and carries none (HEM-7140T1,
    omblepy issue #39) gives ``b""``. A read reply carrying fewer bytes than
    asked, or another address, is an error; so is an end reply whose status
    is not 0.
    """
    wanted = REPLY_TO[request.kind]
    raw = bytes(raw_reply)
    reply = decode_frame(raw)
    if reply.kind is not wanted:
        raise OmronFrameError(
            f"expected a {wanted.name.lower()} reply, got {reply.kind.name.lower()}", raw=raw
        )
    if request.kind is Kind.END:
        if reply.status != 0:
            raise OmronFrameError(f"the device ended with status {reply.status:#04x}", raw=raw)
        return b""
    if reply.address != request.address:
        raise OmronFrameError(
            f"asked for {request.address:#06x}, the reply is for {reply.address:#06x}", raw=raw
        )
    if request.kind is Kind.START and not reply.data:
        return b""
    if len(reply.data) != request.length or reply.length != request.length:
        raise OmronFrameError(
            f"asked for {request.length} bytes, the reply carries {len(reply.data)}", raw=raw
        )
    if request.kind is Kind.WRITE and reply.data != request.data:
        raise OmronFrameError("the device echoed other bytes than were written", raw=raw)
    return reply.data


# --- four channels ----------------------------------------------------------------


def split(frame_bytes: bytes) -> list[bytes]:
    """The pieces of a frame, piece *i* for channel *i*."""
    if not MIN_FRAME <= len(frame_bytes) <= MAX_FRAME:
        raise OmronFrameError(f"cannot send a frame of {len(frame_bytes)} bytes")
    return [frame_bytes[i : i + PIECE] for i in range(0, len(frame_bytes), PIECE)]


class Reassembler:
    """Puts the pieces arriving on the four RX channels back into frames.

    The latest piece per channel is kept. Once channel 0's piece has come, its
    first byte says how many channels the frame spans; when they have all
    come, the frame is returned (truncated to its length) and the pieces are
    dropped. A piece on a channel beyond the frame's span is an error.
    """

    def __init__(self) -> None:
        self._pieces: dict[int, bytes] = {}

    def clear(self) -> None:
        self._pieces.clear()

    def feed(self, channel: int, piece: bytes) -> bytes | None:
        if not 0 <= channel < len(RX_CHANNELS):
            raise OmronFrameError(f"no channel {channel}")
        if not 0 < len(piece) <= PIECE:
            self.clear()
            raise OmronFrameError(f"a piece has 1 to 16 bytes, got {len(piece)}", raw=piece)
        self._pieces[channel] = bytes(piece)
        first = self._pieces.get(0)
        if first is None:
            return None
        total = first[0]
        if not MIN_FRAME <= total <= MAX_FRAME:
            self.clear()
            raise OmronFrameError(f"impossible frame length {total}", raw=first)
        span = -(-total // PIECE)
        extra = [c for c in self._pieces if c >= span]
        if extra:
            pieces = b"".join(self._pieces[c] for c in sorted(self._pieces))
            self.clear()
            raise OmronFrameError(
                f"a {total}-byte frame spans {span} channels, a piece came on channel {extra[0]}",
                raw=pieces,
            )
        if any(c not in self._pieces for c in range(span)):
            return None
        whole = b"".join(self._pieces[c] for c in range(span))
        self.clear()
        if len(whole) < total:
            raise OmronFrameError(
                f"frame says {total} bytes, its pieces carry {len(whole)}", raw=whole
            )
        return whole[:total]


# --- the unlock characteristic ------------------------------------------------------


class UnlockOp(IntEnum):
    PROGRAM_KEY = 0x00
    UNLOCK = 0x01
    ENTER_KEY_PROGRAMMING = 0x02


UNLOCK_OK = bytes([0x81, 0x00])
KEY_STORED = bytes([0x80, 0x00])
KEY_PROGRAMMING_READY = bytes([0x82, 0x00])
KEY_PROGRAMMING_REFUSED = bytes([0x82, 0x0F])

DEFAULT_KEY = bytes.fromhex("deadbeaf12341234deadbeaf12341234")
"""The arbitrary key omblepy and hass-omron program; any 16 bytes will do.
The device keeps one key, for whichever host programmed it last."""


def unlock_frame(op: UnlockOp, key: bytes = bytes(KEY_SIZE)) -> bytes:
    if len(key) != KEY_SIZE:
        raise OmronFrameError(f"a key has 16 bytes, got {len(key)}", raw=key)
    return bytes([op]) + bytes(key)


def decode_unlock_frame(data: bytes) -> tuple[UnlockOp, bytes]:
    raw = bytes(data)
    if len(raw) != 1 + KEY_SIZE:
        raise OmronFrameError(f"an unlock frame has 17 bytes, got {len(raw)}", raw=raw)
    try:
        return UnlockOp(raw[0]), raw[1:]
    except ValueError:
        raise OmronFrameError(f"unknown unlock opcode {raw[0]:#04x}", raw=raw) from None


def parse_key(text: str) -> bytes:
    """A key given as 32 hex digits."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise OmronFrameError(f"the unlock key must be 32 hex digits, got {text!r}") from None
    if len(key) != KEY_SIZE:
        raise OmronFrameError(f"the unlock key must be 32 hex digits, got {len(text)}")
    return key
