"""The SAM frame protocol of second-generation resident ID card readers: pure codec.

Frames (GA 467-2013 style SAM modules, as vendors' SDK notes publish them):

* host → reader: ``AA AA AA 96 69 | LEN(2, big-endian) | CMD | PARA | data | CHK``
  where LEN counts CMD, PARA, data and CHK;
* reader → host: ``AA AA AA 96 69 | LEN(2) | SW1 SW2 SW3 | data | CHK`` where
  LEN counts SW1..SW3, data and CHK;
* CHK is the XOR of every byte after the preamble up to the checksum
  (LEN included).

Commands: ``20 01`` find card (SW3 ``9F`` found, ``80`` none), ``20 02``
select card (``90`` selected, ``81`` failed), ``30 01`` read base
information (``90``: data is text length(2) photo length(2), 256 bytes of
text, 1024 bytes of photo). SW1 SW2 are ``00 00`` in every published
exchange; SW3 carries the status (:data:`STATUS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from healthkiosk.errors import InvalidChecksum, ProtocolError

PREAMBLE = bytes.fromhex("AAAAAA9669")
MAX_LEN = 4096


class SamError(ProtocolError):
    """Bytes that are not a valid SAM frame."""


class SamChecksum(SamError, InvalidChecksum):
    """A SAM frame whose XOR checksum does not match."""


class Command(IntEnum):
    FIND_CARD = 0x2001
    SELECT_CARD = 0x2002
    READ_BASE = 0x3001


class Sw3(IntEnum):
    SUCCESS = 0x90
    NO_CONTENT = 0x91
    FIND_SUCCESS = 0x9F
    RECEIVE_CHECKSUM_ERROR = 0x10
    RECEIVE_LENGTH_ERROR = 0x11
    COMMAND_UNKNOWN = 0x21
    READ_FAILED = 0x41
    FIND_FAILED = 0x80
    SELECT_FAILED = 0x81


STATUS = {
    0x90: "success",
    0x91: "no content",
    0x9F: "card found",
    0x10: "checksum error in the command",
    0x11: "length error in the command",
    0x21: "unknown command",
    0x23: "not permitted",
    0x24: "cannot decrypt",
    0x31: "card failed to authenticate the SAM",
    0x32: "SAM failed to authenticate the card",
    0x33: "information check failed",
    0x40: "unknown card type",
    0x41: "card read failed",
    0x47: "random number failed",
    0x60: "SAM self-test failed",
    0x66: "SAM not authorised",
    0x80: "no card found",
    0x81: "card selection failed",
}


def xor(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def encode_command(command: Command | int, data: bytes = b"") -> bytes:
    body = (len(data) + 3).to_bytes(2, "big") + int(command).to_bytes(2, "big") + data
    return PREAMBLE + body + bytes([xor(body)])


@dataclass(frozen=True, slots=True)
class Response:
    sw1: int
    sw2: int
    sw3: int
    data: bytes = b""

    @property
    def status(self) -> str:
        return STATUS.get(self.sw3, f"status {self.sw3:#04x}")


def encode_response(response: Response) -> bytes:
    body = (
        (len(response.data) + 4).to_bytes(2, "big")
        + bytes([response.sw1, response.sw2, response.sw3])
        + response.data
    )
    return PREAMBLE + body + bytes([xor(body)])


@dataclass(frozen=True, slots=True)
class CommandFrame:
    command: int
    data: bytes = b""


PRIVATE_AFTER = 14
"""Error ``raw`` bytes stop here: a read reply's text block holds a resident's
name and ID number, which must never reach a log (preamble, length, status and
the two block lengths are kept)."""


def _safe(frame: bytes) -> bytes:
    return frame[:PRIVATE_AFTER]


def _check(frame: bytes, minimum: int) -> bytes:
    if not frame.startswith(PREAMBLE):
        raise SamError("frame does not start with the preamble", raw=_safe(frame))
    if len(frame) < 7:
        raise SamError("frame too short", raw=_safe(frame))
    length = int.from_bytes(frame[5:7], "big")
    if length < minimum or len(frame) != 7 + length:
        raise SamError("frame length does not match", raw=_safe(frame))
    body = frame[5:-1]
    calculated = xor(body)
    if frame[-1] != calculated:
        raise SamChecksum(wire=frame[-1], calculated=calculated, raw=_safe(frame))
    return frame[7:-1]


def decode_response(frame: bytes) -> Response:
    payload = _check(frame, 4)
    return Response(payload[0], payload[1], payload[2], bytes(payload[3:]))


def decode_command(frame: bytes) -> CommandFrame:
    payload = _check(frame, 3)
    return CommandFrame(int.from_bytes(payload[:2], "big"), bytes(payload[2:]))


class SamFramer:
    """Finds frames after the preamble; skips garbage; keeps checksum failures.

    ``feed`` returns whole frames whose checksum matched (as bytes, to be
    decoded as a response or a command); a frame whose checksum failed is
    dropped and kept in :attr:`last_error`.
    """

    def __init__(self, *, minimum: int = 4) -> None:
        self._buf = bytearray()
        self.minimum = minimum
        self.last_error: SamError | None = None

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames: list[bytes] = []
        while True:
            start = self._buf.find(PREAMBLE)
            if start < 0:
                del self._buf[: max(0, len(self._buf) - (len(PREAMBLE) - 1))]
                return frames
            del self._buf[:start]
            if len(self._buf) < 7:
                return frames
            length = int.from_bytes(self._buf[5:7], "big")
            if length < self.minimum or length > MAX_LEN:
                del self._buf[:1]
                continue
            if len(self._buf) < 7 + length:
                nxt = self._buf.find(PREAMBLE, 1)
                if 0 < nxt < 7 + length and self._complete_at(nxt):
                    del self._buf[:nxt]
                    continue
                return frames
            frame = bytes(self._buf[: 7 + length])
            try:
                _check(frame, self.minimum)
            except SamError as err:
                if isinstance(err, SamChecksum):
                    self.last_error = err
                del self._buf[:1]
                continue
            del self._buf[: 7 + length]
            frames.append(frame)

    def _complete_at(self, index: int) -> bool:
        if len(self._buf) < index + 7:
            return False
        length = int.from_bytes(self._buf[index + 5 : index + 7], "big")
        return self.minimum <= length <= MAX_LEN and len(self._buf) >= index + 7 + length
