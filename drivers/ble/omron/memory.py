"""The settings sections an Omron driver reads and writes, and where in the
ring of records the new ones are.

**Unread section** (at the settings' start; 8 bytes in the 0x0260 family, 16
in the 0x0010 family of which bytes 8–15 are carried through unchanged): four
16-bit words in the device's byte order. Word 0 and 1: each user's *write
slot* W, the number of the slot after the newest record (the newest record is
at slot W − 1, counted around the ring). Word 2 and 3: each user's *unread
count* U, 0x8000 once reset ("nothing new"). Only the low byte of each word
counts; the high bytes are kept as they were.

**New records**: the U slots before W, oldest first: W − U … W − 1, modulo the
user's capacity. When they wrap past the end of the user's area, that is two
reads (the area's tail, then its head). Reading them and then writing the
section back, with that user's unread word set to 0x8000, to the settings'
*write* address is what keeps a record from being read twice across sessions;
the other user's words are written back as read.

**Time section** (the device clock): 10 bytes in the 0x0260 family (bytes 0–1
kept; 2 month, 3 year − 2000, 4 hour, 5 day, 6 second, 7 minute, 8 left as
it was, 9 = sum of bytes 0–7 mod 256) or 16 bytes in the 0x0010 family (bytes
0–7 kept; 8 year − 2000, 9 month, 10 day, 11 hour, 12 minute, 13 second,
14 = sum of bytes 0–13 mod 256, 15 = 0).

Sources and worked examples: docs/protocols/omron.md. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from drivers.ble.omron.layouts import ModelLayout, TimeFormat
from healthkiosk.errors import InvalidChecksum, ProtocolError

NOTHING_UNREAD = 0x8000


class OmronMemoryError(ProtocolError):
    reason = "omron_memory_invalid"


# --- the unread section -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnreadSection:
    words: tuple[int, int, int, int]
    """Write slot of user 1 and 2, unread count of user 1 and 2, as stored."""
    rest: bytes = b""
    """Bytes after the four words (the 0x0010 family), carried through."""

    def write_slot(self, user: int) -> int:
        return self.words[user - 1] & 0xFF

    def unread(self, user: int) -> int:
        return self.words[user + 1] & 0xFF

    def marked_read(self, user: int) -> UnreadSection:
        """The same section with ``user``'s unread count reset, and only his."""
        words = list(self.words)
        words[user + 1] = NOTHING_UNREAD
        return replace(self, words=(words[0], words[1], words[2], words[3]))

    def with_new_record(self, user: int, capacity: int) -> UnreadSection:
        """After the device stored one more record for ``user`` (the twins use it)."""
        words = list(self.words)
        slot = self.write_slot(user)
        words[user - 1] = (words[user - 1] & 0xFF00) | (slot % capacity + 1)
        unread = min(self.unread(user) + 1, capacity)
        words[user + 1] = unread
        return replace(self, words=(words[0], words[1], words[2], words[3]))


def _order(layout: ModelLayout) -> Literal["little", "big"]:
    return "little" if layout.little_endian else "big"


def decode_unread(data: bytes, layout: ModelLayout) -> UnreadSection:
    raw = bytes(data)
    if layout.unread_size is None:
        raise OmronMemoryError(f"{layout.model} has no documented unread section")
    if len(raw) != layout.unread_size:
        raise OmronMemoryError(
            f"{layout.model}'s unread section has {layout.unread_size} bytes, got {len(raw)}",
            raw=raw,
        )
    order = _order(layout)
    w = [int.from_bytes(raw[i : i + 2], order) for i in range(0, 8, 2)]
    return UnreadSection((w[0], w[1], w[2], w[3]), raw[8:])


def encode_unread(section: UnreadSection, layout: ModelLayout) -> bytes:
    order = _order(layout)
    raw = b"".join(w.to_bytes(2, order) for w in section.words) + section.rest
    if len(raw) != layout.unread_size:
        raise OmronMemoryError(f"{layout.model}'s unread section has {layout.unread_size} bytes")
    return raw


# --- where the new records are --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive record slots read with one or more read commands."""

    first_slot: int
    count: int
    address: int
    size: int


