"""Line formats described in configuration: pure codec, no I/O.

Most station monitors print one line per measurement on their serial port,
in formats their vendors do not publish. A :class:`LineFormat` describes
such a line so a station's monitor is added without code (worked examples in
``drivers/serial/formats/*.toml``)::

    name = "bp-csv-sum8"
    kind = "blood_pressure"          # or "glucose"
    unit = "mmHg"                    # kPa; glucose: mmol/L or mg/dL
    encoding = "ascii"
    terminator = "\\r\\n"
    pattern = '^(?P<systolic>\\d{3}),(?P<diastolic>\\d{3}),(?P<pulse>\\d{3})'
              '\\*(?P<checksum>[0-9A-F]{2})$'    # (one line in the file)
    # or: delimiter = ","  and  fields = ["systolic", "diastolic", "pulse", "checksum"]
    template = "{systolic:03d},{diastolic:03d},{pulse:03d}*{checksum}"   # for the emulator
    error_pattern = '^ERR (?P<code>E\\d)$'
    [checksum]
    kind = "sum8"                    # none, sum8, xor8, crc16-ccitt (written in hex)
    skip_leading = 0                 # bytes at the start of the line not covered
    exclude_trailing = 1             # bytes just before the checksum not covered ("*")
    [fields.systolic]
    min = 0
    max = 299                        # the device's measuring range, from its manual
    [error_codes]
    E1 = "cuff_fit"

The checksum covers the line from ``skip_leading`` up to the start of the
``checksum`` field, less ``exclude_trailing`` bytes. Field names a format can
use: ``systolic``, ``diastolic``, ``pulse``, ``mean_arterial`` (blood
pressure); ``glucose`` (whose text may also be an ``out_of_range`` word such
as ``LO``/``HI``); ``sequence``; ``datetime`` (with ``datetime_format``);
``checksum``. Anything else a pattern captures is ignored.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from healthkiosk.errors import (
    ConfigError,
    InvalidChecksum,
    MeasurementProblem,
    ProtocolError,
)

FORMATS_DIR = Path(__file__).with_name("formats")
MAX_LINE = 512

KNOWN_FIELDS = frozenset(
    {
        "systolic",
        "diastolic",
        "pulse",
        "mean_arterial",
        "glucose",
        "sequence",
        "datetime",
        "checksum",
    }
)


class LineFormatError(ProtocolError):
    """A line that does not follow its configured format."""


class LineChecksumError(LineFormatError, InvalidChecksum):
    """A line whose checksum (as configured) does not match."""


class ChecksumKind(StrEnum):
    NONE = "none"
    SUM8 = "sum8"
    XOR8 = "xor8"
    CRC16_CCITT = "crc16-ccitt"


def compute_checksum(kind: ChecksumKind, data: bytes) -> int:
    if kind is ChecksumKind.SUM8:
        return sum(data) & 0xFF
    if kind is ChecksumKind.XOR8:
        value = 0
        for byte in data:
            value ^= byte
        return value
    if kind is ChecksumKind.CRC16_CCITT:
        crc = 0xFFFF
        for byte in data:
            crc ^= byte << 8
            for _ in range(8):
                crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
                crc &= 0xFFFF
        return crc
    return 0


def checksum_hex(kind: ChecksumKind, value: int) -> str:
    return f"{value:04X}" if kind is ChecksumKind.CRC16_CCITT else f"{value:02X}"


class ChecksumRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ChecksumKind = ChecksumKind.NONE
    skip_leading: int = Field(default=0, ge=0)
    exclude_trailing: int = Field(default=0, ge=0)


class FieldRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None
    scale: float = 1.0
    """Multiply the number on the line by this (e.g. 0.1 for tenths)."""


class LineFormat(BaseModel):
    """One monitor's line format (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    source: str = ""
    """Where the format comes from (a manual, a capture)."""
    kind: Literal["blood_pressure", "glucose"]
    unit: Literal["mmHg", "kPa", "mmol/L", "mg/dL"]
    encoding: str = "ascii"
    terminator: str = "\r\n"
    pattern: str | None = None
    delimiter: str | None = None
    fields: list[str] = Field(default_factory=list)
    template: str | None = None
    datetime_format: str = "%Y%m%d%H%M"
    error_pattern: str | None = None
    error_codes: dict[str, MeasurementProblem] = Field(default_factory=dict)
    cuff_pattern: str | None = None
    """A live cuff-pressure line, with a ``pressure`` group (in ``unit``)."""
    out_of_range_words: dict[str, Literal["LO", "HI"]] = Field(default_factory=dict)
    checksum: ChecksumRule = Field(default_factory=ChecksumRule)
    field_ranges: dict[str, FieldRange] = Field(default_factory=dict, alias="ranges")
    model: str = ""
    manufacturer: str = ""
    baudrate: int = 9600
    measure_command: str | None = None
    dump_command: str | None = None
    dump_end_pattern: str | None = None

    @model_validator(mode="after")
    def _check(self) -> LineFormat:
        if (self.pattern is None) == (self.delimiter is None):
            raise ValueError("give either pattern or delimiter (with fields)")
        if self.delimiter is not None and not self.fields:
            raise ValueError("a delimited format needs its fields")
        if not self.terminator:
            raise ValueError("terminator must not be empty")
        try:
            compiled = self.record_regex()
            for extra in (self.error_pattern, self.cuff_pattern, self.dump_end_pattern):
                if extra is not None:
                    re.compile(extra)
        except re.error as err:
            raise ValueError(f"bad regular expression: {err}") from None
        names = set(compiled.groupindex)
        needed = {"systolic", "diastolic"} if self.kind == "blood_pressure" else {"glucose"}
        if not needed <= names:
            raise ValueError(f"the record must have the fields {sorted(needed)}")
        if (self.checksum.kind is ChecksumKind.NONE) == ("checksum" in names):
            raise ValueError("a checksum rule needs a checksum field, and the reverse")
        if self.kind == "blood_pressure" and self.unit not in ("mmHg", "kPa"):
            raise ValueError("a blood pressure unit is mmHg or kPa")
        if self.kind == "glucose" and self.unit not in ("mmol/L", "mg/dL"):
            raise ValueError("a glucose unit is mmol/L or mg/dL")
        try:
            "".encode(self.encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {self.encoding!r}") from None
        return self

    def record_regex(self) -> re.Pattern[str]:
        if self.pattern is not None:
            return re.compile(self.pattern)
        if self.delimiter is None:
            raise ValueError("give either pattern or delimiter (with fields)")
        sep = re.escape(self.delimiter)
        body = sep.join(f"(?P<{f}>[^{sep}]*)" for f in self.fields)
        return re.compile(f"^{body}$")

    @property
    def terminator_bytes(self) -> bytes:
        return self.terminator.encode(self.encoding)

    def render_template(self) -> str:
        if self.template is not None:
            return self.template
        if self.delimiter is not None:
            return self.delimiter.join("{" + f + "}" for f in self.fields)
        raise ConfigError("this format has no template (needed to emulate it)", key="template")


def load_format(source: str | Path | dict[str, Any]) -> LineFormat:
    """A format from a table, a TOML file, or the name of a shipped example."""
    if isinstance(source, dict):
        data, where = source, "options.format"
    else:
        path = Path(source)
        if not path.suffix:
            path = FORMATS_DIR / f"{source}.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            known = ", ".join(sorted(p.stem for p in FORMATS_DIR.glob("*.toml")))
            raise ConfigError(
                f"no line format {source!r} (shipped: {known})", key="options.format"
            ) from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path} is not valid TOML: {err}", key="options.format") from None
        where = str(path)
    try:
        return LineFormat.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{first['msg']} ({where})", key=f"format.{loc}" if loc else "format"
        ) from None


