"""Standard Bluetooth SIG Glucose Service meter (0x1808) with the Record
Access Control Point (0x2A52).

Contract:
- scan for 0x1808 (the configured address, else the first), connect with the
  scanned ``BLEDevice``, read Device Information, read Battery Level into
  ``battery_percent`` when there is a Battery Service (optional: None without
  one or when the read fails; its notifications keep it current while the
  link stays up), read the device clock's drift (``clock_drift_s``) and set
  Current Time when it is writable and the station's clock is trusted
  (``clock_trusted``), subscribe to Glucose
  Measurement (0x2A18) and Measurement Context (0x2A34) notifications and
  RACP indications; the link stays up between calls and is made again when
  lost;
- ``download(after_sequence=n)`` asks for the number of records ≥ n+1 (for
  the progress bar), then for the records ≥ n+1 — a meter's memory is read
  incrementally, never twice; ``after_sequence=None`` reads everything;
- measurement and context are paired by sequence number; a measurement whose
  promised context never came is kept without a meal;
- a link lost mid-download raises :class:`DownloadInterrupted` carrying the
  complete records that arrived; the next download from the last of them
  resumes (a measurement that lost its context with the link counts as not
  arrived and is read again);
- every RACP response code is handled: success, no records found (an empty
  result), the error codes → :class:`RacpFailed` with the code;
- record status: strip/sample errors, sensor faults, special values, control
  solution → no reading (``measure`` raises MeasurementError, ``download``
  skips and counts them in ``skipped``); "result higher/lower than the device
  can process" → a reading marked ``out_of_range="HI"/"LO"``;
- visit-bound (:mod:`drivers.memory`): ``begin_step()`` asks the meter for its
  last record (RACP "last record") and takes its sequence number as the
  step's baseline; records made since the last one this station saw (someone
  measured on the meter between visits) are read then and kept as device
  memory. ``measure()`` waits for a record after the baseline (polling the RACP
  at ``poll_interval_s``); of several, the newest is the reading and the others
  device memory; one whose time stamp, by a clock whose drift is known and a
  station clock that is synchronised, is before the step began is device
  memory too. ``measure()`` without a step begun takes the baseline itself;
- ``pair()`` bonds the meter with this station (:mod:`drivers.ble.pairing`).
Sequence numbers are uint16; a meter that wraps past 65535 is not handled.
Verified against the emulated meter (``emulation/ble/glucose.py``),
not on hardware.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from drivers.ble import racp, uuids
from drivers.ble.glucose_codec import (
    ConcentrationUnit,
    GlucoseCodecError,
    GlucoseContext,
    GlucoseRecord,
    decode_context,
    decode_measurement,
    meal_context,
)
from drivers.ble.ieee11073 import Special
from drivers.ble.link import BleBackend, BleLink, find_device, naming
from drivers.ble.options import BleOptions
from drivers.ble.pairing import PAIRING_WINDOW_S, Step, pair_device
from drivers.ble.racp import OpCode, RacpRequest, RacpResponse, ResponseCode
from drivers.ble.standard import opener
from drivers.memory import StepWindow
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    DownloadInterrupted,
    MeasurementError,
    MeasurementProblem,
)
from healthkiosk.readings import (
    DeviceInfo,
    DeviceMemoryRecord,
    GlucoseMeasurement,
    GlucoseUnit,
    MemoryReason,
)

log = logging.getLogger(__name__)

DEVICE_LIMIT_MMOL_PER_L = 100.0
"""No meter reports above this: a larger value is a device fault, not blood
glucose. (Clinical plausibility is healthkiosk.rules'.)"""
CONTROL_SOLUTION_TYPE, CONTROL_SOLUTION_LOCATION = 10, 4
MAX_SEQUENCE = 0xFFFF
DEFAULT_SCAN_TIMEOUT_S = 30.0

Pair = tuple[GlucoseRecord, GlucoseContext | None]
UNKNOWN_TOTAL = -1
"""The meter cannot count records: the progress total grows with what arrives."""
_COUNT_UNSUPPORTED = (
    ResponseCode.OP_CODE_NOT_SUPPORTED,
    ResponseCode.OPERATOR_NOT_SUPPORTED,
    ResponseCode.OPERAND_NOT_SUPPORTED,
)


class RacpFailed(DeviceError):
    """The meter answered a RACP request with an error response code."""

    reason = "racp_failed"

    def __init__(self, *, request: OpCode, code: ResponseCode, device: str = "") -> None:
        super().__init__(
            f"meter answered {request.name.lower()} with {code.name.lower()}",
            device=device,
            reason=f"racp_{code.name.lower()}",
        )
        self.request = request
        self.code = code


class _LinkLostDuringReport(Exception):
    def __init__(self, complete: dict[int, Pair], pending: dict[int, GlucoseRecord]) -> None:
        self.complete = complete
        self.pending = pending


def shown_out_of_range(record: GlucoseRecord) -> Literal["LO", "HI"] | None:
    """``"HI"``/``"LO"`` when the meter shows that instead of a number, in
    every encoding the Glucose Service allows (docs/clinical.md, "Meter HI
    and LO, device memory, irregular pulse"):
    the Sensor Status Annunciation's "result higher/lower than the device can
    process" whatever concentration comes with it (a limit, 0, ±INF or none),
    or a concentration of +INF / -INF (IEEE 11073-20601 SFLOAT) without it."""
    status = record.sensor_status
    if status is not None and status.result_too_high:
        return "HI"
    if status is not None and status.result_too_low:
        return "LO"
    special = None if record.concentration is None else record.concentration.special
    if special is Special.PLUS_INF:
        return "HI"
    if special is Special.MINUS_INF:
        return "LO"
    return None


def record_to_reading(
    record: GlucoseRecord, context: GlucoseContext | None, *, device: DeviceInfo, opts: BleOptions
) -> GlucoseMeasurement:
    label = device.label
    status = record.sensor_status
    if record.sample_type == CONTROL_SOLUTION_TYPE or (
        record.sample_location == CONTROL_SOLUTION_LOCATION
    ):
        raise MeasurementError(
            "control solution test, not a resident's blood",
            problem=MeasurementProblem.STRIP_ERROR,
            device=label,
            code="control_solution",
        )
    if status is not None:
        for flag, problem, code in (
            (status.sensor_malfunction, MeasurementProblem.DEVICE_ERROR, "sensor_malfunction"),
            (status.general_device_fault, MeasurementProblem.DEVICE_ERROR, "device_fault"),
            (status.temperature_too_high, MeasurementProblem.DEVICE_ERROR, "temperature_high"),
            (status.temperature_too_low, MeasurementProblem.DEVICE_ERROR, "temperature_low"),
            (status.sample_size_insufficient, MeasurementProblem.STRIP_ERROR, "sample_size"),
            (status.strip_insertion_error, MeasurementProblem.STRIP_ERROR, "strip_insertion"),
            (status.strip_type_incorrect, MeasurementProblem.STRIP_ERROR, "strip_type"),
            (status.read_interrupted, MeasurementProblem.STRIP_ERROR, "read_interrupted"),
        ):
            if flag:
                raise MeasurementError(
                    f"meter reports {code.replace('_', ' ')}",
                    problem=problem,
                    device=label,
                    code=code,
                )
    out_of_range = shown_out_of_range(record)
    mmol = record.mmol_per_l
    original = None if record.concentration is None else record.concentration.decimal
    if out_of_range is not None and (mmol is None or original is None or mmol <= 0):
        # The meter shows LO/HI: whatever came with the flag (0, +INF, -INF or
        # no concentration at all) is not a number; a limit that came is kept.
        mmol, original = 0.0, Decimal(0)
    elif record.concentration is None or record.unit is None:
        raise MeasurementError(
            "record without a concentration", problem=MeasurementProblem.NO_VALUE, device=label
        )
    if mmol is None or original is None:
        special = "" if record.concentration is None else str(record.concentration.special)
        raise MeasurementError(
            f"meter sent no value ({special})",
            problem=MeasurementProblem.NO_VALUE,
            device=label,
            code=special,
        )
    if out_of_range is None and not 0 < mmol <= DEVICE_LIMIT_MMOL_PER_L:
        raise MeasurementError(
            f"{mmol} mmol/L is outside what a meter can measure",
            problem=MeasurementProblem.OUT_OF_RANGE,
            device=label,
        )
    when: datetime | None = None
    if not (status is not None and status.time_fault):
        when = record.base_time.to_datetime(opts.tz)
        if when is not None and record.time_offset_minutes:
            when += timedelta(minutes=record.time_offset_minutes)
    unit = (
        GlucoseUnit.KG_PER_L if record.unit is ConcentrationUnit.KG_PER_L else GlucoseUnit.MOL_PER_L
    )
    return GlucoseMeasurement(
        mmol_per_l=mmol,
        original_value=float(original),
        original_unit=unit,
        device=device,
        device_time=when,
        sequence_number=record.sequence_number,
        meal=meal_context(context.meal) if context else None,
        out_of_range=out_of_range,
    )


class StandardGlucoseMeter:
    """A :class:`drivers.base.GlucoseMeter` over the standard Glucose Service."""

    MODEL = "Glucose Service meter"

    def __init__(self, *, address: str | None, backend: BleBackend, options: BleOptions) -> None:
        self.address = address
        self.backend = backend
        self.options = options
        self.record_timeout_s = float(options.extra.get("record_timeout_s", 10.0))
        self.poll_interval_s = float(options.extra.get("poll_interval_s", 2.0))
        self._info = DeviceInfo(
            model=self.MODEL, transport=backend.transport, address=address or ""
        )
        self._link: BleLink | None = None
        self._events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self.last_sequence: int | None = None
        """The newest sequence number fully received in this session."""
        self.skipped: list[tuple[int, MeasurementError]] = []
        """Records of the last download that gave no reading, with why."""
        self.clock_set_at: datetime | None = None
        self.battery_percent: int | None = None
        """Battery Level at the last connection (and since, by notification)."""
        self.clock_drift_s: float | None = None
        """Device clock − station clock at the last connection (None: no readable clock)."""
        self._drift_now: float | None = None
        """The drift of records made from now on (0 once this station set the clock)."""
        self.window = StepWindow(self.MODEL)
        self._baseline: int | None = None
        """The step's baseline: the meter's newest sequence number when it began."""

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def take_memory(self) -> list[DeviceMemoryRecord]:
        return self.window.take()

    async def begin_step(self) -> None:
        """The visit's measurement step begins: the meter's newest record is the
        baseline; records made since the last one seen are device memory."""
        self.window.begin()
        self._baseline = None
        async with self._lock:
            link = await self._ensure()
            await self._take_baseline(link)

    async def _take_baseline(self, link: BleLink) -> None:
        last = await self._report(link, racp.report_last(), total=1, on_progress=None)
        newest = last[-1][0].sequence_number if last else 0
        seen = self.last_sequence
        if seen is not None and seen < newest:
            between = await self._report(
                link, racp.report_from(seen + 1), total=0, on_progress=None
            )
            self._keep(
                [p for p in between if p[0].sequence_number <= newest], MemoryReason.BEFORE_STEP
            )
        self._baseline = newest
        self.last_sequence = max(newest, seen or 0)

    def _keep(self, pairs: list[Pair], reason: MemoryReason) -> None:
        for record, context in pairs:
            try:
                reading = record_to_reading(record, context, device=self._info, opts=self.options)
            except MeasurementError as err:
                seq = record.sequence_number
                log.info("%s: record %d not kept: %s", self._info.label, seq, err)
                continue
            self.window.keep(reading, reason)

    async def _ensure(self) -> BleLink:
        link = self._link
        if link is not None and not link.lost.is_set():
            return link
        if link is not None:
            await link.close()
        device = await find_device(
            service_uuid=uuids.GLUCOSE_SERVICE,
            address=self.address,
            backend=self.backend,
            timeout_s=self.options.scan_timeout_s or DEFAULT_SCAN_TIMEOUT_S,
            label=self.MODEL,
        )
        link = BleLink(device, backend=self.backend, label=self.MODEL)
        self._link = link
        await link.connect(timeout_s=self.options.connect_timeout_s)
        self._info = await link.read_device_info(model_fallback=self.MODEL)
        self.battery_percent = await link.read_battery_level(on_change=self._battery_changed)
        drift = await link.read_clock_drift(self.options.tz)
        self.clock_drift_s = None if drift is None else drift.drift_s
        self._drift_now = self.clock_drift_s
        if self.options.may_set_clock():
            now = datetime.now(self.options.tz)
            if await link.set_current_time(now):
                self.clock_set_at = now
                self._drift_now = 0.0
        events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._events = events
        await link.subscribe(uuids.GLUCOSE_MEASUREMENT, lambda raw: events.put_nowait(("m", raw)))
        if link.has(uuids.GLUCOSE_MEASUREMENT_CONTEXT):
            await link.subscribe(
                uuids.GLUCOSE_MEASUREMENT_CONTEXT, lambda raw: events.put_nowait(("c", raw))
            )
        await link.subscribe(
            uuids.RECORD_ACCESS_CONTROL_POINT, lambda raw: events.put_nowait(("r", raw))
        )
        return link

    def _battery_changed(self, percent: int) -> None:
        self.battery_percent = percent

    def _drain(self) -> None:
        while not self._events.empty():
            self._events.get_nowait()

    async def _next_event(self, link: BleLink, what: str) -> tuple[str, bytes]:
        return await link.wait(what, self._events.get(), timeout_s=self.record_timeout_s)

    async def _response(self, link: BleLink, request: RacpRequest) -> RacpResponse:
        """Write a request and wait for its RACP response (ignoring records)."""
        self._drain()
        await link.write(uuids.RECORD_ACCESS_CONTROL_POINT, racp.encode(request))
        while True:
            kind, raw = await self._next_event(link, "a RACP response")
            if kind != "r":
                continue
            response = self._decode_racp(raw)
            if response.op_code is OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE or (
                response.request_op_code is request.op_code
            ):
                return response

    def _decode_racp(self, raw: bytes) -> RacpResponse:
        try:
            value = racp.decode(raw)
        except racp.RacpError as err:
            raise naming(err, self._info.label) from None
        if not isinstance(value, RacpResponse):
            raise racp.RacpError(
                "meter sent a request on the RACP", raw=raw, device=self._info.label
            )
        return value

    def _check(self, request: OpCode, response: RacpResponse) -> bool:
        """True on success, False on no records found, else RacpFailed."""
        code = response.response_code
        if code is ResponseCode.SUCCESS:
            return True
        if code is ResponseCode.NO_RECORDS_FOUND:
            return False
        if code is None:
            raise racp.RacpError("RACP response without a code", device=self._info.label)
        raise RacpFailed(request=request, code=code, device=self._info.label)

    async def count(self, *, after_sequence: int | None = None) -> int:
        async with self._lock:
            link = await self._ensure()
            return await self._count(link, after_sequence)

    async def _count(self, link: BleLink, after_sequence: int | None) -> int:
        request = (
            racp.count_all() if after_sequence is None else racp.count_from(after_sequence + 1)
        )
        response = await self._response(link, request)
        if response.number_of_records is None:
            self._check(request.op_code, response)
            return 0
        return response.number_of_records

    async def _report(
        self,
        link: BleLink,
        request: RacpRequest,
        *,
        total: int,
        on_progress: Callable[[int, int], None] | None,
    ) -> list[Pair]:
        self._drain()
        await link.write(uuids.RECORD_ACCESS_CONTROL_POINT, racp.encode(request))
        try:
            return await self._collect(link, request, total=total, on_progress=on_progress)
        except asyncio.CancelledError:
            # The kiosk gave up (the elder walked away): stop the meter sending.
            await asyncio.shield(self._abort_quietly(link))
            raise

    async def _collect(
        self,
        link: BleLink,
        request: RacpRequest,
        *,
        total: int,
        on_progress: Callable[[int, int], None] | None,
    ) -> list[Pair]:
        lowest = (
            request.operand[0] if request.operator is racp.Operator.GREATER_THAN_OR_EQUAL else 0
        )
        pending: dict[int, GlucoseRecord] = {}
        complete: dict[int, Pair] = {}
        received = 0
        while True:
            try:
                kind, raw = await self._next_event(link, "glucose records")
            except DeviceConnectionError:
                raise _LinkLostDuringReport(complete, pending) from None
            if kind == "m":
                try:
                    record = decode_measurement(raw)
                except GlucoseCodecError as err:
                    await self._abort_quietly(link)
                    raise naming(err, self._info.label) from None
                if record.sequence_number < lowest:
                    continue  # late from an aborted procedure
                received += 1
                if record.context_follows:
                    pending[record.sequence_number] = record
                else:
                    complete[record.sequence_number] = (record, None)
                if on_progress is not None:
                    on_progress(received, max(total, received))
            elif kind == "c":
                try:
                    context = decode_context(raw)
                except GlucoseCodecError as err:
                    await self._abort_quietly(link)
                    raise naming(err, self._info.label) from None
                found = pending.pop(context.sequence_number, None)
                if found is None:
                    log.warning(
                        "%s: context for unknown record %d",
                        self._info.label,
                        context.sequence_number,
                    )
                else:
                    complete[context.sequence_number] = (found, context)
            else:
                response = self._decode_racp(raw)
                if response.request_op_code is not request.op_code:
                    continue
                if not self._check(request.op_code, response):
                    return []
                for seq, record in pending.items():
                    log.warning(
                        "%s: record %d promised a context that never came", self._info.label, seq
                    )
                    complete[seq] = (record, None)
                return [complete[s] for s in sorted(complete)]

    async def _abort_quietly(self, link: BleLink) -> None:
        if link.lost.is_set():
            return
        try:
            await link.write(uuids.RECORD_ACCESS_CONTROL_POINT, racp.encode(racp.abort()))
        except DeviceError as err:
            log.info("%s: abort: %s", self._info.label, err)

    def _readings(self, pairs: list[Pair]) -> list[GlucoseMeasurement]:
        readings = []
        for record, context in pairs:
            try:
                readings.append(
                    record_to_reading(record, context, device=self._info, opts=self.options)
                )
            except MeasurementError as err:
                log.info("%s: record %d skipped: %s", self._info.label, record.sequence_number, err)
                self.skipped.append((record.sequence_number, err))
        if pairs:
            self.last_sequence = max(self.last_sequence or 0, pairs[-1][0].sequence_number)
        return readings

    async def download(
        self,
        *,
        after_sequence: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[GlucoseMeasurement]:
        if after_sequence is not None and after_sequence >= MAX_SEQUENCE:
            return []
        async with self._lock:
            self.skipped = []
            link = await self._ensure()
            try:
                total = await self._count(link, after_sequence)
            except RacpFailed as err:
                if err.code not in _COUNT_UNSUPPORTED:
                    raise
                log.info("%s: cannot count records (%s)", self._info.label, err.code.name)
                total = UNKNOWN_TOTAL
            if on_progress is not None:
                on_progress(0, max(total, 0))
            if total == 0:
                return []
            request = (
                racp.report_all()
                if after_sequence is None
                else racp.report_from(after_sequence + 1)
            )
            try:
                pairs = await self._report(link, request, total=total, on_progress=on_progress)
            except _LinkLostDuringReport as lost:
                first_incomplete = min(lost.pending, default=MAX_SEQUENCE + 1)
                kept = [lost.complete[s] for s in sorted(lost.complete) if s < first_incomplete]
                readings = self._readings(kept)
                raise DownloadInterrupted(
                    f"link lost after {len(kept)} of {total} records; download again "
                    f"after sequence {self.last_sequence} to resume",
                    records=readings,
                    device=self._info.label,
                ) from None
            return self._readings(pairs)

    async def abort(self) -> None:
        """Abort a running RACP procedure (the meter confirms)."""
        link = self._link
        if link is None or link.lost.is_set():
            return
        response = await self._response(link, racp.abort())
        self._check(OpCode.ABORT_OPERATION, response)

    async def measure(self, *, timeout_s: float = 180.0) -> GlucoseMeasurement:
        """The newest record made after the step's baseline (a step begins here
        when none has)."""
        if not self.window.open:
            self.window.begin()
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    async with self._lock:
                        link = await self._ensure()
                        if self._baseline is None:
                            await self._take_baseline(link)
                        base = self._baseline or 0
                        pairs: list[Pair] = []
                        if base < MAX_SEQUENCE:
                            pairs = await self._report(
                                link, racp.report_from(base + 1), total=0, on_progress=None
                            )
                    if pairs:
                        reading = self._step_reading(pairs)
                        if reading is not None:
                            return reading
                    await self._pause(link)
        except _LinkLostDuringReport:
            raise DeviceConnectionError(
                "link lost during the measurement", device=self._info.label
            ) from None
        except DeviceError:
            raise
        except TimeoutError:
            raise DeviceTimeoutError(
                f"no new record within {timeout_s:.0f} s", device=self._info.label
            ) from None

    def _step_reading(self, pairs: list[Pair]) -> GlucoseMeasurement | None:
        """The newest of records after the baseline, unless a trusted clock says
        it is older than the step (then device memory, like the older ones)."""
        newest = pairs[-1][0].sequence_number
        self._baseline = newest
        self.last_sequence = max(self.last_sequence or 0, newest)
        self._keep(pairs[:-1], MemoryReason.EARLIER_IN_STEP)
        record, context = pairs[-1]
        reading = record_to_reading(record, context, device=self._info, opts=self.options)
        if self.window.before_step(
            reading.device_time,
            drift_s=self._drift_now,
            clock_trusted=self.options.station_clock_trusted(),
        ):
            self.window.keep(reading, MemoryReason.DEVICE_TIME)
            return None
        return reading

    async def _pause(self, link: BleLink) -> None:
        try:
            async with asyncio.timeout(self.poll_interval_s):
                await link.lost.wait()
        except TimeoutError:
            return

    async def pair(
        self, *, window_s: float = PAIRING_WINDOW_S, on_step: Callable[[Step], None] | None = None
    ) -> DeviceInfo:
        """Bond this station with the meter (in its pairing window)."""
        await self.close()
        paired = await pair_device(
            service_uuid=uuids.GLUCOSE_SERVICE,
            address=self.address,
            backend=self.backend,
            label=self.MODEL,
            window_s=window_s,
            connect_timeout_s=self.options.connect_timeout_s,
            on_step=on_step,
        )
        self._info = paired.info
        return paired.info

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close()


open_device = opener(StandardGlucoseMeter)
