"""Omron memory records: bytes ↔ :class:`OmronRecord`, per record format.

Big-endian 14-byte records (HEM-7322T, HEM-7600T; HEM-6232T and HEM-7530T
with the variants below), byte by byte:

====  =====  ==================================================================
byte  bits   field
====  =====  ==================================================================
0     7–0    diastolic, mmHg
1     7–0    systolic − 25
2     7–0    year − 2000 (6-bit models: bits 5–0)
3     7–0    pulse, beats per minute
4     7      movement (HEM-6232T: irregular heartbeat)
4     6      irregular heartbeat (HEM-6232T: movement)
4     5–2    month
4     1–0    day, its two high bits
5     7–5    day, its three low bits
5     4–0    hour
6     7–4    not decoded (kept as ``other_bits``)
6     3–0    minute, its four high bits
7     7–6    minute, its two low bits
7     5–0    second
8–13  —      not decoded (kept as ``tail``)
====  =====  ==================================================================

Little-endian 16-byte records (HEM-7361T, HEM-7155T, HEM-7150T, HEM-7342T):
byte 0 systolic − 25, byte 1 diastolic, byte 2 pulse, byte 3 bits 5–0 year −
2000; bytes 4–5 a little-endian word: bits 4–0 hour, 9–5 day, 13–10 month,
14 irregular heartbeat, 15 movement; bytes 6–7 a little-endian word: bits 5–0
second, 11–6 minute, 15–12 not decoded (``other_bits``); bytes 8–15 not
decoded (``tail``). hass-omron reads the ``other_bits`` as cuff fit, battery
and position; no source we could check confirms it, so they are only kept.

An all-0xFF record is an empty slot (:func:`decode_record` returns None).
Seconds are stored in 6 bits and real devices have been seen storing 60–63;
:attr:`OmronRecord.when` clamps them to 59, as omblepy does. Sources and
worked examples: docs/protocols/omron.md.

Pure: no I/O. A record that cannot be a measurement (no such date, hour 24…)
raises :class:`OmronRecordError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drivers.ble.omron.layouts import ModelLayout, RecordFormat
from healthkiosk.errors import ProtocolError


class OmronRecordError(ProtocolError):
    reason = "omron_record_invalid"


SYSTOLIC_OFFSET = 25
YEAR_BASE = 2000


@dataclass(frozen=True, slots=True)
class OmronRecord:
    systolic: int
    diastolic: int
    pulse: int
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    """As stored: 0–63 (see :attr:`when`)."""
    irregular_heartbeat: bool = False
    movement: bool = False
    tail: bytes = b""
    """The bytes after the decoded ones, as stored (their meaning is not documented)."""
    other_bits: int = 0
    """The 4 undecoded bits beside the minute, as stored (0–15)."""

    @property
    def when(self) -> datetime:
        """The device's wall-clock time of the measurement (naive), seconds
        60–63 clamped to 59."""
        return datetime(
            self.year, self.month, self.day, self.hour, self.minute, min(self.second, 59)
        )


def _check(record: OmronRecord, raw: bytes, year_bits: int) -> None:
    problems = []
    if not YEAR_BASE <= record.year < YEAR_BASE + (1 << year_bits):
        problems.append(f"year {record.year}")
    if not 1 <= record.month <= 12:
        problems.append(f"month {record.month}")
    if not 1 <= record.day <= 31:
        problems.append(f"day {record.day}")
    if record.hour > 23:
        problems.append(f"hour {record.hour}")
    if record.minute > 59:
        problems.append(f"minute {record.minute}")
    if not 0 <= record.second <= 63:
        problems.append(f"second {record.second}")
    if not problems:
        try:
            record.when  # noqa: B018 (the check is the constructor's)
        except ValueError:
            problems.append(f"no such date {record.year}-{record.month}-{record.day}")
    if problems:
        raise OmronRecordError("impossible record: " + ", ".join(problems), raw=raw)


def decode_record(data: bytes, layout: ModelLayout) -> OmronRecord | None:
    """One record slot; None for an empty slot."""
    raw = bytes(data)
    if len(raw) != layout.record_size:
        raise OmronRecordError(
            f"{layout.model} records have {layout.record_size} bytes, got {len(raw)}", raw=raw
        )
    if raw == b"\xff" * len(raw):
        return None
    if layout.record is RecordFormat.LITTLE_ENDIAN_16:
        record = _decode_le16(raw)
    else:
        record = _decode_be14(raw, layout)
    _check(record, raw, layout.year_bits)
    return record


def _decode_be14(raw: bytes, layout: ModelLayout) -> OmronRecord:
    year_mask = (1 << layout.year_bits) - 1
    first_flag, second_flag = bool(raw[4] & 0x80), bool(raw[4] & 0x40)
    if layout.record is RecordFormat.BIG_ENDIAN_14_WRIST:
        irregular, movement = first_flag, second_flag
    else:
        movement, irregular = first_flag, second_flag
    return OmronRecord(
        systolic=raw[1] + SYSTOLIC_OFFSET,
        diastolic=raw[0],
        pulse=raw[3],
        year=YEAR_BASE + (raw[2] & year_mask),
        month=(raw[4] >> 2) & 0x0F,
        day=((raw[4] & 0x03) << 3) | (raw[5] >> 5),
        hour=raw[5] & 0x1F,
        minute=((raw[6] & 0x0F) << 2) | (raw[7] >> 6),
        second=raw[7] & 0x3F,
        irregular_heartbeat=irregular,
        movement=movement,
        tail=raw[8:],
        other_bits=raw[6] >> 4,
    )


def _decode_le16(raw: bytes) -> OmronRecord:
    date = int.from_bytes(raw[4:6], "little")
    clock = int.from_bytes(raw[6:8], "little")
    return OmronRecord(
        systolic=raw[0] + SYSTOLIC_OFFSET,
        diastolic=raw[1],
        pulse=raw[2],
        year=YEAR_BASE + (raw[3] & 0x3F),
        month=(date >> 10) & 0x0F,
        day=(date >> 5) & 0x1F,
        hour=date & 0x1F,
        minute=(clock >> 6) & 0x3F,
        second=clock & 0x3F,
        irregular_heartbeat=bool(date & 0x4000),
        movement=bool(date & 0x8000),
        tail=raw[8:],
        other_bits=clock >> 12,
    )


def encode_record(record: OmronRecord, layout: ModelLayout) -> bytes:
    """The bytes a device of ``layout`` stores for ``record`` (the emulated
    twins' memory; the undecoded bits are 0, the tail as given or zeros)."""
    tail_size = layout.record_size - 8
    tail = record.tail if record.tail else bytes(tail_size)
    if len(tail) != tail_size:
        raise OmronRecordError(f"{layout.model} records carry {tail_size} tail bytes")
    if not SYSTOLIC_OFFSET <= record.systolic <= 0xFF + SYSTOLIC_OFFSET:
        raise OmronRecordError(f"systolic {record.systolic} does not fit a record")
    if not 0 <= record.diastolic <= 0xFF or not 0 <= record.pulse <= 0xFF:
        raise OmronRecordError("diastolic or pulse does not fit a record")
    if not 0 <= record.other_bits <= 0x0F:
        raise OmronRecordError(f"other bits {record.other_bits} do not fit 4 bits")
    _check(record, b"", layout.year_bits)
    year = record.year - YEAR_BASE
    if layout.record is RecordFormat.LITTLE_ENDIAN_16:
        date = (
            record.hour
            | record.day << 5
            | record.month << 10
            | int(record.irregular_heartbeat) << 14
            | int(record.movement) << 15
        )
        clock = record.second | record.minute << 6 | record.other_bits << 12
        head = bytes([record.systolic - SYSTOLIC_OFFSET, record.diastolic, record.pulse, year])
        raw = head + date.to_bytes(2, "little") + clock.to_bytes(2, "little") + tail
    else:
        first, second = record.movement, record.irregular_heartbeat
        if layout.record is RecordFormat.BIG_ENDIAN_14_WRIST:
            first, second = second, first
        raw = (
            bytes(
                [
                    record.diastolic,
                    record.systolic - SYSTOLIC_OFFSET,
                    year,
                    record.pulse,
                    int(first) << 7 | int(second) << 6 | record.month << 2 | record.day >> 3,
                    (record.day & 0x07) << 5 | record.hour,
                    record.other_bits << 4 | record.minute >> 2,
                    (record.minute & 0x03) << 6 | record.second,
                ]
            )
            + tail
        )
    if raw == b"\xff" * len(raw):
        raise OmronRecordError("this record would read as an empty slot")
    return raw
