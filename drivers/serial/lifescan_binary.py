"""LifeScan's binary protocol (OneTouch UltraEasy / UltraMini): pure codec.

As glucometerutils documents it (``support/lifescan_binary_protocol.py``,
``support/lifescan.py``, ``drivers/otultraeasy.py`` and their tests):

* a packet is ``STX(02) LEN LINK <message> ETX(03) CRC16`` where ``LEN`` is
  the whole packet's length, CRC included (message + 6), and the CRC is
  CRC-16-CCITT with seed 0xFFFF over STX..ETX, little-endian;
* ``LINK`` carries the link-layer bits: bit 4 *more*, bit 3 *disconnect*,
  bit 2 *acknowledge*, bit 1 *expect receive*, bit 0 *sequence number*;
* messages (host → meter → host): ``05 0D 02`` version →
  ``05 06 <pascal string>``; ``05 0B 02 00..`` serial → ``05 06 <ascii>``;
  ``05 20 02 <u32>`` read clock, ``05 20 01 <u32 t>`` set it →
  ``05 06 <u32>`` (seconds since 1970 in the meter's local time);
  ``05 09 02 09 00 00 00 00`` display unit → ``05 06 <00 mg/dL | 01 mmol/L>
  00 00 00``; ``05 1F <u16 501>`` record count → ``0F <u16>``;
  ``05 1F <u16 n>`` record n (0 newest) → ``05 06 <u32 time> <u32 mg/dL>``.

Any other reply is the meter refusing the request (:class:`MeterRefused`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from healthkiosk.errors import InvalidChecksum, ProtocolError

STX, ETX = 0x02, 0x03
MIN_PACKET = 6
COUNT_RECORD = 501
"""Asking for record 501 returns the number of records instead."""
RANGE_MG_DL = (20, 600)
"""The meter's measuring range (UltraEasy owner's booklet): LO below, HI above."""


class LifeScanBinaryError(ProtocolError):
    """Bytes that are not a valid LifeScan binary packet or message."""


class LifeScanChecksum(LifeScanBinaryError, InvalidChecksum):
    """A packet whose CRC-16-CCITT does not match."""


class MeterRefused(LifeScanBinaryError):
    """The meter answered a request with something other than success."""

    reason = "device_error"


def crc_ccitt(data: bytes) -> int:
    """CRC-16-CCITT (polynomial 0x1021, seed 0xFFFF, no reflection)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


@dataclass(frozen=True, slots=True)
class LinkControl:
    sequence: bool = False
    expect_receive: bool = False
    acknowledge: bool = False
    disconnect: bool = False
    more: bool = False

    def to_byte(self) -> int:
        return (
            (self.more << 4)
            | (self.disconnect << 3)
            | (self.acknowledge << 2)
            | (self.expect_receive << 1)
            | int(self.sequence)
        )

    @classmethod
    def from_byte(cls, value: int) -> LinkControl:
        if value & 0xE0:
            raise LifeScanBinaryError(
                f"reserved link-control bits set: {value:#04x}", raw=bytes([value])
            )
        return cls(
            sequence=bool(value & 1),
            expect_receive=bool(value & 2),
            acknowledge=bool(value & 4),
            disconnect=bool(value & 8),
            more=bool(value & 16),
        )


@dataclass(frozen=True, slots=True)
class Packet:
    link: LinkControl
    message: bytes = b""


def encode_packet(packet: Packet) -> bytes:
    if len(packet.message) > 255 - 6:
        raise ValueError("a LifeScan message holds at most 249 bytes")
    body = (
        bytes([STX, len(packet.message) + 6, packet.link.to_byte()]) + packet.message + bytes([ETX])
    )
    return body + struct.pack("<H", crc_ccitt(body))


def decode_packet(raw: bytes) -> Packet:
    """One whole packet (as the framer returns it) → :class:`Packet`."""
    if len(raw) < MIN_PACKET:
        raise LifeScanBinaryError("packet too short", raw=raw)
    if raw[0] != STX:
        raise LifeScanBinaryError("packet does not start with STX", raw=raw)
    length = raw[1]
    if length < MIN_PACKET or len(raw) != length:
        raise LifeScanBinaryError("packet length does not match", raw=raw)
    if raw[length - 3] != ETX:
        raise LifeScanBinaryError("packet does not end with ETX", raw=raw)
    (wire,) = struct.unpack_from("<H", raw, length - 2)
    calculated = crc_ccitt(raw[: length - 2])
    if wire != calculated:
        raise LifeScanChecksum(wire=wire, calculated=calculated, raw=raw)
    return Packet(LinkControl.from_byte(raw[2]), bytes(raw[3 : length - 3]))


