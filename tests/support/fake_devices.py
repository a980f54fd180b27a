"""Scriptable in-memory fakes of the kiosk's devices, for the flow and GUI tests.

These implement :mod:`drivers.base`'s protocols directly (no bytes, no
codecs): a test queues each measurement's outcome (a value, a status flag, any
driver error, a monitor held at its gate) and puts cards on the reader. They
are not the product's and not its simulation: ``healthkiosk run --simulate``,
the demo and the scripted visitor run the real drivers against their emulated
twins (``emulation/twins.py``); tests that need bytes use those.

Timing is realistic by default (the elder presses start after a moment,
the cuff inflates at about 20 mmHg/s, deflates at about 5 mmHg/s, a glucose
meter counts down 5 s) and scales with ``speed`` for tests. Each
``measure()`` takes the next scripted outcome (a value, a status flag, a
device error such as a lost link mid-deflation) or, when the script is
empty, a plausible random one.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from drivers.printer.escpos_codec import Raster
from healthkiosk.errors import DeviceError, DeviceTimeoutError
from healthkiosk.idnumber import check_character
from healthkiosk.readings import (
    BloodPressureMeasurement,
    BloodPressureStatus,
    CuffPressure,
    DeviceInfo,
    DeviceMemoryRecord,
    GlucoseMeasurement,
    GlucoseUnit,
    IdCardData,
    OximetryMeasurement,
    OximetryMode,
    TemperatureMeasurement,
    TemperatureSite,
    TemperatureUnit,
    Transport,
    WeightMeasurement,
    WeightUnit,
)
from kiosk.flow.clock import Clock, RealClock
from kiosk.flow.ports import Devices

CUFF_STEP_S = 0.25
"""Intermediate cuff pressures arrive about four times a second (as from BLE monitors)."""
INFLATE_MMHG_PER_S = 20.0
DEFLATE_MMHG_PER_S = 5.0
INFLATE_ABOVE_SYSTOLIC = 30.0
SIMULATED_BATTERY_PERCENT = 80


@dataclass(frozen=True, slots=True)
class BpOutcome:
    """What the next blood pressure measurement does."""

    systolic: int = 0
    diastolic: int = 0
    pulse: int | None = None
    status: BloodPressureStatus = field(default_factory=BloodPressureStatus)
    error: DeviceError | None = None
    """Raised instead of a result..."""
    error_at: str = "start"
    """...at ``start`` (before inflating) or ``deflating`` (mid-measurement)."""
    never_started: bool = False
    """The elder never presses start: the measurement times out."""


@dataclass(frozen=True, slots=True)
class GlucoseOutcome:
    mmol_per_l: float = 0.0
    out_of_range: str | None = None
    error: DeviceError | None = None
    never_applied: bool = False


def _info(model: str, serial: str) -> DeviceInfo:
    return DeviceInfo(
        model=model,
        transport=Transport.EMULATED,
        manufacturer="healthkiosk",
        serial=serial,
        firmware="sim-1",
        address="in-process",
    )


class _Checkable:
    """The technician's test on a fake device: ``check_error`` makes it fail.
    Visit-bound capture: ``steps_begun`` counts ``begin_step()``; records put in
    ``stored`` are handed over as device memory at the next ``begin_step()``
    (what a real device sends from before the step)."""

    check_error: DeviceError | None = None
    _info: DeviceInfo
    steps_begun: int = 0
    stored: list[DeviceMemoryRecord]
    _memory: list[DeviceMemoryRecord]

    async def check(self) -> DeviceInfo:
        if self.check_error is not None:
            raise self.check_error
        return self._info

    async def begin_step(self) -> None:
        self.steps_begun += 1
        stored = getattr(self, "stored", [])
        self._memory = [*getattr(self, "_memory", []), *stored]
        self.stored = []

    def take_memory(self) -> list[DeviceMemoryRecord]:
        out = getattr(self, "_memory", [])
        self._memory = []
        return out


class FakeBloodPressureMonitor(_Checkable):
    """An upper-arm monitor: start pressed, cuff inflates, deflates, result."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        speed: float = 1.0,
        start_delay_s: float = 2.0,
        seed: int | None = None,
    ) -> None:
        self._clock = clock or RealClock()
        self._speed = speed
        self._start_delay_s = start_delay_s
        self._rng = random.Random(seed)
        self.script: deque[BpOutcome] = deque()
        self.state = "ready"
        self.measurements_started = 0
        self.gate: asyncio.Event | None = None
        """When set to an un-set event, the cuff holds its pressure until it is set
        (lets a demo or a screenshot catch the measuring screen)."""
        self.on_result: Callable[[BloodPressureMeasurement], None] | None = None
        """Called just before a result is returned (benchmarks time from here)."""
        self._info = _info("Simulated upper-arm BP monitor", "SIM-BP-0001")
        self.battery_percent: int | None = SIMULATED_BATTERY_PERCENT
        """As a BLE driver reports its device's Battery Service (None: unknown)."""

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def queue(self, *outcomes: BpOutcome) -> None:
        self.script.extend(outcomes)

    def _next(self) -> BpOutcome:
        if self.script:
            return self.script.popleft()
        systolic = self._rng.randint(110, 150)
        return BpOutcome(systolic, self._rng.randint(65, 92), self._rng.randint(58, 88))

    async def measure(
        self,
        *,
        on_cuff_pressure: Callable[[CuffPressure], None] | None = None,
        timeout_s: float = 180.0,
    ) -> BloodPressureMeasurement:
        outcome = self._next()
        self.measurements_started += 1
        top = max(outcome.systolic, 120) + INFLATE_ABOVE_SYSTOLIC
        duration = (
            self._start_delay_s + top / INFLATE_MMHG_PER_S + top / DEFLATE_MMHG_PER_S
        ) / self._speed
        if outcome.never_started or duration > timeout_s:
            await self._clock.sleep(timeout_s)
            raise DeviceTimeoutError("no measurement in time", device=self._info.label)
        return await self._run(outcome, on_cuff_pressure)

    async def _run(
        self,
        outcome: BpOutcome,
        on_cuff: Callable[[CuffPressure], None] | None,
    ) -> BloodPressureMeasurement:
        await self._clock.sleep(self._start_delay_s / self._speed)
        if outcome.error is not None and outcome.error_at == "start":
            raise outcome.error
        top = max(outcome.systolic, 120) + INFLATE_ABOVE_SYSTOLIC
        pressure = 0.0
        step = CUFF_STEP_S / self._speed
        while pressure < top:
            pressure = min(top, pressure + INFLATE_MMHG_PER_S * CUFF_STEP_S)
            if on_cuff:
                on_cuff(CuffPressure(mmhg=pressure))
            await self._clock.sleep(step)
        if self.gate is not None:
            await self.gate.wait()
        bottom = max(outcome.diastolic - 10, 20)
        while pressure > bottom:
            pressure = max(bottom, pressure - DEFLATE_MMHG_PER_S * CUFF_STEP_S)
            if on_cuff:
                on_cuff(CuffPressure(mmhg=pressure))
            if outcome.error is not None and pressure < (top + bottom) / 2:
                raise outcome.error
            await self._clock.sleep(step)
        m = BloodPressureMeasurement(
            systolic_mmhg=outcome.systolic,
            diastolic_mmhg=outcome.diastolic,
            pulse_bpm=outcome.pulse,
            device=self._info,
            mean_arterial_mmhg=round(
                outcome.diastolic + (outcome.systolic - outcome.diastolic) / 3
            ),
            device_time=self._clock.now(),
            status=outcome.status,
        )
        if self.on_result is not None:
            self.on_result(m)
        return m

    async def close(self) -> None:
        self.state = "closed"