def new_slots(*, write_slot: int, unread: int, capacity: int) -> list[int]:
    """The slots of the ``unread`` records before ``write_slot``, oldest first."""
    if not 0 <= write_slot <= capacity or not 0 <= unread <= capacity:
        raise OmronMemoryError(
            f"pointers out of range: write slot {write_slot}, unread {unread}, capacity {capacity}"
        )
    return [(write_slot - unread + i) % capacity for i in range(unread)]


def newest_slot(*, write_slot: int, capacity: int) -> int:
    if not 0 <= write_slot <= capacity:
        raise OmronMemoryError(f"write slot {write_slot} out of range (capacity {capacity})")
    return (write_slot - 1) % capacity


def runs(slots: list[int], *, start: int, record_size: int) -> list[Run]:
    """``slots`` grouped into runs of consecutive slots, in the given order."""
    out: list[Run] = []
    for slot in slots:
        if out and out[-1].first_slot + out[-1].count == slot:
            last = out[-1]
            out[-1] = replace(last, count=last.count + 1, size=last.size + record_size)
        else:
            out.append(Run(slot, 1, start + slot * record_size, record_size))
    return out


def read_commands(run: Run, *, record_size: int, block: int) -> list[tuple[int, int]]:
    """(address, length) of the read commands for ``run``: whole records, at
    most ``block`` bytes each (one record when a record is larger)."""
    per = max(1, block // record_size)
    out = []
    for i in range(0, run.count, per):
        n = min(per, run.count - i)
        out.append((run.address + i * record_size, n * record_size))
    return out


# --- the time section ------------------------------------------------------------------


class OmronClockError(OmronMemoryError):
    reason = "omron_clock_invalid"


@dataclass(frozen=True, slots=True)
class TimeSection:
    when: datetime
    """The device clock (naive wall-clock time)."""
    kept: bytes
    """The bytes before the clock fields, written back unchanged."""
    spare: int = 0
    """0x0260 family: byte 8 (not in the checksum; written back as read)."""


def decode_time(data: bytes, layout: ModelLayout) -> TimeSection:
    raw = bytes(data)
    if layout.time is None:
        raise OmronClockError(f"{layout.model}'s clock section is not documented")
    if len(raw) != layout.time_size:
        raise OmronClockError(
            f"{layout.model}'s clock section has {layout.time_size} bytes, got {len(raw)}",
            raw=raw,
        )
    if layout.time is TimeFormat.SHORT_10:
        summed, wire = raw[:8], raw[9]
        month, year, hour, day, second, minute = raw[2:8]
        kept, spare = raw[:2], raw[8]
    else:
        summed, wire = raw[:14], raw[14]
        year, month, day, hour, minute, second = raw[8:14]
        kept, spare = raw[:8], 0
    calculated = sum(summed) & 0xFF
    if wire != calculated:
        raise InvalidChecksum(wire=wire, calculated=calculated, raw=raw)
    try:
        when = datetime(2000 + year, month, day, hour, minute, second)
    except ValueError:
        raise OmronClockError(
            f"the device clock reads no real time (20{year:02d}-{month}-{day} "
            f"{hour}:{minute}:{second})",
            raw=raw,
        ) from None
    return TimeSection(when, kept, spare)


def encode_time(section: TimeSection, layout: ModelLayout) -> bytes:
    when = section.when
    if not 2000 <= when.year <= 2255:
        raise OmronClockError(f"year {when.year} does not fit the clock section")
    y = when.year - 2000
    if layout.time is TimeFormat.SHORT_10:
        if len(section.kept) != 2:
            raise OmronClockError("the 10-byte clock section keeps 2 bytes")
        body = section.kept + bytes([when.month, y, when.hour, when.day, when.second, when.minute])
        return body + bytes([section.spare, sum(body) & 0xFF])
    if layout.time is TimeFormat.LONG_16:
        if len(section.kept) != 8:
            raise OmronClockError("the 16-byte clock section keeps 8 bytes")
        body = section.kept + bytes([y, when.month, when.day, when.hour, when.minute, when.second])
        return body + bytes([sum(body) & 0xFF, 0])
    raise OmronClockError(f"{layout.model}'s clock section is not documented")
