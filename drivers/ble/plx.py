"""Standard Bluetooth SIG Pulse Oximeter Service oximeter (0x1822): PLX
Spot-Check (0x2A5E), PLX Continuous (0x2A5F) and, where the oximeter stores
spot-checks, the Record Access Control Point (0x2A52).

Contract:
- scan for a device advertising 0x1822 (the configured address, else the
  first) for the whole measurement time, connect with the scanned ``BLEDevice``;
  read Device Information, Battery Level (``battery_percent``) and PLX Features
  (``features``); set the clock through Current Time when it is writable;
- ``measure()`` subscribes to spot-check indications and continuous
  notifications (whichever the oximeter has) and returns the first reading
  that counts — **a stable one**:
  - a spot-check counts unless its status says otherwise: measurement still
    ongoing, early estimate, calibration or signal analysis ongoing → not
    final, wait; data from the device's storage → kept in ``memory``, never
    the result; questionable or invalid measurement, measurement unavailable,
    demonstration or test data, or a device and sensor status of a fault, a
    poor signal or a sensor off the finger → ``MeasurementError`` (no reading);
  - continuous frames count once stable: when the oximeter can mark its data
    validated or fully qualified (PLX Features), the first frame so marked;
    otherwise ``stable_frames`` (5) consecutive clean frames whose SpO2 differ
    by at most ``stable_spo2_spread`` (1 %) and pulse by ``stable_pulse_spread``
    (5 bpm); the last frame's values are the reading. A frame with a problem
    or a special value starts the count again. No stable reading within
    ``stable_within_s`` (60 s) of the first frame → ``MeasurementError``
    (``unstable``, or the last problem seen);
- SpO2 above 100 % or not above 0 → ``MeasurementError(out_of_range)``; a
  special SFLOAT in SpO2 → ``no_value``, in pulse rate → pulse None;
- the reading: SpO2 in whole percent, pulse in whole bpm (halves up);
- ``download()`` reads the stored spot-checks through the RACP (the Pulse
  Oximeter Service allows only the "all records" operator, so records have no
  sequence numbers: ``after_sequence=n`` skips the first *n* records); a link
  lost mid-download → :class:`DownloadInterrupted` with the complete records;
  ``delete_after_download`` (false) deletes them once all arrived;
- an undecodable value → :class:`~drivers.ble.plx_codec.PlxCodecError` (raw
  bytes kept), no reading; a link lost before the result → DeviceConnectionError.
Firmware seen: none on hardware — verified against the emulated oximeter
(``emulation/ble/plx.py``) built from the GATT specification.
Visit-bound (:mod:`drivers.memory`): ``begin_step()`` marks the visit's step;
stored spot-checks are handed to the kiosk as device-memory records by
``take_memory()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from drivers.ble import racp, uuids
from drivers.ble.glucose import RacpFailed
from drivers.ble.ieee11073 import Nfloat
from drivers.ble.link import BleBackend, BleLink, naming
from drivers.ble.options import BleOptions
from drivers.ble.plx_codec import (
    ContinuousRecord,
    DeviceStatus,
    MeasurementStatus,
    PlxCodecError,
    PlxFeatures,
    SpotCheckRecord,
    decode_continuous,
    decode_features,
    decode_spot_check,
)
from drivers.ble.racp import OpCode, RacpRequest, RacpResponse, ResponseCode
from drivers.ble.standard import StandardDevice, opener
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    DownloadInterrupted,
    ImplausibleValueError,
    MeasurementError,
    MeasurementProblem,
)
from healthkiosk.readings import (
    DeviceInfo,
    MemoryReason,
    OximetryMeasurement,
    OximetryMode,
    Transport,
)
from healthkiosk.rules import Spo2Rules, check_spo2_plausible

log = logging.getLogger(__name__)

DEVICE_LIMIT_BPM = 400
SPOT, CONTINUOUS, CONTROL = "s", "c", "r"

# Device and sensor status bits → (problem, plain words). Bits 0 and 9
# (display update, signal analysis ongoing) mean "not settled yet" instead.
_DEVICE_PROBLEMS: tuple[tuple[str, MeasurementProblem, str], ...] = (
    ("equipment_malfunction_detected", MeasurementProblem.DEVICE_ERROR, "equipment malfunction"),
    ("sensor_malfunctioning", MeasurementProblem.DEVICE_ERROR, "sensor malfunctioning"),
    ("unknown_sensor_connected", MeasurementProblem.DEVICE_ERROR, "unknown sensor connected"),
    ("sensor_disconnected", MeasurementProblem.POOR_SIGNAL, "sensor disconnected"),
    ("sensor_unconnected_to_user", MeasurementProblem.POOR_SIGNAL, "sensor not on the finger"),
    ("sensor_displaced", MeasurementProblem.POOR_SIGNAL, "sensor displaced"),
    ("inadequate_signal_detected", MeasurementProblem.POOR_SIGNAL, "inadequate signal"),
    ("poor_signal_detected", MeasurementProblem.POOR_SIGNAL, "poor signal"),
    ("low_perfusion_detected", MeasurementProblem.POOR_SIGNAL, "low perfusion"),
    ("erratic_signal_detected", MeasurementProblem.POOR_SIGNAL, "erratic signal"),
    ("nonpulsatile_signal_detected", MeasurementProblem.POOR_SIGNAL, "no pulsatile signal"),
    ("questionable_pulse_detected", MeasurementProblem.POOR_SIGNAL, "questionable pulse"),
    ("sensor_interference_detected", MeasurementProblem.POOR_SIGNAL, "sensor interference"),
    (
        "signal_processing_irregularity_detected",
        MeasurementProblem.POOR_SIGNAL,
        "signal processing irregularity",
    ),
)
_STATUS_PROBLEMS: tuple[tuple[str, MeasurementProblem, str], ...] = (
    ("invalid_measurement_detected", MeasurementProblem.NO_VALUE, "invalid measurement"),
    ("measurement_unavailable", MeasurementProblem.NO_VALUE, "measurement unavailable"),
    ("questionable_measurement_detected", MeasurementProblem.UNSTABLE, "questionable measurement"),
    ("data_for_demonstration", MeasurementProblem.DEVICE_ERROR, "demonstration data"),
    ("data_for_testing", MeasurementProblem.DEVICE_ERROR, "test data"),
)


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the status fields of one PLX value say about it."""

    problem: MeasurementProblem | None = None
    code: str | None = None
    words: str = ""
    settling: bool = False
    """Not final yet: wait for the next value."""
    stored: bool = False
    """From the device's storage: a device-memory record, not this measurement."""
    qualified: bool = False
    """The device marks it validated or fully qualified."""

    def error(self, device: str) -> MeasurementError:
        return MeasurementError(
            f"oximeter reports {self.words}",
            problem=self.problem or MeasurementProblem.UNSTABLE,
            device=device,
            code=self.code,
        )