class FakeGlucoseMeter(_Checkable):
    """A meter with a strip in: blood applied after a moment, 5 s countdown, result."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        speed: float = 1.0,
        apply_delay_s: float = 4.0,
        countdown_s: float = 5.0,
        seed: int | None = None,
    ) -> None:
        self._clock = clock or RealClock()
        self._speed = speed
        self._apply_delay_s = apply_delay_s
        self._countdown_s = countdown_s
        self._rng = random.Random(seed)
        self.script: deque[GlucoseOutcome] = deque()
        self.state = "ready"
        self.memory: list[GlucoseMeasurement] = []
        self.gate: asyncio.Event | None = None
        """When set to an un-set event, the meter holds its countdown until it is set."""
        self._info = _info("Simulated glucose meter", "SIM-GL-0001")
        self.battery_percent: int | None = SIMULATED_BATTERY_PERCENT

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def queue(self, *outcomes: GlucoseOutcome) -> None:
        self.script.extend(outcomes)

    async def measure(self, *, timeout_s: float = 180.0) -> GlucoseMeasurement:
        outcome = (
            self.script.popleft()
            if self.script
            else GlucoseOutcome(round(self._rng.uniform(4.5, 8.5), 1))
        )
        wait = (self._apply_delay_s + self._countdown_s) / self._speed
        if outcome.never_applied or wait > timeout_s:
            await self._clock.sleep(timeout_s)
            raise DeviceTimeoutError("no strip result in time", device=self._info.label)
        await self._clock.sleep(self._apply_delay_s / self._speed)
        if outcome.error is not None:
            raise outcome.error
        if self.gate is not None:
            await self.gate.wait()
        await self._clock.sleep(self._countdown_s / self._speed)
        value = outcome.mmol_per_l
        m = GlucoseMeasurement(
            mmol_per_l=value,
            original_value=value,
            original_unit=GlucoseUnit.MMOL_PER_L,
            device=self._info,
            device_time=self._clock.now(),
            sequence_number=len(self.memory) + 1,
            out_of_range=outcome.out_of_range,
        )
        self.memory.append(m)
        return m

    async def download(
        self,
        *,
        after_sequence: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[GlucoseMeasurement]:
        after = after_sequence or 0
        out = [m for m in self.memory if (m.sequence_number or 0) > after]
        if on_progress:
            on_progress(len(out), len(out))
        return out

    async def close(self) -> None:
        self.state = "closed"


VitalMeasurement = WeightMeasurement | OximetryMeasurement | TemperatureMeasurement


class FakeVitalDevice(_Checkable):
    """A scale, oximeter or thermometer: each ``measure()`` takes ``delay_s``,
    then returns the next scripted measurement or raises the scripted error
    (none scripted: it waits until the timeout, as a device nobody uses)."""

    def __init__(self, model: str, serial: str, *, clock: Clock, delay_s: float = 3.0) -> None:
        self._clock = clock
        self._delay_s = delay_s
        self._info = _info(model, serial)
        self.script: deque[VitalMeasurement | DeviceError] = deque()
        self.state = "ready"
        self.calls = 0
        self.gate: asyncio.Event | None = None
        """Set: each measurement also waits for it (a test that reads the
        measuring screen before the result comes, however slow the machine)."""

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def queue(self, *outcomes: VitalMeasurement | DeviceError) -> None:
        self.script.extend(outcomes)

    async def measure(
        self, *, timeout_s: float = 120.0, on_intermediate: Callable[[float], None] | None = None
    ) -> Any:
        self.calls += 1
        if not self.script:
            await self._clock.sleep(timeout_s)
            raise DeviceTimeoutError("nothing measured in time", device=self._info.label)
        await self._clock.sleep(self._delay_s)
        if self.gate is not None:
            await self.gate.wait()
        outcome = self.script.popleft()
        if isinstance(outcome, DeviceError):
            raise outcome
        return outcome

    async def close(self) -> None:
        self.state = "closed"


def fake_scale(clock: Clock) -> FakeVitalDevice:
    return FakeVitalDevice("Simulated weight scale", "SIM-WS-0001", clock=clock)


def fake_oximeter(clock: Clock) -> FakeVitalDevice:
    return FakeVitalDevice("Simulated pulse oximeter", "SIM-OX-0001", clock=clock)


def fake_thermometer(clock: Clock) -> FakeVitalDevice:
    return FakeVitalDevice("Simulated thermometer", "SIM-TH-0001", clock=clock)


def weight(
    kg: float, *, height_m: float | None = None, device: FakeVitalDevice
) -> WeightMeasurement:
    return WeightMeasurement(
        weight_kg=kg, original_value=kg, original_unit=WeightUnit.KG, device=device.info,
        height_m=height_m,
    )  # fmt: skip


def oximetry(spo2: int, pulse: int | None, *, device: FakeVitalDevice) -> OximetryMeasurement:
    return OximetryMeasurement(
        spo2_percent=spo2, pulse_bpm=pulse, device=device.info, mode=OximetryMode.SPOT_CHECK
    )


def temperature(celsius: float, *, device: FakeVitalDevice) -> TemperatureMeasurement:
    return TemperatureMeasurement(
        celsius=celsius, original_value=celsius, original_unit=TemperatureUnit.CELSIUS,
        device=device.info, site=TemperatureSite.ARMPIT,
    )  # fmt: skip


def demo_card(
    *, name: str = "王秀英", region: str = "110105", born: date | None = None
) -> IdCardData:
    """A made-up but valid card (correct check digit) for demos and tests."""
    born = born or date(1948, 6, 12)
    first17 = f"{region}{born:%Y%m%d}042"
    number = first17 + check_character(first17)
    return IdCardData(
        name=name,
        sex="女",
        nation="汉",
        birth_date=f"{born:%Y%m%d}",
        address="北京市朝阳区示例路1号",
        id_number=number,
        issuing_authority="北京市公安局朝阳分局",
        valid_from="20150101",
        valid_to="长期",
    )


class FakeIdCardReader(_Checkable):
    """A card reader: :meth:`present` puts a card on it."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or RealClock()
        self._cards: asyncio.Queue[IdCardData | DeviceError] | None = None
        self.state = "ready"
        self._info = _info("Simulated ID card reader", "SIM-ID-0001")

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def _queue(self) -> asyncio.Queue[IdCardData | DeviceError]:
        if self._cards is None:
            self._cards = asyncio.Queue()
        return self._cards

    def present(self, card: IdCardData | DeviceError) -> None:
        """Put a card (or a reader fault) on the reader."""
        self._queue().put_nowait(card)

    async def read_card(self, *, timeout_s: float = 60.0) -> IdCardData:
        queue = self._queue()
        getter = asyncio.ensure_future(queue.get())
        sleeper = asyncio.ensure_future(self._clock.sleep(timeout_s))
        try:
            done, _ = await asyncio.wait({getter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            if not getter.done():
                getter.cancel()
        if getter not in done:
            raise DeviceTimeoutError("no card", device=self._info.label)
        item = getter.result()
        if isinstance(item, DeviceError):
            raise item
        return item

    async def close(self) -> None:
        self.state = "closed"


class FakePrinter(_Checkable):
    """A receipt printer that keeps every raster it is given (no bytes: the
    driver's own tests and the GUI test use the emulated printer)."""

    def __init__(self, *, dot_width: int = 384) -> None:
        self.dot_width = dot_width
        self.printed: list[Raster] = []
        self.errors: deque[DeviceError] = deque()
        """Raised by the next slips, one each, instead of printing them."""
        self.gate: asyncio.Event | None = None
        """When set to an un-set event, a slip waits for it (printing slowly)."""
        self.state = "ready"
        self._info = _info("Simulated receipt printer", "SIM-PR-0001")

    @property
    def info(self) -> DeviceInfo:
        return self._info

    async def print_raster(self, raster: Raster) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.errors:
            raise self.errors.popleft()
        if raster.width > self.dot_width:
            raise ValueError(f"{raster.width} dots on a {self.dot_width}-dot printer")
        self.printed.append(raster)

    async def close(self) -> None:
        self.state = "closed"


@asynccontextmanager
async def open_fake_devices(
    *, clock: Clock | None = None, speed: float = 1.0, start_delay_s: float = 2.0
) -> AsyncIterator[Devices]:
    """A kiosk's :class:`~kiosk.flow.ports.Devices` of fakes (no QR scanner),
    for ``run_kiosk(devices=...)``; ``speed`` scales their timing."""
    clock = clock or RealClock()
    devices = Devices(
        blood_pressure=FakeBloodPressureMonitor(
            clock=clock, speed=speed, start_delay_s=start_delay_s
        ),
        glucose=FakeGlucoseMeter(clock=clock, speed=speed),
        id_card=FakeIdCardReader(clock=clock),
    )
    try:
        yield devices
    finally:
        for device in (devices.blood_pressure, devices.glucose, devices.id_card):
            if device is not None:
                await device.close()
