"""Blood pressure monitors and glucose meters that print lines in a configured format.

Contract:

* Features: one measurement per printed line (a blood pressure monitor or a
  glucose meter), live cuff pressure when the format has a ``cuff_pattern``,
  the device's own error codes mapped per format (``error_codes``), the
  device's measuring range per field (``ranges``: outside → no reading), a
  memory dump when the format has a ``dump_command`` (glucose), incremental
  by the format's ``sequence`` field or by time. The clock cannot be set
  (line formats have no command for it): a live measurement whose device
  time is off by more than ``clock_tolerance_s`` gets ``device_time=None`` so
  the kiosk stamps it with its own clock.
* Connection: whatever the monitor's manual says (``baudrate`` in the
  format, overridable in ``options``); ``/dev/ttyUSB0`` or a
  ``/dev/serial/by-id`` link.
* Configuration: ``options.format`` is the name of a shipped format
  (``drivers/serial/formats/<name>.toml``), a path to a TOML file, or an
  inline table. See :mod:`drivers.serial.lineformat`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import Field

from drivers.memory import StepWindow
from drivers.recorded import blood_pressure_json, glucose_json
from drivers.serial import lineformat as lf
from drivers.serial.common import ClockOptions, aware, ensure_open, local_now, named, on_link_error
from drivers.serial.opener import port_opener
from drivers.serial.transport import SerialLink
from healthkiosk.errors import (
    ConfigError,
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    DownloadInterrupted,
    MeasurementError,
    MeasurementProblem,
)
from healthkiosk.readings import (
    AnyMeasurement,
    BloodPressureMeasurement,
    CuffPressure,
    DeviceInfo,
    DeviceMemoryRecord,
    GlucoseMeasurement,
    GlucoseUnit,
    MemoryReason,
    PressureUnit,
    Transport,
    kpa_to_mmhg,
    mg_per_dl_to_mmol_per_l,
    round_tenth,
)
from healthkiosk.rules import RulesConfig

log = logging.getLogger(__name__)

UNSOLICITED_SLICE_S = 0.05
"""At a step's start, buffered input is read until this long passes without a byte..."""
UNSOLICITED_LIMIT_S = 2.0
"""...or this long in all (a chattering device), then the rest is flushed."""


class LineOptions(ClockOptions):
    format: str | dict[str, Any] = "bp-csv-sum8"
    baudrate: int | None = Field(default=None, gt=0)  # type: ignore[assignment]
    dump_timeout_s: float = Field(default=120.0, gt=0)


def _mmhg(fmt: lf.LineFormat, value: float) -> int:
    return kpa_to_mmhg(value) if fmt.unit == "kPa" else int(value + 0.5)


def _check_range(record: lf.LineRecord, fmt: lf.LineFormat, info: DeviceInfo) -> None:
    field = lf.LineCodec(fmt).out_of_range_field(record)
    if field is not None:
        raise MeasurementError(
            f"{field} outside the device's measuring range",
            problem=MeasurementProblem.OUT_OF_RANGE, device=info.label, code=field,
        )  # fmt: skip


def line_blood_pressure(
    record: lf.LineRecord, fmt: lf.LineFormat, info: DeviceInfo, device_time: datetime | None
) -> BloodPressureMeasurement:
    """A decoded line → the kiosk's blood pressure, or MeasurementError. Pure:
    the driver's own conversion (``devices reading line:FORMAT`` runs it too)."""
    _check_range(record, fmt, info)
    if record.systolic is None or record.diastolic is None:
        raise MeasurementError(
            "no pressure in the line", problem=MeasurementProblem.NO_VALUE, device=info.label
        )
    return BloodPressureMeasurement(
        systolic_mmhg=_mmhg(fmt, record.systolic),
        diastolic_mmhg=_mmhg(fmt, record.diastolic),
        pulse_bpm=None if record.pulse is None else int(record.pulse + 0.5),
        mean_arterial_mmhg=(
            None if record.mean_arterial is None else _mmhg(fmt, record.mean_arterial)
        ),
        device=info,
        device_time=device_time,
        original_unit=PressureUnit(fmt.unit),
    )