def assess(
    status: MeasurementStatus | None, device: DeviceStatus | None, *, mode: OximetryMode
) -> Assessment:
    """Pure: the verdict of a value's measurement status and device and sensor status."""
    s = status or MeasurementStatus()
    d = device or DeviceStatus()
    stored = s.data_from_measurement_storage
    for table, flags in ((_STATUS_PROBLEMS, s), (_DEVICE_PROBLEMS, d)):
        for name, problem, words in table:
            if getattr(flags, name):
                return Assessment(problem=problem, code=name, words=words, stored=stored)
    if stored:
        return Assessment(stored=True)
    settling = (
        s.early_estimated_data
        or s.calibration_ongoing
        or d.signal_analysis_ongoing
        or d.extended_display_update_ongoing
        or (mode is OximetryMode.SPOT_CHECK and s.measurement_ongoing)
    )
    return Assessment(settling=settling, qualified=s.validated_data or s.fully_qualified_data)


def _whole(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def values_to_reading(
    spo2: Nfloat,
    pulse_rate: Nfloat,
    *,
    device: DeviceInfo,
    mode: OximetryMode,
    pulse_amplitude_index: Nfloat | None = None,
    device_time: datetime | None = None,
) -> OximetryMeasurement:
    """SpO2 and pulse → the kiosk's reading, or MeasurementError (no value, out of range)."""
    label = device.label
    value = spo2.decimal
    if value is None:
        raise MeasurementError(
            f"oximeter sent no SpO2 ({spo2.special})",
            problem=MeasurementProblem.NO_VALUE,
            device=label,
            code=str(spo2.special),
        )
    percent = _whole(value)
    if not 0 < percent <= 100:
        raise MeasurementError(
            f"SpO2 {value} % is not a saturation",
            problem=MeasurementProblem.OUT_OF_RANGE,
            device=label,
        )
    pulse_value = pulse_rate.decimal
    pulse = None if pulse_value is None else _whole(pulse_value)
    if pulse is not None and not 0 < pulse < DEVICE_LIMIT_BPM:
        raise MeasurementError(
            f"pulse {pulse} is outside what an oximeter measures",
            problem=MeasurementProblem.OUT_OF_RANGE,
            device=label,
        )
    return OximetryMeasurement(
        spo2_percent=percent,
        pulse_bpm=pulse,
        device=device,
        mode=mode,
        device_time=device_time,
        pulse_amplitude_index=(
            None if pulse_amplitude_index is None else pulse_amplitude_index.value
        ),
    )


def spot_to_reading(
    record: SpotCheckRecord, *, device: DeviceInfo, tz: tzinfo
) -> OximetryMeasurement:
    """A final, clean spot-check → the reading; anything else → MeasurementError."""
    verdict = assess(record.measurement_status, record.device_status, mode=OximetryMode.SPOT_CHECK)
    if verdict.problem is not None:
        raise verdict.error(device.label)
    if verdict.settling:
        raise MeasurementError(
            "oximeter's spot-check is not final",
            problem=MeasurementProblem.UNSTABLE,
            device=device.label,
            code="not_final",
        )
    when = None
    if record.timestamp is not None and not record.device_clock_not_set:
        when = record.timestamp.to_datetime(tz)
    return values_to_reading(
        record.spo2,
        record.pulse_rate,
        device=device,
        mode=OximetryMode.SPOT_CHECK,
        pulse_amplitude_index=record.pulse_amplitude_index,
        device_time=when,
    )


class Stabiliser:
    """Pure: continuous frames in, a stable reading out (see the module contract)."""

    def __init__(
        self,
        *,
        device: DeviceInfo,
        require_qualified: bool,
        frames: int = 5,
        spo2_spread: int = 1,
        pulse_spread: int = 5,
    ) -> None:
        self.device = device
        self.require_qualified = require_qualified
        self.frames = max(1, frames)
        self.spo2_spread = spo2_spread
        self.pulse_spread = pulse_spread
        self.window: deque[OximetryMeasurement] = deque(maxlen=self.frames)
        self.last_problem: MeasurementError | None = None
        self.seen = 0

    def feed(self, record: ContinuousRecord) -> OximetryMeasurement | None:
        self.seen += 1
        verdict = assess(
            record.measurement_status, record.device_status, mode=OximetryMode.CONTINUOUS
        )
        if verdict.problem is not None:
            self.window.clear()
            self.last_problem = verdict.error(self.device.label)
            return None
        try:
            reading = values_to_reading(
                record.spo2,
                record.pulse_rate,
                device=self.device,
                mode=OximetryMode.CONTINUOUS,
                pulse_amplitude_index=record.pulse_amplitude_index,
            )
        except MeasurementError as err:
            self.window.clear()
            self.last_problem = err
            return None
        if verdict.settling or verdict.stored:
            self.window.clear()
            return None
        if self.require_qualified:
            return reading if verdict.qualified else None
        self.window.append(reading)
        if len(self.window) < self.frames:
            return None
        spo2s = [r.spo2_percent for r in self.window]
        pulses = [r.pulse_bpm for r in self.window]
        if max(spo2s) - min(spo2s) > self.spo2_spread:
            return None
        if None not in pulses:
            known = [p for p in pulses if p is not None]
            if max(known) - min(known) > self.pulse_spread:
                return None
        return reading

    def failure(self, waited_s: float) -> MeasurementError:
        """Why no reading came: the last problem seen, else "unstable"."""
        if self.last_problem is not None and not self.window:
            return self.last_problem
        return MeasurementError(
            f"no stable reading within {waited_s:.0f} s",
            problem=MeasurementProblem.UNSTABLE,
            device=self.device.label,
            code="unstable",
        )


def _enqueue(events: asyncio.Queue[tuple[str, bytes]], kind: str) -> Callable[[bytes], None]:
    return lambda raw: events.put_nowait((kind, raw))


class StandardPulseOximeter(StandardDevice):
    """A :class:`drivers.base.PulseOximeter` over the Pulse Oximeter Service."""

    MODEL = "Pulse Oximeter Service oximeter"
    service_uuid = uuids.PULSE_OXIMETER_SERVICE

    def __init__(self, *, address: str | None, backend: BleBackend, options: BleOptions) -> None:
        super().__init__(address=address, backend=backend, options=options)
        extra = options.extra
        self.stable_frames = int(extra.get("stable_frames", 5))
        self.stable_spo2_spread = int(extra.get("stable_spo2_spread", 1))
        self.stable_pulse_spread = int(extra.get("stable_pulse_spread", 5))
        self.stable_within_s = float(extra.get("stable_within_s", 60.0))
        self.record_timeout_s = float(extra.get("record_timeout_s", 10.0))
        self.delete_after_download = bool(extra.get("delete_after_download", False))
        self.features: PlxFeatures | None = None
        self.memory: list[OximetryMeasurement] = []
        """Stored spot-checks the oximeter sent during the last measurement."""
        self.skipped: list[tuple[int, MeasurementError]] = []
        """Records of the last download that gave no reading (index, why)."""

    async def _on_connect(self, link: BleLink) -> None:
        self.features = await self._read_features(link)
        if self.options.may_set_clock():
            now = datetime.now(self.options.tz)
            if await link.set_current_time(now):
                self.clock_set_at = now

    async def _read_features(self, link: BleLink) -> PlxFeatures | None:
        if not link.has(uuids.PLX_FEATURES):
            return None
        raw = await link.read(uuids.PLX_FEATURES)
        try:
            return decode_features(raw)
        except PlxCodecError as err:
            raise naming(err, self._info.label) from None

    @property
    def _require_qualified(self) -> bool:
        support = self.features.measurement_status_support if self.features else None
        return support is not None and (support.validated_data or support.fully_qualified_data)

    # --- a measurement ---------------------------------------------------------
    async def measure(self, *, timeout_s: float = 120.0) -> OximetryMeasurement:
        stabiliser: Stabiliser | None = None
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def stable(link: BleLink, deadline: float) -> OximetryMeasurement:
            nonlocal stabiliser
            stabiliser = Stabiliser(
                device=self._info,
                require_qualified=self._require_qualified,
                frames=self.stable_frames,
                spo2_spread=self.stable_spo2_spread,
                pulse_spread=self.stable_pulse_spread,
            )
            return await self._wait_stable(link, stabiliser, deadline)

        def timed_out() -> DeviceError | None:
            """Frames came but never a stable reading: why (not a bare timeout)."""
            if stabiliser is not None and stabiliser.seen:
                return stabiliser.failure(loop.time() - started)
            return None

        reading = await self._on_link(
            stable, timeout_s, waited_for="oximetry reading", on_timeout=timed_out
        )
        log.info(
            "%s: SpO2 %d %%, pulse %s (%s)",
            self._info.label,
            reading.spo2_percent,
            reading.pulse_bpm,
            reading.mode.value,
        )
        return reading

    async def _wait_stable(
        self, link: BleLink, stabiliser: Stabiliser, deadline: float
    ) -> OximetryMeasurement:
        events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        subscribed = False
        for uuid, kind in (
            (uuids.PLX_SPOT_CHECK_MEASUREMENT, SPOT),
            (uuids.PLX_CONTINUOUS_MEASUREMENT, CONTINUOUS),
        ):
            if link.has(uuid):
                await link.subscribe(uuid, _enqueue(events, kind))
                subscribed = True
        if not subscribed:
            raise DeviceError(
                "offers neither PLX spot-check nor continuous measurements",
                device=self._info.label,
                reason="not_an_oximeter",
            )
        self.memory = []
        loop = asyncio.get_running_loop()
        stable_by: float | None = None
        first_frame_at = 0.0
        while True:
            now = loop.time()
            limit = deadline - now
            if stable_by is not None:
                limit = min(limit, stable_by - now)
                if limit <= 0:
                    raise stabiliser.failure(now - first_frame_at)
            try:
                kind, raw = await link.wait(
                    "an oximetry reading", events.get(), timeout_s=max(limit, 0.0)
                )
            except DeviceTimeoutError:
                if stable_by is not None:
                    raise stabiliser.failure(loop.time() - first_frame_at) from None
                raise
            if kind == SPOT:
                reading = self._spot(raw)
                if reading is not None:
                    return reading
                continue
            try:
                record = decode_continuous(raw)
            except PlxCodecError as err:
                raise naming(err, self._info.label) from None
            if stable_by is None:
                first_frame_at = loop.time()
                stable_by = first_frame_at + self.stable_within_s
            result = stabiliser.feed(record)
            if result is not None:
                return result

    def _spot(self, raw: bytes) -> OximetryMeasurement | None:
        """The reading of a final spot-check; None for one to skip (stored, not final)."""
        try:
            record = decode_spot_check(raw)
        except PlxCodecError as err:
            raise naming(err, self._info.label) from None
        verdict = assess(
            record.measurement_status, record.device_status, mode=OximetryMode.SPOT_CHECK
        )
        if verdict.stored:  # a stored record, good or bad, is never this measurement
            try:
                stored = self._spot_reading(record)
                self.memory.append(stored)
                self.window.keep(stored, MemoryReason.STORED_AT_CONNECT)
            except MeasurementError as err:
                log.info("%s: stored spot-check skipped: %s", self._info.label, err)
            return None
        if verdict.settling and verdict.problem is None:
            return None
        return self._spot_reading(record)

    def _spot_reading(self, record: SpotCheckRecord) -> OximetryMeasurement:
        return spot_to_reading(record, device=self._info, tz=self.options.tz)

    # --- memory download (RACP) --------------------------------------------------
    async def download(
        self,
        *,
        after_sequence: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[OximetryMeasurement]:
        self.skipped = []
        link = await self.connect(scan_timeout_s=self.options.scan_timeout_s or 30.0)
        try:
            if not (
                link.has(uuids.RECORD_ACCESS_CONTROL_POINT)
                and link.has(uuids.PLX_SPOT_CHECK_MEASUREMENT)
            ):
                raise DeviceError(
                    "keeps no spot-check memory (no Record Access Control Point)",
                    device=self._info.label,
                    reason="no_memory",
                )
            return await self._download(link, after_sequence or 0, on_progress)
        finally:
            await link.close()
            self._link = None

    async def _download(
        self, link: BleLink, skip: int, on_progress: Callable[[int, int], None] | None
    ) -> list[OximetryMeasurement]:
        events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        await link.subscribe(
            uuids.PLX_SPOT_CHECK_MEASUREMENT, lambda raw: events.put_nowait((SPOT, raw))
        )
        await link.subscribe(
            uuids.RECORD_ACCESS_CONTROL_POINT, lambda raw: events.put_nowait((CONTROL, raw))
        )
        total = await self._count(link, events)
        if on_progress is not None:
            on_progress(0, total)
        if total == 0:
            return []
        records: list[SpotCheckRecord] = []
        await link.write(uuids.RECORD_ACCESS_CONTROL_POINT, racp.encode(racp.report_all()))
        while True:
            try:
                kind, raw = await link.wait(
                    "stored spot-checks", events.get(), timeout_s=self.record_timeout_s
                )
            except DeviceConnectionError:
                readings = self._readings(records, skip)
                raise DownloadInterrupted(
                    f"link lost after {len(records)} of {total} records; download again",
                    records=readings,
                    device=self._info.label,
                ) from None
            if kind == SPOT:
                try:
                    records.append(decode_spot_check(raw))
                except PlxCodecError as err:
                    raise naming(err, self._info.label) from None
                if on_progress is not None:
                    on_progress(len(records), max(total, len(records)))
                continue
            response = self._response(raw)
            if response.request_op_code is not OpCode.REPORT_STORED_RECORDS:
                continue
            if response.response_code not in (ResponseCode.SUCCESS, ResponseCode.NO_RECORDS_FOUND):
                raise self._failed(OpCode.REPORT_STORED_RECORDS, response)
            break
        readings = self._readings(records, skip)
        if self.delete_after_download and records:
            await self._delete_all(link, events)
        return readings

    async def _count(self, link: BleLink, events: asyncio.Queue[tuple[str, bytes]]) -> int:
        await link.write(
            uuids.RECORD_ACCESS_CONTROL_POINT,
            racp.encode(racp.count_all()),
        )
        while True:
            kind, raw = await link.wait(
                "a record count", events.get(), timeout_s=self.record_timeout_s
            )
            if kind != CONTROL:
                continue
            response = self._response(raw)
            if response.number_of_records is not None:
                return response.number_of_records
            if response.request_op_code is OpCode.REPORT_NUMBER_OF_STORED_RECORDS:
                if response.response_code is ResponseCode.NO_RECORDS_FOUND:
                    return 0
                raise self._failed(OpCode.REPORT_NUMBER_OF_STORED_RECORDS, response)

    async def _delete_all(self, link: BleLink, events: asyncio.Queue[tuple[str, bytes]]) -> None:
        await link.write(
            uuids.RECORD_ACCESS_CONTROL_POINT,
            racp.encode(RacpRequest(OpCode.DELETE_STORED_RECORDS, racp.Operator.ALL_RECORDS)),
        )
        while True:
            kind, raw = await link.wait(
                "the delete's answer", events.get(), timeout_s=self.record_timeout_s
            )
            response = self._response(raw) if kind == CONTROL else None
            if response is not None and response.request_op_code is OpCode.DELETE_STORED_RECORDS:
                if response.response_code is not ResponseCode.SUCCESS:
                    raise self._failed(OpCode.DELETE_STORED_RECORDS, response)
                log.info("%s: stored spot-checks deleted", self._info.label)
                return

    def _response(self, raw: bytes) -> RacpResponse:
        try:
            value = racp.decode(raw)
        except racp.RacpError as err:
            raise naming(err, self._info.label) from None
        if not isinstance(value, RacpResponse):
            raise racp.RacpError(
                "oximeter sent a request on the RACP", raw=raw, device=self._info.label
            )
        return value

    def _failed(self, request: OpCode, response: RacpResponse) -> DeviceError:
        if response.response_code is None:
            return racp.RacpError("RACP response without a code", device=self._info.label)
        return RacpFailed(request=request, code=response.response_code, device=self._info.label)

    def _readings(self, records: list[SpotCheckRecord], skip: int) -> list[OximetryMeasurement]:
        readings = []
        for index, record in enumerate(records[skip:], start=skip + 1):
            try:
                readings.append(self._spot_reading(record))
            except MeasurementError as err:
                log.info("%s: stored record %d skipped: %s", self._info.label, index, err)
                self.skipped.append((index, err))
        return readings


open_device = opener(StandardPulseOximeter)


CAPTURED = DeviceInfo(model="captured bytes", transport=Transport.BLE)


def _oximetry_json(
    make: Callable[[], OximetryMeasurement],
    verdict: Assessment,
    rules: Spo2Rules,
    *,
    require_qualified: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {"recorded": False, "reason": None, "spo2": None, "pulse": None}
    try:
        reading = make()
    except MeasurementError as err:
        out["reason"] = err.reason
        return out
    out.update(spo2=reading.spo2_percent, pulse=reading.pulse_bpm)
    if verdict.stored:
        out["reason"] = "device_memory"
    elif verdict.problem is not None:
        out["reason"] = verdict.problem.value
    elif verdict.settling or (require_qualified and not verdict.qualified):
        out["reason"] = MeasurementProblem.UNSTABLE.value
    else:
        try:
            check_spo2_plausible(reading.spo2_percent, reading.pulse_bpm, rules)
        except ImplausibleValueError as err:
            out["reason"] = err.reason
            return out
        out["recorded"] = True
    return out


def spot_to_reading_json(data: bytes, *, rules: Spo2Rules, tz: tzinfo) -> dict[str, Any]:
    """``devices reading plx-spot``: ``recorded`` true, or false with ``reason``
    (the status says not final, stored, or a problem; no value; implausible),
    and SpO2 (%) and pulse (bpm) in whole units. Undecodable bytes raise."""
    record = decode_spot_check(data)
    verdict = assess(record.measurement_status, record.device_status, mode=OximetryMode.SPOT_CHECK)
    return _oximetry_json(
        lambda: values_to_reading(
            record.spo2, record.pulse_rate, device=CAPTURED, mode=OximetryMode.SPOT_CHECK
        ),
        verdict,
        rules,
        require_qualified=False,
    )


def continuous_to_reading_json(data: bytes, *, rules: Spo2Rules, tz: tzinfo) -> dict[str, Any]:
    """``devices reading plx-continuous``: one frame counts only when the
    oximeter marks it validated or fully qualified (the driver's window of
    steady frames cannot be judged from one frame): otherwise ``unstable``."""
    record = decode_continuous(data)
    verdict = assess(record.measurement_status, record.device_status, mode=OximetryMode.CONTINUOUS)
    return _oximetry_json(
        lambda: values_to_reading(
            record.spo2, record.pulse_rate, device=CAPTURED, mode=OximetryMode.CONTINUOUS
        ),
        verdict,
        rules,
        require_qualified=True,
    )
