"""Devices that (re)connect when asked to measure.

A monitor that is switched off when the kiosk starts, or whose BLE link
drops, must not need a kiosk restart. These wrappers hold a driver's opener
(``drivers.registry``: an async context manager yielding the device), open
it on the first call and close it after a connection error, so the next
"try again" connects afresh. The error itself still reaches the flow (and
the elder sees "device not found" / "link lost").

Each wrapper given a :class:`management.devicestatus.DeviceBook` records there
whether its device is connected, when it was last seen and when it last gave
a reading (read by ``kiosk-sync`` for the station's status).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

from drivers.printer.escpos_codec import Raster
from healthkiosk.errors import DeviceConnectionError, DeviceError, DeviceNotFoundError
from healthkiosk.readings import (
    BloodPressureMeasurement,
    CuffPressure,
    DeviceInfo,
    DeviceMemoryRecord,
    GlucoseMeasurement,
    IdCardData,
    OximetryMeasurement,
    TemperatureMeasurement,
    Transport,
    WeightMeasurement,
)
from management.devicestatus import DeviceBook

Opener = Callable[..., AbstractAsyncContextManager[Any]]
"""``opener()`` opens the role's device; ``opener(any_device=True)`` whichever
device of its kind answers (the technician's Pair)."""


class _Reconnecting:
    def __init__(
        self,
        opener: Opener,
        *,
        name: str,
        transport: str,
        role: str = "",
        book: DeviceBook | None = None,
        pairing: Callable[[str], None] | None = None,
        bondable: bool = False,
    ) -> None:
        """``pairing``: pins the address of the device the technician paired
        (no address configured); ``bondable``: a BLE device, whose driver can
        bond with this station (its ``pair()``)."""
        self._opener = opener
        self._pairing = pairing
        self._bondable = bondable
        self._role = role
        self._book = book
        self._stack: AsyncExitStack | None = None
        self._device: Any = None
        self._lock = asyncio.Lock()
        self._placeholder = DeviceInfo(model=name, transport=Transport(transport))
        self.state = "closed"
        self._lost_memory: list[DeviceMemoryRecord] = []
        """Kept by a device closed after a lost link, until taken."""

    @property
    def info(self) -> DeviceInfo:
        return self._device.info if self._device is not None else self._placeholder

    def _record(self, *, connected: bool, reading: bool = False) -> None:
        if self._book is None or not self._role:
            return
        battery = getattr(self._device, "battery_percent", None)
        drift = getattr(self._device, "clock_drift_s", None)
        self._book.update(
            self._role,
            model=self.info.model,
            connected=connected,
            battery_percent=battery if isinstance(battery, int) else None,
            reading=reading,
            clock_drift_s=drift if isinstance(drift, int | float) else None,
        )

    @property
    def pairable(self) -> bool:
        return self._pairing is not None or self._bondable

    async def _get(self, *, any_device: bool = False) -> Any:
        async with self._lock:
            if self._device is None:
                stack = AsyncExitStack()
                opening = self._opener(any_device=True) if any_device else self._opener()
                try:
                    self._device = await stack.enter_async_context(opening)
                except BaseException:
                    await stack.aclose()
                    self.state = "missing"
                    self._record(connected=False)
                    raise
                self._stack = stack
                self.state = "ready"
                self._record(connected=True)
            return self._device

    async def _call(self, method: str, **kwargs: Any) -> Any:
        device = await self._get()
        try:
            result = await getattr(device, method)(**kwargs)
        except (DeviceConnectionError, DeviceNotFoundError):
            self.state = "error"
            self._record(connected=False)
            self._lost_memory = [*self._lost_memory, *self._memory_of(device)]
            await self.close()
            self.state = "error"
            raise
        self._record(connected=True, reading=method != "begin_step")
        return result

    @staticmethod
    def _memory_of(device: Any) -> list[DeviceMemoryRecord]:
        taken = getattr(device, "take_memory", None)
        return list(taken()) if callable(taken) else []

    async def check(self) -> DeviceInfo:
        """The technician's test: connect afresh and return who answered.

        The old link is closed first, so a device that went away is found
        missing now rather than at the next elder's measurement.
        """
        await self.close()
        device = await self._get()
        info: DeviceInfo = device.info
        return info

    async def pair(self, *, on_step: Callable[[str], None] | None = None) -> DeviceInfo:
        """The technician's Pair, in the device's pairing window: the driver
        bonds with the device (when it can: ``pair()``; ``on_step`` follows
        it), and without a configured address the device of this kind that
        answers (the one in front of the kiosk) is pinned, so the kiosk
        connects to that device only from now on."""
        if not self.pairable:
            raise DeviceError("this device is not paired (a serial device)", reason="not_pairable")
        await self.close()
        device = await self._get(any_device=self._pairing is not None)
        try:
            bond = getattr(device, "pair", None)
            if callable(bond):
                info: DeviceInfo = await (bond() if on_step is None else bond(on_step=on_step))
            else:
                info = device.info
            if self._pairing is not None:
                if not info.address:
                    raise DeviceError("the device did not say its address", reason="not_pairable")
                self._pairing(info.address)
        finally:
            await self.close()  # the next use opens the pinned device
        return info

    async def begin_step(self) -> None:
        """A visit's measurement step begins: the device takes its baseline
        (opened first; a device that cannot be opened now takes it when the
        measurement opens it)."""
        await self._call("begin_step")

    def take_memory(self) -> list[DeviceMemoryRecord]:
        """The device's device-memory records since the last call (counted in
        the station's status)."""
        records = [*self._lost_memory, *self._memory_of(self._device)]
        self._lost_memory = []
        if records and self._book is not None and self._role:
            self._book.memory_records(self._role, len(records))
        return records

    async def close(self) -> None:
        async with self._lock:
            stack, self._stack, self._device = self._stack, None, None
            if stack is not None:
                await stack.aclose()
            self.state = "closed"


class ReconnectingBloodPressureMonitor(_Reconnecting):
    async def measure(
        self,
        *,
        on_cuff_pressure: Callable[[CuffPressure], None] | None = None,
        timeout_s: float = 180.0,
    ) -> BloodPressureMeasurement:
        result: BloodPressureMeasurement = await self._call(
            "measure", on_cuff_pressure=on_cuff_pressure, timeout_s=timeout_s
        )
        return result


class ReconnectingGlucoseMeter(_Reconnecting):
    async def measure(self, *, timeout_s: float = 180.0) -> GlucoseMeasurement:
        result: GlucoseMeasurement = await self._call("measure", timeout_s=timeout_s)
        return result

    async def download(
        self,
        *,
        after_sequence: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[GlucoseMeasurement]:
        result: list[GlucoseMeasurement] = await self._call(
            "download", after_sequence=after_sequence, on_progress=on_progress
        )
        return result


class ReconnectingWeightScale(_Reconnecting):
    async def measure(self, *, timeout_s: float = 120.0) -> WeightMeasurement:
        result: WeightMeasurement = await self._call("measure", timeout_s=timeout_s)
        return result


class ReconnectingPulseOximeter(_Reconnecting):
    async def measure(self, *, timeout_s: float = 120.0) -> OximetryMeasurement:
        result: OximetryMeasurement = await self._call("measure", timeout_s=timeout_s)
        return result


class ReconnectingThermometer(_Reconnecting):
    async def measure(
        self,
        *,
        on_intermediate: Callable[[float], None] | None = None,
        timeout_s: float = 120.0,
    ) -> TemperatureMeasurement:
        result: TemperatureMeasurement = await self._call(
            "measure", on_intermediate=on_intermediate, timeout_s=timeout_s
        )
        return result


class ReconnectingIdCardReader(_Reconnecting):
    async def read_card(self, *, timeout_s: float = 60.0) -> IdCardData:
        result: IdCardData = await self._call("read_card", timeout_s=timeout_s)
        return result


class ReconnectingPrinter(_Reconnecting):
    """The receipt printer (:class:`drivers.base.ReceiptPrinter`), opened when a
    slip is printed; ``dot_width`` is the configured one, known before it opens."""

    def __init__(self, opener: Opener, *, dot_width: int, **kw: Any) -> None:
        super().__init__(opener, **kw)
        self.dot_width = dot_width

    async def print_raster(self, raster: Raster) -> None:
        await self._call("print_raster", raster=raster)

    async def check(self) -> DeviceInfo:
        """The technician's test: connect afresh and ask the printer whether it
        can print (no paper, an open cover or no answer fail the test)."""
        info = await super().check()
        await self._call("check_ready")
        return info