def line_glucose(
    record: lf.LineRecord, fmt: lf.LineFormat, info: DeviceInfo, device_time: datetime | None
) -> GlucoseMeasurement:
    """A decoded line → the kiosk's glucose, or MeasurementError. Pure (as above)."""
    unit = GlucoseUnit(fmt.unit)
    if record.out_of_range is not None:
        # Not a number: the value carried is the meter's limit (its range in
        # the format, else 0), and ``out_of_range`` says LO or HI.
        limits = fmt.field_ranges.get("glucose", lf.FieldRange())
        limit = limits.min if record.out_of_range == "LO" else limits.max
        value = 0.0 if limit is None else limit
        mmol = mg_per_dl_to_mmol_per_l(value) if unit is GlucoseUnit.MG_PER_DL else value
        return GlucoseMeasurement(
            mmol_per_l=mmol, original_value=value, original_unit=unit, device=info,
            device_time=device_time, sequence_number=record.sequence,
            out_of_range=record.out_of_range,
        )  # fmt: skip
    _check_range(record, fmt, info)
    if record.glucose is None:
        raise MeasurementError(
            "no glucose value in the line", problem=MeasurementProblem.NO_VALUE, device=info.label
        )
    value = record.glucose
    mmol = mg_per_dl_to_mmol_per_l(value) if unit is GlucoseUnit.MG_PER_DL else round_tenth(value)
    return GlucoseMeasurement(
        mmol_per_l=mmol, original_value=value, original_unit=unit, device=info,
        device_time=device_time, sequence_number=record.sequence,
    )  # fmt: skip


class LineDevice:
    """Shared by :class:`LineBloodPressureMonitor` and :class:`LineGlucoseMeter`."""

    kind = "blood_pressure"

    def __init__(self, *, port: str, options: LineOptions, fmt: lf.LineFormat) -> None:
        if fmt.kind != self.kind:
            raise ConfigError(f"format {fmt.name!r} is for {fmt.kind}", key="options.format")
        self.options = options
        self.fmt = fmt
        self.codec = lf.LineCodec(fmt)
        self.zone = options.zone()
        model = fmt.model or f"line format {fmt.name}"
        self.link = SerialLink(
            port, baudrate=options.baudrate or fmt.baudrate, device=f"{model} at {port}",
            reconnect_max_s=options.reconnect_max_s,
        )  # fmt: skip
        self._info = DeviceInfo(
            model=model, transport=Transport.SERIAL, manufacturer=fmt.manufacturer,
            firmware=f"format {fmt.name}", address=port,
        )  # fmt: skip
        self._framer = lf.LineFramer(fmt.terminator_bytes)
        self._pending: list[bytes] = []
        self.skipped_lines = 0
        self.window = StepWindow(self._info.label)

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def take_memory(self) -> list[DeviceMemoryRecord]:
        return self.window.take()

    async def begin_step(self) -> None:
        """A visit's step begins: what the device printed while nobody waited is
        device memory (lines that decode) or flushed (the rest)."""
        self.window.begin()
        await ensure_open(self.link)
        lines: list[bytes] = []
        try:
            deadline = time.monotonic() + UNSOLICITED_LIMIT_S
            while time.monotonic() < deadline:
                try:
                    chunk = await self.link.read_some(timeout_s=UNSOLICITED_SLICE_S)
                except DeviceTimeoutError:
                    break
                lines.extend(self._framer.feed(chunk))
            await self.link.discard_input()
        except DeviceConnectionError as err:
            await on_link_error(self.link, err)
            raise
        finally:
            lines = [*self._pending, *lines]
            self._pending.clear()
            self._framer = lf.LineFramer(self.fmt.terminator_bytes)
        for line in lines:
            try:
                event = self.codec.decode(line)
            except lf.LineFormatError:
                continue
            if not isinstance(event, lf.LineRecord):
                continue
            try:
                reading = self._stored_reading(event)
            except MeasurementError as err:
                log.info("%s: unsolicited line not kept: %s", self._info.label, err)
                continue
            self.window.keep(reading, MemoryReason.WHILE_NOBODY_WAITED)

    def _stored_reading(self, record: lf.LineRecord) -> AnyMeasurement:
        raise NotImplementedError

    async def open(self) -> None:
        await self.link.open()

    async def close(self) -> None:
        await self.link.close()

    async def _event(self, deadline: float) -> lf.LineEvent:
        """The next line that decodes; lines that match nothing are noise."""
        while True:
            while self._pending:
                line = self._pending.pop(0)
                try:
                    return self.codec.decode(line)
                except lf.LineChecksumError as err:
                    raise named(err, self._info.label) from None
                except lf.LineFormatError:
                    self.skipped_lines += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeoutError("no complete line in time", device=self._info.label)
            try:
                chunk = await self.link.read_some(timeout_s=min(1.0, remaining))
            except DeviceTimeoutError:
                continue
            self._pending.extend(self._framer.feed(chunk))

    def _device_time(self, record: lf.LineRecord, *, live: bool) -> datetime | None:
        if record.when is None:
            return None
        if live:
            skew = (record.when - local_now(self.zone)).total_seconds()
            if abs(skew) > self.options.clock_tolerance_s:
                log.warning("%s: device clock %+.0f s off; time not used", self._info.label, skew)
                return None
        return aware(record.when, self.zone)

    def _raise_device_error(self, event: lf.LineDeviceError) -> None:
        raise MeasurementError(
            f"the device reported {event.code}", problem=event.problem,
            device=self._info.label, code=event.code,
        )  # fmt: skip

    async def _next_record(
        self, timeout_s: float, on_cuff: Callable[[CuffPressure], None] | None = None
    ) -> lf.LineRecord:
        if not self.window.open:
            await self.begin_step()
        await ensure_open(self.link)
        if self.fmt.measure_command:
            await self.link.write(self.fmt.measure_command.encode(self.fmt.encoding))
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                event = await self._event(deadline)
                if isinstance(event, lf.LineRecord):
                    return event
                if isinstance(event, lf.LineDeviceError):
                    self._raise_device_error(event)
                if isinstance(event, lf.CuffLine) and on_cuff is not None:
                    on_cuff(CuffPressure(mmhg=_mmhg(self.fmt, event.pressure)))
        except DeviceConnectionError as err:
            self._framer = lf.LineFramer(self.fmt.terminator_bytes)
            self._pending.clear()
            await on_link_error(self.link, err)
            raise


