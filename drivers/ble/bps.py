"""Standard Bluetooth SIG Blood Pressure Service monitor (0x1810).

Contract:
- scan for a device advertising 0x1810 (the configured address, else the
  first), connect with the ``BLEDevice`` the scan returned;
- read Device Information (manufacturer, model, serial, firmware: kept with
  every reading);
- read Battery Level (0x2A19) when the device has a Battery Service
  (0x180F, optional): ``battery_percent``, None without one or when the read
  fails (logged; never an error). Not subscribed: the link lasts one
  measurement, and a monitor that hangs up soon gets no extra writes;
- read the device clock through Current Time (0x2A2B) when it is readable:
  its drift from the station's clock in ``clock_drift_s``; set it when it is
  writable, ``set_clock`` is on and the station's clock is trusted
  (``clock_trusted``);
- subscribe to Intermediate Cuff Pressure (0x2A36) notifications (the live
  cuff pressure callback) and Blood Pressure Measurement (0x2A35)
  indications; many monitors send their stored measurements as indications
  right after the subscription: every indication of that burst (before any
  cuff pressure, each within ``settle_s`` of the last) is a device-memory
  record (:mod:`drivers.memory`), except its newest when a trusted device
  clock (drift read at connection, station clock synchronised) dates it
  inside the visit's step; the first indication after the burst is the
  result (one dated before the step by a trusted clock is device memory too);
  ``begin_step()`` marks the step's start (the link lasts one measurement, so
  the stored records are drained at each connection);
- status bits: body movement, cuff too loose, improper position →
  :class:`MeasurementError` (no reading); irregular pulse and pulse out of
  range → kept and flagged; a special SFLOAT (NaN, NRes, ±INF, reserved) in
  systolic/diastolic → ``MeasurementError(no_value)``; in pulse rate or mean
  arterial pressure → that field is None;
- a link lost before the result → :class:`DeviceConnectionError`, no reading;
- ``pair()`` bonds the monitor with this station (:mod:`drivers.ble.pairing`).
Firmware seen: none on hardware — verified against the emulated peripheral
(``emulation/ble/bps.py``) built from the GATT specification.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from drivers.ble import uuids
from drivers.ble.bps_codec import (
    BloodPressureRecord,
    BpsCodecError,
    PulseRateRange,
    decode_measurement,
)
from drivers.ble.ieee11073 import Nfloat
from drivers.ble.link import BleBackend, BleLink, naming
from drivers.ble.options import BleOptions
from drivers.ble.pairing import PAIRING_WINDOW_S, Step, pair_device
from drivers.ble.standard import StandardDevice, opener
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceTimeoutError,
    MeasurementError,
    MeasurementProblem,
)
from healthkiosk.readings import (
    BloodPressureMeasurement,
    BloodPressureStatus,
    CuffPressure,
    DeviceInfo,
    MemoryReason,
    PressureUnit,
    kpa_to_mmhg,
)

log = logging.getLogger(__name__)

DEVICE_LIMIT_MMHG = 400
"""No oscillometric cuff measures beyond this: a larger value is a device
fault, not a blood pressure. (Clinical plausibility is healthkiosk.rules'.)"""
DEVICE_LIMIT_BPM = 400
SETTLE_S = 1.0
"""Stored measurements come back to back after the subscription: an indication
within this long of the last one (and before any cuff pressure) is stored."""


def _mmhg(value: Nfloat, unit: PressureUnit) -> int | None:
    d = value.decimal
    if d is None:
        return None
    if unit is PressureUnit.KPA:
        return kpa_to_mmhg(float(d))
    return int(d.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def record_to_reading(
    record: BloodPressureRecord, *, device: DeviceInfo, tz: tzinfo
) -> BloodPressureMeasurement:
    """A decoded 0x2A35 → the kiosk's reading, or MeasurementError."""
    label = device.label
    status = record.status
    if status is not None:
        for flag, problem, text in (
            (status.body_movement, MeasurementProblem.BODY_MOVEMENT, "body movement"),
            (status.cuff_too_loose, MeasurementProblem.CUFF_FIT, "cuff too loose"),
            (status.improper_position, MeasurementProblem.IMPROPER_POSITION, "improper position"),
        ):
            if flag:
                raise MeasurementError(f"monitor reports {text}", problem=problem, device=label)
    systolic = _mmhg(record.systolic, record.unit)
    diastolic = _mmhg(record.diastolic, record.unit)
    if systolic is None or diastolic is None:
        special = str(record.systolic.special or record.diastolic.special or "")
        raise MeasurementError(
            f"monitor sent no value ({special})",
            problem=MeasurementProblem.NO_VALUE,
            device=label,
            code=special,
        )
    pulse_value = None if record.pulse_rate is None else record.pulse_rate.decimal
    pulse = None if pulse_value is None else int(pulse_value.quantize(Decimal(1), ROUND_HALF_UP))
    for name, value, limit in (
        ("systolic", systolic, DEVICE_LIMIT_MMHG),
        ("diastolic", diastolic, DEVICE_LIMIT_MMHG),
        ("pulse", pulse, DEVICE_LIMIT_BPM),
    ):
        if value is not None and not 0 < value < limit:
            raise MeasurementError(
                f"{name} {value} is outside what a monitor can measure",
                problem=MeasurementProblem.OUT_OF_RANGE,
                device=label,
            )
    mean = (
        None
        if record.mean_arterial_pressure.decimal is None
        else _mmhg(record.mean_arterial_pressure, record.unit)
    )
    flags = BloodPressureStatus(
        irregular_pulse=bool(status and status.irregular_pulse),
        pulse_out_of_range=bool(
            status
            and status.pulse_rate_range
            in (PulseRateRange.ABOVE_UPPER_LIMIT, PulseRateRange.BELOW_LOWER_LIMIT)
        ),
    )
    return BloodPressureMeasurement(
        systolic_mmhg=systolic,
        diastolic_mmhg=diastolic,
        pulse_bpm=pulse,
        device=device,
        mean_arterial_mmhg=mean,
        device_time=None if record.timestamp is None else record.timestamp.to_datetime(tz),
        original_unit=record.unit,
        status=flags,
        user_id=record.user_id,
    )


class StandardBpsMonitor(StandardDevice):
    """A :class:`drivers.base.BloodPressureMonitor` over the standard profile."""

    MODEL = "Blood Pressure Service monitor"
    service_uuid = uuids.BLOOD_PRESSURE_SERVICE

    def __init__(self, *, address: str | None, backend: BleBackend, options: BleOptions) -> None:
        super().__init__(address=address, backend=backend, options=options)
        self.clock_drift_s: float | None = None
        """Device clock − station clock at the last connection (None: no readable clock)."""
        self._drift_now: float | None = None
        """The drift of records made from now on (0 once this station set the clock)."""
        self.settle_s = float(options.extra.get("settle_s", SETTLE_S))

    def _dated_before_step(self, reading: BloodPressureMeasurement, drift_s: float | None) -> bool:
        return self.window.before_step(
            reading.device_time,
            drift_s=drift_s,
            clock_trusted=self.options.station_clock_trusted(),
        )

    def _decoded(self, raw: bytes) -> BloodPressureMeasurement | None:
        try:
            return record_to_reading(decode_measurement(raw), device=self._info, tz=self.options.tz)
        except (BpsCodecError, MeasurementError) as err:
            log.info("%s: stored measurement not readable: %s", self._info.label, err)
            return None

    def _keep_raw(self, raw: bytes, reason: MemoryReason) -> None:
        reading = self._decoded(raw)
        if reading is not None:
            self.window.keep(reading, reason)

    async def _on_connect(self, link: BleLink) -> None:
        await self.set_clock(link)

    async def set_clock(self, link: BleLink) -> None:
        drift = await link.read_clock_drift(self.options.tz)
        self.clock_drift_s = None if drift is None else drift.drift_s
        self._drift_now = self.clock_drift_s
        if not self.options.may_set_clock():
            return
        now = datetime.now(self.options.tz)
        if await link.set_current_time(now):
            self.clock_set_at = now
            self._drift_now = 0.0

    async def measure(
        self,
        *,
        on_cuff_pressure: Callable[[CuffPressure], None] | None = None,
        timeout_s: float = 180.0,
    ) -> BloodPressureMeasurement:
        if not self.window.open:
            self.window.begin()
        raw = await self._on_link(
            lambda link, deadline: self._wait_for_result(link, on_cuff_pressure, deadline),
            timeout_s,
            waited_for="result",
        )
        try:
            record = decode_measurement(raw)
        except BpsCodecError as err:
            raise naming(err, self._info.label) from None
        reading = record_to_reading(record, device=self._info, tz=self.options.tz)
        log.info(
            "%s: measured %s/%s", self._info.label, reading.systolic_mmhg, reading.diastolic_mmhg
        )
        return reading

    async def _wait_for_result(
        self,
        link: BleLink,
        on_cuff_pressure: Callable[[CuffPressure], None] | None,
        deadline: float,
    ) -> bytes:
        """The raw result: the first indication after the burst of stored ones."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        if link.has(uuids.INTERMEDIATE_CUFF_PRESSURE):
            await link.subscribe(
                uuids.INTERMEDIATE_CUFF_PRESSURE, lambda raw: events.put_nowait(("c", raw))
            )
        # Drift of the stored records' clock: before this connection set it.
        stored_drift = self.clock_drift_s
        await link.subscribe(
            uuids.BLOOD_PRESSURE_MEASUREMENT, lambda raw: events.put_nowait(("m", raw))
        )
        burst: list[bytes] = []
        in_burst = True
        while True:
            remaining = deadline - loop.time()
            wait_s = min(remaining, self.settle_s) if in_burst else remaining
            try:
                kind, raw = await link.wait(
                    "a blood pressure result", events.get(), timeout_s=wait_s
                )
            except DeviceTimeoutError:
                if not in_burst or wait_s >= remaining:
                    self._end_burst(burst, stored_drift, accept=False)
                    raise
                in_burst = False
                newest = self._end_burst(burst, stored_drift, accept=True)
                if newest is not None:
                    return newest
                continue
            except DeviceConnectionError:
                self._end_burst(burst, stored_drift, accept=False)
                raise
            if kind == "c":
                if in_burst:
                    in_burst = False
                    self._end_burst(burst, stored_drift, accept=False)
                self._cuff(raw, on_cuff_pressure)
                continue
            if in_burst:
                burst.append(raw)
                continue
            if self._in_step(raw):
                return raw

    def _end_burst(
        self, burst: list[bytes], drift_s: float | None, *, accept: bool
    ) -> bytes | None:
        """The stored measurements sent at connect → device memory; with
        ``accept``, the newest is returned instead when a trusted clock dates it
        inside the step (a monitor that connects only after measuring)."""
        chosen: bytes | None = None
        if accept and burst:
            newest = self._decoded(burst[-1])
            if (
                newest is not None
                and newest.device_time is not None
                and drift_s is not None
                and self.options.station_clock_trusted()
                and not self._dated_before_step(newest, drift_s)
            ):
                chosen = burst.pop()
        for raw in burst:
            self._keep_raw(raw, MemoryReason.STORED_AT_CONNECT)
        burst.clear()
        return chosen

    def _in_step(self, raw: bytes) -> bool:
        """False (and kept as device memory) for a measurement a trusted clock
        dates before the step."""
        try:
            reading = record_to_reading(
                decode_measurement(raw), device=self._info, tz=self.options.tz
            )
        except (BpsCodecError, MeasurementError):
            return True  # the caller reports it
        if self._dated_before_step(reading, self._drift_now):
            self.window.keep(reading, MemoryReason.DEVICE_TIME)
            return False
        return True

    def _cuff(self, raw: bytes, callback: Callable[[CuffPressure], None] | None) -> None:
        if callback is None:
            return
        try:
            record = decode_measurement(raw)
        except BpsCodecError:
            log.warning("%s: undecodable cuff pressure %s", self._info.label, raw.hex())
            return
        d = record.systolic.decimal
        if d is None:
            return
        mmhg = float(d) if record.unit is PressureUnit.MMHG else kpa_to_mmhg(float(d))
        callback(CuffPressure(mmhg=float(mmhg)))

    async def pair(
        self, *, window_s: float = PAIRING_WINDOW_S, on_step: Callable[[Step], None] | None = None
    ) -> DeviceInfo:
        """Bond this station with the monitor (in its pairing window)."""
        await self.close()
        paired = await pair_device(
            service_uuid=self.service_uuid,
            address=self.address,
            backend=self.backend,
            label=self.MODEL,
            window_s=window_s,
            connect_timeout_s=self.options.connect_timeout_s,
            on_step=on_step,
        )
        self._info = paired.info
        return paired.info


open_device = opener(StandardBpsMonitor)
