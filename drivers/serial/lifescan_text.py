"""LifeScan's text protocol (OneTouch Ultra 2): pure codec, no I/O.

As glucometerutils documents it (``drivers/otultra2.py``, after LifeScan's
own "OneTouch Ultra 2 RS-232 communication protocol"):

* a command is ``DC1 CR <command> CR`` in ASCII (``DM?`` software version,
  ``DM@`` serial number, ``DMF`` read the clock, ``DMT<mm/dd/yy HH:MM:SS>`` set
  it, ``DMSU?`` display unit, ``DMP`` dump the memory);
* every response line is ``<body> <CCCC>\\r\\n`` where ``CCCC`` is the sum of
  the body's bytes modulo 65536 in four upper-case hex digits;
* a date and time is ``"SAT","08/03/13","22:12:00   "`` (weekday, mm/dd/yy,
  time and three spaces; the firmware is not Y2K safe: 20yy);
* the dump is a header ``P nnn,"<serial>","MG/DL "`` (or ``"MMOL/L"``) and
  ``nnn`` record lines
  ``P "SAT","08/03/13","22:12:00   ","C 123?","N","00", 00``: ``C`` marks a
  control-solution test, ``?`` a parity error, the value is always mg/dL
  (the meter's storage unit, whatever it displays), then the meal code
  (N/B/A) and a comment code (00-11).

Records are sent newest first (our reading of LifeScan's document; the
emulator does the same). Values below :data:`RANGE_MG_DL` ``[0]`` read ``LO``
and above ``[1]`` read ``HI`` on the meter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from healthkiosk.errors import InvalidChecksum, ProtocolError

RANGE_MG_DL = (20, 600)
"""The meter's measuring range (OneTouch Ultra 2 owner's booklet)."""

MAX_LINE = 256
"""A longer run of bytes without a line end is garbage and is dropped."""

MEAL_CODES = {"N": "none", "B": "before_meal", "A": "after_meal"}
COMMENT_CODES = {
    "00": "",
    "01": "not enough food",
    "02": "too much food",
    "03": "mild exercise",
    "04": "hard exercise",
    "05": "medication",
    "06": "stress",
    "07": "illness",
    "08": "feel hypo",
    "09": "menses",
    "10": "vacation",
    "11": "other",
}
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


class UltraTextError(ProtocolError):
    """A line of the OneTouch Ultra 2 text protocol that does not parse."""


class UltraTextChecksum(UltraTextError, InvalidChecksum):
    """A line whose 16-bit sum does not match the one it carries."""


def checksum(data: bytes) -> int:
    """LifeScan's line checksum: the bytes' sum modulo 65536."""
    return sum(data) & 0xFFFF


def encode_command(command: str) -> bytes:
    """The bytes the host sends for ``command`` (for example ``"DMP"``)."""
    return b"\x11\r" + command.encode("ascii") + b"\r"


def decode_command(frame: bytes) -> str:
    """The command inside a host frame (the emulator's side)."""
    text = frame.strip(b"\x11\r\n")
    try:
        return text.decode("ascii")
    except UnicodeDecodeError as err:
        raise UltraTextError("command is not ASCII", raw=frame) from err


class CommandFramer:
    """Splits the host's byte stream into commands (the emulator's side)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[str]:
        self._buf += data
        commands: list[str] = []
        while True:
            start = self._buf.find(b"\x11\r")
            if start < 0:
                del self._buf[: max(0, len(self._buf) - 1)]
                return commands
            end = self._buf.find(b"\r", start + 2)
            if end < 0:
                del self._buf[:start]
                if len(self._buf) > MAX_LINE:
                    del self._buf[:2]
                return commands
            frame = bytes(self._buf[start : end + 1])
            del self._buf[: end + 1]
            try:
                commands.append(decode_command(frame))
            except UltraTextError:
                continue


class LineFramer:
    """Splits the meter's byte stream into lines (without ``\\r\\n``).

    Bytes before a line end that exceed :data:`MAX_LINE` are dropped, so the
    framer resynchronises at the next line end after any garbage.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        lines: list[bytes] = []
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > MAX_LINE:
                    self._buf.clear()
                    self._overflow = True
                return lines
            line = bytes(self._buf[:end])
            del self._buf[: end + 1]
            if self._overflow:  # the tail of an over-long run: not a line
                self._overflow = False
                continue
            lines.append(line)


_LINE_RE = re.compile(rb"^(.+) ([0-9A-F]{4})\r$", re.DOTALL)


def parse_line(line: bytes) -> str:
    """Check a response line's checksum and return its body as text."""
    match = _LINE_RE.match(line)
    if match is None:
        raise UltraTextError("line without a checksum", raw=line)
    body, wire_hex = match.groups()
    wire = int(wire_hex, 16)
    calculated = checksum(body)
    if wire != calculated:
        raise UltraTextChecksum(wire=wire, calculated=calculated, raw=line)
    try:
        return body.decode("ascii")
    except UnicodeDecodeError as err:
        raise UltraTextError("line is not ASCII", raw=line) from err


def encode_line(body: str) -> bytes:
    raw = body.encode("ascii")
    return raw + b" %04X\r\n" % checksum(raw)


# --- values ----------------------------------------------------------------------

_DATETIME_RE = re.compile(
    r'^"(?P<wd>[A-Z]{3})","(?P<mo>\d{2})/(?P<d>\d{2})/(?P<y>\d{2})",'
    r'"(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})   "$'
)


def parse_datetime(text: str) -> datetime:
    """A meter date and time (naive: the meter's own local clock)."""
    match = _DATETIME_RE.match(text)
    if match is None:
        raise UltraTextError(f"not a meter date: {text!r}", raw=text.encode())
    g = match.groupdict()
    try:
        return datetime(
            2000 + int(g["y"]), int(g["mo"]), int(g["d"]), int(g["h"]), int(g["mi"]), int(g["s"])
        )
    except ValueError as err:
        raise UltraTextError(f"not a valid date: {text!r}", raw=text.encode()) from err


def format_datetime(value: datetime) -> str:
    return f'"{_WEEKDAYS[value.weekday()]}","{value:%m/%d/%y}","{value:%H:%M:%S}   "'


def format_set_clock(value: datetime) -> str:
    """The ``DMT`` command that sets the meter's clock."""
    return "DMT" + value.strftime("%m/%d/%y %H:%M:%S")


def parse_set_clock(command: str) -> datetime:
    try:
        return datetime.strptime(command[3:], "%m/%d/%y %H:%M:%S")
    except ValueError as err:
        raise UltraTextError("bad DMT command", raw=command.encode()) from err


def parse_clock_response(body: str, *, prefix: str) -> datetime:
    """``F "SAT",...`` (``DMF``) or ``T "SAT",...`` (``DMT``)."""
    if not body.startswith(prefix + " "):
        raise UltraTextError(f"expected a {prefix!r} response", raw=body.encode())
    return parse_datetime(body[len(prefix) + 1 :])


def parse_version(body: str) -> str:
    if not body.startswith("?") or len(body) < 2:
        raise UltraTextError("expected a version response", raw=body.encode())
    return body[1:]


_SERIAL_RE = re.compile(r'^@ "([A-Z0-9]{9})"$')


def parse_serial(body: str) -> str:
    """The serial number; an Ultra 2's ends in ``Y`` (LifeScan's document)."""
    match = _SERIAL_RE.match(body)
    if match is None:
        raise UltraTextError("expected a serial number response", raw=body.encode())
    serial = match.group(1)
    if not serial.endswith("Y"):
        raise UltraTextError(f"{serial} is not a OneTouch Ultra 2 serial", raw=body.encode())
    return serial


_UNIT_RE = re.compile(r'^SU\?,"(MG/DL |MMOL/L)"$')


def parse_unit(body: str) -> str:
    """``"mg/dL"`` or ``"mmol/L"``: the unit the meter displays."""
    match = _UNIT_RE.match(body)
    if match is None:
        raise UltraTextError("expected a unit response", raw=body.encode())
    return "mg/dL" if match.group(1) == "MG/DL " else "mmol/L"


def format_unit(unit: str) -> str:
    return 'SU?,"MG/DL "' if unit == "mg/dL" else 'SU?,"MMOL/L"'


@dataclass(frozen=True, slots=True)
class DumpHeader:
    count: int
    serial: str
    unit: str


_HEADER_RE = re.compile(r'^P (\d{3}),"([0-9A-Z]{9})","(MG/DL |MMOL/L)"$')


def parse_dump_header(body: str) -> DumpHeader:
    match = _HEADER_RE.match(body)
    if match is None:
        raise UltraTextError("expected a dump header", raw=body.encode())
    count, serial, unit = match.groups()
    return DumpHeader(int(count), serial, "mg/dL" if unit == "MG/DL " else "mmol/L")


def format_dump_header(header: DumpHeader) -> str:
    unit = "MG/DL " if header.unit == "mg/dL" else "MMOL/L"
    return f'P {header.count:03d},"{header.serial}","{unit}"'


@dataclass(frozen=True, slots=True)
class Ultra2Record:
    """One stored test, as the meter keeps it (value always in mg/dL)."""

    when: datetime
    mg_dl: int
    control: bool = False
    parity_error: bool = False
    meal: str = "N"
    comment: str = "00"

    @property
    def out_of_range(self) -> str | None:
        if self.mg_dl < RANGE_MG_DL[0]:
            return "LO"
        if self.mg_dl > RANGE_MG_DL[1]:
            return "HI"
        return None


_RECORD_RE = re.compile(
    r'^P (?P<dt>"[A-Z]{3}","[0-9/]{8}","[0-9:]{8}   "),'
    r'"(?P<control>[C ]) (?P<value>\d{3})(?P<parity>[? ])",'
    r'"(?P<meal>[NBA])","(?P<comment>0\d|1[01])", 00$'
)


def parse_record(body: str) -> Ultra2Record:
    match = _RECORD_RE.match(body)
    if match is None:
        raise UltraTextError("expected a record line", raw=body.encode())
    g = match.groupdict()
    return Ultra2Record(
        when=parse_datetime(g["dt"]),
        mg_dl=int(g["value"]),
        control=g["control"] == "C",
        parity_error=g["parity"] == "?",
        meal=g["meal"],
        comment=g["comment"],
    )


def format_record(record: Ultra2Record) -> str:
    if not 0 <= record.mg_dl <= 999:
        raise ValueError("an Ultra 2 record holds 0-999 mg/dL")
    control = "C" if record.control else " "
    parity = "?" if record.parity_error else " "
    return (
        f"P {format_datetime(record.when)},"
        f'"{control} {record.mg_dl:03d}{parity}",'
        f'"{record.meal}","{record.comment}", 00'
    )