class LineBloodPressureMonitor(LineDevice):
    """A :class:`drivers.base.BloodPressureMonitor` over a configured line format."""

    kind = "blood_pressure"

    async def measure(
        self,
        *,
        on_cuff_pressure: Callable[[CuffPressure], None] | None = None,
        timeout_s: float = 180.0,
    ) -> BloodPressureMeasurement:
        record = await self._next_record(timeout_s, on_cuff_pressure)
        return self._bp(record, live=True)

    def _stored_reading(self, record: lf.LineRecord) -> AnyMeasurement:
        return self._bp(record, live=False)

    def _bp(self, record: lf.LineRecord, *, live: bool) -> BloodPressureMeasurement:
        return line_blood_pressure(
            record, self.fmt, self._info, self._device_time(record, live=live)
        )


class LineGlucoseMeter(LineDevice):
    """A :class:`drivers.base.GlucoseMeter` over a configured line format."""

    kind = "glucose"

    def _glucose(self, record: lf.LineRecord, *, live: bool) -> GlucoseMeasurement:
        return line_glucose(record, self.fmt, self._info, self._device_time(record, live=live))

    async def measure(self, *, timeout_s: float = 180.0) -> GlucoseMeasurement:
        return self._glucose(await self._next_record(timeout_s), live=True)

    def _stored_reading(self, record: lf.LineRecord) -> AnyMeasurement:
        return self._glucose(record, live=False)

    async def download(
        self,
        *,
        after_sequence: int | None = None,
        after_time: datetime | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[GlucoseMeasurement]:
        """The memory dump (the format's ``dump_command``), oldest first."""
        if not self.fmt.dump_command:
            raise DeviceError(
                f"format {self.fmt.name!r} has no dump_command", device=self._info.label,
                reason="not_supported",
            )  # fmt: skip
        await ensure_open(self.link)
        received: list[GlucoseMeasurement] = []
        try:
            await self.link.discard_input()
            self._pending.clear()
            await self.link.write(self.fmt.dump_command.encode(self.fmt.encoding))
            deadline = time.monotonic() + self.options.dump_timeout_s
            while True:
                event = await self._event(deadline)
                if isinstance(event, lf.DumpEnd):
                    break
                if not isinstance(event, lf.LineRecord):
                    continue
                try:
                    reading = self._glucose(event, live=False)
                except MeasurementError as err:
                    log.warning("%s: stored record skipped: %s", self._info.label, err)
                    continue
                received.append(reading)
                if on_progress is not None:  # the total is not known before the end
                    on_progress(len(received), len(received))
        except DeviceConnectionError as err:
            await on_link_error(self.link, err)
            kept = sorted(received, key=_order)
            raise DownloadInterrupted(
                f"link lost after {len(received)} records", records=kept,
                device=self._info.label,
            ) from err  # fmt: skip
        chosen = [
            r for r in sorted(received, key=_order)
            if (after_sequence is None or (r.sequence_number or 0) > after_sequence)
            and (after_time is None or r.device_time is None or r.device_time > after_time)
        ]  # fmt: skip
        return chosen


def _order(reading: GlucoseMeasurement) -> tuple[int, float]:
    seq = reading.sequence_number if reading.sequence_number is not None else -1
    when = reading.device_time.timestamp() if reading.device_time else 0.0
    return (seq, when)


GLUCOSE_FORMAT = "glucose-seq-crc16"
"""``serial-line-glucose``'s format when ``options.format`` names none."""


async def load_options(
    options: Mapping[str, Any] | None, *, default_format: str | None = None
) -> tuple[LineOptions, lf.LineFormat]:
    """The options and their line format (read from a file: off the loop)."""
    merged = dict(options or {})
    if default_format is not None:
        merged.setdefault("format", default_format)
    opts = LineOptions.parse(merged)
    return opts, await asyncio.to_thread(lf.load_format, opts.format)


async def _make_bp(port: str, options: Mapping[str, Any] | None) -> LineBloodPressureMonitor:
    opts, fmt = await load_options(options)
    return LineBloodPressureMonitor(port=port, options=opts, fmt=fmt)


async def _make_glucose(port: str, options: Mapping[str, Any] | None) -> LineGlucoseMeter:
    opts, fmt = await load_options(options, default_format=GLUCOSE_FORMAT)
    return LineGlucoseMeter(port=port, options=opts, fmt=fmt)


open_blood_pressure = port_opener(_make_bp)
"""Opener of ``serial-line-bp`` (``options.format``: default ``bp-csv-sum8``)."""
open_glucose = port_opener(_make_glucose)
"""Opener of ``serial-line-glucose`` (default format :data:`GLUCOSE_FORMAT`)."""


_M = TypeVar("_M", BloodPressureMeasurement, GlucoseMeasurement)
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|[\\rnt])")