class PacketFramer:
    """Finds packets in a byte stream; skips garbage and bad packets.

    ``feed`` returns whole packets whose CRC matched, and remembers the last
    CRC failure in :attr:`last_error` (a corrupted packet is dropped, the
    framer moves one byte on and looks for the next STX).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.last_error: LifeScanBinaryError | None = None
        self.dropped = 0

    def feed(self, data: bytes) -> list[Packet]:
        self._buf += data
        packets: list[Packet] = []
        while True:
            start = self._buf.find(STX)
            if start < 0:
                self.dropped += len(self._buf)
                self._buf.clear()
                return packets
            if start:
                self.dropped += start
                del self._buf[:start]
            if len(self._buf) < 2:
                return packets
            length = self._buf[1]
            if length < MIN_PACKET:
                self._skip_one()
                continue
            if len(self._buf) < length:
                # Garbage may hold an STX and a long "length": a whole valid
                # packet further on must not wait behind it.
                later = self._later_packet()
                if later is None:
                    return packets
                self.dropped += later
                del self._buf[:later]
                continue
            raw = bytes(self._buf[:length])
            try:
                packet = decode_packet(raw)
            except LifeScanBinaryError as err:
                if isinstance(err, LifeScanChecksum):
                    self.last_error = err
                self._skip_one()
                continue
            del self._buf[:length]
            packets.append(packet)

    def _later_packet(self) -> int | None:
        j = self._buf.find(STX, 1)
        while j >= 0:
            if j + 1 < len(self._buf):
                length = self._buf[j + 1]
                end = j + length
                if length >= MIN_PACKET and end <= len(self._buf):
                    try:
                        decode_packet(bytes(self._buf[j:end]))
                    except LifeScanBinaryError:
                        pass
                    else:
                        return j
            j = self._buf.find(STX, j + 1)
        return None

    def _skip_one(self) -> None:
        del self._buf[:1]
        self.dropped += 1


# --- messages ----------------------------------------------------------------------

SUCCESS = b"\x05\x06"
VERSION_REQUEST = b"\x05\x0d\x02"
SERIAL_REQUEST = b"\x05\x0b\x02" + bytes(9)
UNIT_REQUEST = b"\x05\x09\x02\x09\x00\x00\x00\x00"


def clock_request(value: datetime | None = None) -> bytes:
    """Read the clock (``None``) or set it to the naive local ``value``."""
    if value is None:
        return b"\x05\x20\x02" + struct.pack("<I", 0)
    return b"\x05\x20\x01" + struct.pack("<I", to_meter_seconds(value))


def record_request(index: int) -> bytes:
    if not 0 <= index <= 0xFFFF:
        raise ValueError("record index is 16 bits")
    return b"\x05\x1f" + struct.pack("<H", index)


def to_meter_seconds(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp())


def from_meter_seconds(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def _success(message: bytes) -> bytes:
    if not message.startswith(SUCCESS):
        raise MeterRefused(f"the meter refused the request ({message.hex(' ')})", raw=message)
    return message[2:]


def parse_version(message: bytes) -> str:
    body = _success(message)
    if not body or len(body) != body[0] + 1:
        raise LifeScanBinaryError("bad version string", raw=message)
    return _ascii(body[1:], message)


def parse_serial(message: bytes) -> str:
    return _ascii(_success(message), message).rstrip("\x00")


def parse_unit(message: bytes) -> str:
    body = _success(message)
    if len(body) != 4 or body[0] not in (0, 1):
        raise LifeScanBinaryError("bad unit response", raw=message)
    return "mg/dL" if body[0] == 0 else "mmol/L"


def parse_clock(message: bytes) -> datetime:
    body = _success(message)
    if len(body) != 4:
        raise LifeScanBinaryError("bad clock response", raw=message)
    return from_meter_seconds(struct.unpack("<I", body)[0])


def parse_count(message: bytes) -> int:
    if len(message) != 3 or message[0] != 0x0F:
        if message.startswith(SUCCESS) or len(message) < 3:
            raise LifeScanBinaryError("bad record count response", raw=message)
        raise MeterRefused(f"the meter refused the request ({message.hex(' ')})", raw=message)
    return int(struct.unpack_from("<H", message, 1)[0])


@dataclass(frozen=True, slots=True)
class EasyRecord:
    when: datetime
    mg_dl: int

    @property
    def out_of_range(self) -> str | None:
        if self.mg_dl < RANGE_MG_DL[0]:
            return "LO"
        if self.mg_dl > RANGE_MG_DL[1]:
            return "HI"
        return None


def parse_record(message: bytes) -> EasyRecord:
    body = _success(message)
    if len(body) != 8:
        raise LifeScanBinaryError("bad record response", raw=message)
    seconds, value = struct.unpack("<II", body)
    return EasyRecord(from_meter_seconds(seconds), value)


def _ascii(data: bytes, message: bytes) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as err:
        raise LifeScanBinaryError("not ASCII", raw=message) from err


# --- the meter's side (for the emulator) ----------------------------------------------


def encode_version(version: str) -> bytes:
    raw = version.encode("ascii")
    return SUCCESS + bytes([len(raw)]) + raw


def encode_clock(value: datetime) -> bytes:
    return SUCCESS + struct.pack("<I", to_meter_seconds(value))


def encode_count(count: int) -> bytes:
    return b"\x0f" + struct.pack("<H", count)


def encode_record(record: EasyRecord) -> bytes:
    return SUCCESS + struct.pack("<II", to_meter_seconds(record.when), record.mg_dl)


def encode_unit(unit: str) -> bytes:
    return SUCCESS + bytes([0 if unit == "mg/dL" else 1, 0, 0, 0])