def shipped_formats() -> list[str]:
    return sorted(p.stem for p in FORMATS_DIR.glob("*.toml"))


# --- decoded lines --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineRecord:
    """One measurement line, values in the format's unit (scaled)."""

    systolic: float | None = None
    diastolic: float | None = None
    pulse: float | None = None
    mean_arterial: float | None = None
    glucose: float | None = None
    out_of_range: str | None = None
    sequence: int | None = None
    when: datetime | None = None


@dataclass(frozen=True, slots=True)
class LineDeviceError:
    """The device printed an error instead of a measurement."""

    code: str
    problem: MeasurementProblem


@dataclass(frozen=True, slots=True)
class CuffLine:
    pressure: float


@dataclass(frozen=True, slots=True)
class DumpEnd:
    pass


LineEvent = LineRecord | LineDeviceError | CuffLine | DumpEnd


class LineCodec:
    """Decodes (and, for the emulator, encodes) one format's lines."""

    def __init__(self, fmt: LineFormat) -> None:
        self.fmt = fmt
        self._record = fmt.record_regex()
        self._error = re.compile(fmt.error_pattern) if fmt.error_pattern else None
        self._cuff = re.compile(fmt.cuff_pattern) if fmt.cuff_pattern else None
        self._end = re.compile(fmt.dump_end_pattern) if fmt.dump_end_pattern else None

    def decode(self, line: bytes) -> LineEvent:
        """One line without its terminator → a typed event, or :class:`LineFormatError`."""
        try:
            text = line.decode(self.fmt.encoding)
        except (UnicodeDecodeError, LookupError) as err:
            raise LineFormatError("line is not in the format's encoding", raw=line) from err
        match = self._record.match(text)
        if match is None:
            return self._other(text, line)
        groups = {k: v for k, v in match.groupdict().items() if v is not None}
        if "checksum" in groups:
            self._verify(line, text, match.start("checksum"), groups["checksum"])
        return self._record_from(groups, line)

    def _other(self, text: str, line: bytes) -> LineEvent:
        for regex, make in (
            (self._error, self._error_from),
            (self._cuff, self._cuff_from),
            (self._end, lambda m, raw: DumpEnd()),
        ):
            if regex is not None and (m := regex.match(text)) is not None:
                return make(m, line)
        raise LineFormatError("line does not match the format", raw=line)

    def _error_from(self, match: re.Match[str], line: bytes) -> LineDeviceError:
        code = match.groupdict().get("code") or match.group(0)
        return LineDeviceError(
            code, self.fmt.error_codes.get(code, MeasurementProblem.DEVICE_ERROR)
        )

    def _cuff_from(self, match: re.Match[str], line: bytes) -> CuffLine:
        return CuffLine(self._number("pressure", match.group("pressure"), line))

    def _verify(self, line: bytes, text: str, checksum_at: int, wire_text: str) -> None:
        rule = self.fmt.checksum
        prefix = text[:checksum_at].encode(self.fmt.encoding)
        covered = prefix[rule.skip_leading : len(prefix) - rule.exclude_trailing]
        calculated = compute_checksum(rule.kind, covered)
        try:
            wire = int(wire_text, 16)
        except ValueError:
            raise LineFormatError("checksum is not hexadecimal", raw=line) from None
        if wire != calculated:
            raise LineChecksumError(wire=wire, calculated=calculated, raw=line)

    def _number(self, name: str, text: str, line: bytes) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise LineFormatError(f"{name} is not a number", raw=line) from None
        if not math.isfinite(value):
            raise LineFormatError(f"{name} is not a number", raw=line)
        return value * self.fmt.field_ranges.get(name, FieldRange()).scale

    def _record_from(self, groups: dict[str, str], line: bytes) -> LineRecord:
        values: dict[str, Any] = {}
        for name in ("systolic", "diastolic", "pulse", "mean_arterial"):
            if groups.get(name, "").strip():
                values[name] = self._number(name, groups[name], line)
        if "glucose" in groups:
            word = groups["glucose"].strip()
            if word in self.fmt.out_of_range_words:
                values["out_of_range"] = self.fmt.out_of_range_words[word]
            else:
                values["glucose"] = self._number("glucose", word, line)
        if groups.get("sequence", "").strip():
            try:
                values["sequence"] = int(groups["sequence"])
            except ValueError:
                raise LineFormatError("sequence is not a whole number", raw=line) from None
        if groups.get("datetime", "").strip():
            try:
                values["when"] = datetime.strptime(groups["datetime"], self.fmt.datetime_format)
            except ValueError:
                raise LineFormatError("datetime does not match datetime_format", raw=line) from None
        return LineRecord(**values)

    def out_of_range_field(self, record: LineRecord) -> str | None:
        """The first value outside the device's configured measuring range."""
        for name, limits in self.fmt.field_ranges.items():
            value = getattr(record, name, None)
            if not isinstance(value, float):
                continue
            if (limits.min is not None and value < limits.min) or (
                limits.max is not None and value > limits.max
            ):
                return name
        return None

    # --- the device's side ------------------------------------------------------------

    def encode(self, values: dict[str, Any]) -> bytes:
        """A whole line (with terminator) from ``values`` and the template."""
        template = self.fmt.render_template()
        rule = self.fmt.checksum
        if "{checksum}" in template:
            head, tail = template.split("{checksum}", 1)
            prefix = head.format(**values).encode(self.fmt.encoding)
            covered = prefix[rule.skip_leading : len(prefix) - rule.exclude_trailing]
            mark = checksum_hex(rule.kind, compute_checksum(rule.kind, covered))
            body = (
                prefix
                + mark.encode(self.fmt.encoding)
                + tail.format(**values).encode(self.fmt.encoding)
            )
        else:
            body = template.format(**values).encode(self.fmt.encoding)
        return body + self.fmt.terminator_bytes


class LineFramer:
    """Splits a byte stream at the format's terminator; over-long runs are dropped."""

    def __init__(self, terminator: bytes, *, max_line: int = MAX_LINE) -> None:
        self.terminator = terminator
        self.max_line = max_line
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        lines: list[bytes] = []
        while True:
            end = self._buf.find(self.terminator)
            if end < 0:
                if len(self._buf) > self.max_line:
                    keep = len(self.terminator) - 1
                    del self._buf[: len(self._buf) - keep]
                    self._overflow = True
                return lines
            line = bytes(self._buf[:end])
            del self._buf[: end + len(self.terminator)]
            if self._overflow:
                self._overflow = False
                continue
            lines.append(line)