def _unescape(text: str) -> str:
    """``\\x02``, ``\\r``, ``\\n``, ``\\t`` and ``\\\\`` as a shell passes them."""

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        simple = {"\\": "\\", "r": "\r", "n": "\n", "t": "\t"}
        return simple[code] if code in simple else chr(int(code[1:], 16))

    return _ESCAPE.sub(one, text)


def line_to_reading_json(
    format_name: str, text: str, *, rules: RulesConfig, tz: ZoneInfo
) -> dict[str, Any]:
    """``devices reading line:FORMAT TEXT``: what the kiosk would record from a
    line the device printed (escapes such as ``\\x02`` allowed; the terminator
    may be left off), through the driver's own conversion. A line that is not
    a measurement (or does not decode) raises :class:`LineFormatError`."""
    fmt = lf.load_format(format_name)
    raw = _unescape(text).encode(fmt.encoding, errors="replace")
    terminator = fmt.terminator_bytes
    if raw.endswith(terminator):
        raw = raw[: -len(terminator)]
    decoded = lf.LineCodec(fmt).decode(raw)
    if not isinstance(decoded, lf.LineRecord | lf.LineDeviceError):
        raise lf.LineFormatError(f"not a measurement line ({type(decoded).__name__})", raw=raw)
    event: lf.LineRecord | lf.LineDeviceError = decoded
    info = DeviceInfo(model=fmt.model or f"line format {fmt.name}", transport=Transport.SERIAL)

    def measurement(convert: Callable[..., _M]) -> Callable[[], _M]:
        def make() -> _M:
            if isinstance(event, lf.LineDeviceError):
                raise MeasurementError(
                    f"the device reported {event.code}", problem=event.problem, device=info.label
                )
            when = None if event.when is None else aware(event.when, tz)
            return convert(event, fmt, info, when)

        return make

    if fmt.kind == "glucose":
        return glucose_json(measurement(line_glucose), rules)
    return blood_pressure_json(measurement(line_blood_pressure), rules)
