"""Date Time (0x2A08), Day Date Time and Current Time (0x2A2B) codecs.

Date Time is 7 bytes: year (uint16, 0 = unknown), month (0 = unknown), day
(0 = unknown), hours, minutes, seconds. Current Time adds the day of week
(0 = unknown, 1 = Monday … 7 = Sunday), Fractions256 and the adjust reason
bits (manual update, external reference, time zone change, DST change).
Devices keep local wall-clock time without a zone: :meth:`DateTime.to_datetime`
attaches the station's zone.

Pure: no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, tzinfo

from healthkiosk.errors import ProtocolError


class TimeCodecError(ProtocolError):
    reason = "time_invalid"


DATE_TIME_SIZE = 7
CURRENT_TIME_SIZE = 10


@dataclass(frozen=True, slots=True)
class DateTime:
    year: int
    month: int
    day: int
    hours: int
    minutes: int
    seconds: int

    @property
    def is_known(self) -> bool:
        return self.year != 0 and self.month != 0 and self.day != 0

    def to_datetime(self, tz: tzinfo) -> datetime | None:
        """The wall-clock time in ``tz``; None when the device does not know the date."""
        if not self.is_known:
            return None
        return datetime(
            self.year, self.month, self.day, self.hours, self.minutes, self.seconds, tzinfo=tz
        )

    @classmethod
    def from_datetime(cls, when: datetime) -> DateTime:
        return cls(when.year, when.month, when.day, when.hour, when.minute, when.second)


def decode_date_time(data: bytes) -> DateTime:
    raw = bytes(data)
    if len(raw) != DATE_TIME_SIZE:
        raise TimeCodecError(f"Date Time needs 7 bytes, got {len(raw)}", raw=raw)
    year, month, day, hours, minutes, seconds = struct.unpack("<HBBBBB", raw)
    value = DateTime(year, month, day, hours, minutes, seconds)
    _check(value, raw)
    return value


def _check(value: DateTime, raw: bytes) -> None:
    problems = []
    if value.year != 0 and not 1582 <= value.year <= 9999:
        problems.append(f"year {value.year}")
    if value.month > 12:
        problems.append(f"month {value.month}")
    if value.day > 31:
        problems.append(f"day {value.day}")
    if value.hours > 23:
        problems.append(f"hours {value.hours}")
    if value.minutes > 59:
        problems.append(f"minutes {value.minutes}")
    if value.seconds > 59:
        problems.append(f"seconds {value.seconds}")
    if not problems and value.is_known:
        try:
            datetime(value.year, value.month, value.day)
        except ValueError:
            problems.append(f"no such date {value.year}-{value.month}-{value.day}")
    if problems:
        raise TimeCodecError("invalid Date Time: " + ", ".join(problems), raw=raw)


def encode_date_time(value: DateTime) -> bytes:
    raw = struct.pack(
        "<HBBBBB", value.year, value.month, value.day, value.hours, value.minutes, value.seconds
    )
    _check(value, raw)
    return raw


@dataclass(frozen=True, slots=True)
class AdjustReason:
    manual: bool = False
    external_reference: bool = False
    time_zone_change: bool = False
    dst_change: bool = False

    @classmethod
    def from_bits(cls, bits: int) -> AdjustReason:
        return cls(bool(bits & 1), bool(bits & 2), bool(bits & 4), bool(bits & 8))

    @property
    def bits(self) -> int:
        return (
            int(self.manual)
            | int(self.external_reference) << 1
            | int(self.time_zone_change) << 2
            | int(self.dst_change) << 3
        )


@dataclass(frozen=True, slots=True)
class CurrentTime:
    date_time: DateTime
    day_of_week: int
    """0 unknown, 1 Monday … 7 Sunday."""
    fractions256: int
    adjust_reason: AdjustReason

    @classmethod
    def from_datetime(
        cls, when: datetime, *, adjust_reason: AdjustReason | None = None
    ) -> CurrentTime:
        return cls(
            DateTime.from_datetime(when),
            when.isoweekday(),
            when.microsecond * 256 // 1_000_000,
            adjust_reason or AdjustReason(manual=True),
        )


def decode_current_time(data: bytes) -> CurrentTime:
    raw = bytes(data)
    if len(raw) != CURRENT_TIME_SIZE:
        raise TimeCodecError(f"Current Time needs 10 bytes, got {len(raw)}", raw=raw)
    date_time = decode_date_time_in(raw, raw[:7])
    day_of_week, fractions, reason = raw[7], raw[8], raw[9]
    if day_of_week > 7:
        raise TimeCodecError(f"invalid day of week {day_of_week}", raw=raw)
    if reason & 0xF0:
        raise TimeCodecError(f"reserved adjust reason bits {reason:#04x}", raw=raw)
    return CurrentTime(date_time, day_of_week, fractions, AdjustReason.from_bits(reason))


def decode_date_time_in(whole: bytes, part: bytes) -> DateTime:
    """Decode a Date Time embedded in a larger value; errors carry ``whole``."""
    try:
        return decode_date_time(part)
    except TimeCodecError as err:
        raise TimeCodecError(str(err), raw=whole) from None


def encode_current_time(value: CurrentTime) -> bytes:
    if not 0 <= value.day_of_week <= 7 or not 0 <= value.fractions256 <= 255:
        raise TimeCodecError("invalid Current Time fields")
    return encode_date_time(value.date_time) + bytes(
        [value.day_of_week, value.fractions256, value.adjust_reason.bits]
    )
