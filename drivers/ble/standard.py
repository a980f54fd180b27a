"""What the drivers of the Bluetooth SIG's standard services do alike.

:class:`StandardDevice`: found by its service (or its address), connected,
named by Device Information, its battery read, then what its own service
needs (:meth:`StandardDevice._on_connect`); a visit's step window
(:mod:`drivers.memory`); closed.

:class:`BurstDevice`: a device that sends what it stored together with the
new measurement, in one burst, time-stamped by its own clock (the Weight
Scale and Health Thermometer services). Its clock's offset is read at
connection, so that a stored record older than the step is device memory;
the station's time is written after the measurement where allowed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from drivers.ble.burst import collect_burst, read_clock_offset
from drivers.ble.link import BleBackend, BleLink, Closable, find_device, open_on_link
from drivers.ble.options import BleOptions
from drivers.memory import STEP_TOLERANCE_S, StepWindow
from healthkiosk.errors import DeviceConnectionError, DeviceError, DeviceTimeoutError
from healthkiosk.readings import DeviceInfo, DeviceMemoryRecord

log = logging.getLogger(__name__)

M = TypeVar("M")
E = TypeVar("E")
_T = TypeVar("_T")

DEFAULT_SETTLE_S = 1.0
"""Quiet this long after a burst's last record: the burst is over."""
DEFAULT_MAX_AGE_S = 300.0
"""A record older than this (by the device's clock) is a stored one."""


class StandardDevice:
    """The common part of a driver over one standard service."""

    MODEL: ClassVar[str]
    service_uuid: ClassVar[str]

    def __init__(self, *, address: str | None, backend: BleBackend, options: BleOptions) -> None:
        self.address = address
        self.backend = backend
        self.options = options
        self._info = DeviceInfo(
            model=self.MODEL, transport=backend.transport, address=address or ""
        )
        self._link: BleLink | None = None
        self.clock_set_at: datetime | None = None
        self.battery_percent: int | None = None
        self.window = StepWindow(self.MODEL)
        """The visit's step: what came from the device's storage is device memory."""

    @property
    def info(self) -> DeviceInfo:
        return self._info

    async def connect(self, *, scan_timeout_s: float) -> BleLink:
        device = await find_device(
            service_uuid=self.service_uuid,
            address=self.address,
            backend=self.backend,
            timeout_s=self.options.scan_timeout_s or scan_timeout_s,
            label=self.MODEL,
        )
        link = BleLink(device, backend=self.backend, label=self.MODEL)
        self._link = link
        await link.connect(timeout_s=self.options.connect_timeout_s)
        self._info = await link.read_device_info(model_fallback=self.MODEL)
        self.battery_percent = await link.read_battery_level()
        await self._on_connect(link)
        return link

    async def _on_connect(self, link: BleLink) -> None:
        """What the device's own service reads once connected (its features)."""

    async def _on_link(
        self,
        work: Callable[[BleLink, float], Awaitable[_T]],
        timeout_s: float,
        *,
        waited_for: str,
        on_timeout: Callable[[], DeviceError | None] = lambda: None,
    ) -> _T:
        """Connect, do ``work(link, deadline)`` (the loop time it must end by),
        close; all within ``timeout_s``, else the error ``on_timeout`` gives
        (what the device showed meanwhile), else DeviceTimeoutError naming
        ``waited_for``."""
        try:
            async with asyncio.timeout(timeout_s) as deadline:
                link = await self.connect(scan_timeout_s=timeout_s)
                try:
                    return await work(link, deadline.when() or 0.0)
                finally:
                    await link.close()
                    self._link = None
        except DeviceError:
            raise
        except TimeoutError:
            raise on_timeout() or DeviceTimeoutError(
                f"no {waited_for} within {timeout_s:.0f} s", device=self._info.label
            ) from None

    async def begin_step(self) -> None:
        """The visit's step begins: what the device sends from its storage, or
        dated (by its own clock) before now, is device memory."""
        self.window.begin()

    def take_memory(self) -> list[DeviceMemoryRecord]:
        return self.window.take()

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close()


class BurstDevice(StandardDevice, Generic[M, E]):
    """A device whose new measurement comes in a burst after its stored ones.

    ``M`` is its measurement, ``E`` an event of the burst (a characteristic's
    value, with what it was where a device sends more than one kind)."""

    WHAT: ClassVar[str]
    """The measurement's word in messages: "weight", "temperature"."""

    def __init__(self, *, address: str | None, backend: BleBackend, options: BleOptions) -> None:
        super().__init__(address=address, backend=backend, options=options)
        self.settle_s = float(options.extra.get("settle_s", DEFAULT_SETTLE_S))
        self.max_age_s = float(options.extra.get("max_age_s", DEFAULT_MAX_AGE_S))
        self.clock_offset: timedelta | None = None
        """The device's clock minus the station's, read at the last connection."""
        self.memory: list[M] = []
        """Stored measurements sent before the last result, oldest first."""

    @property
    def clock_drift_s(self) -> float | None:
        """``clock_offset`` in seconds, as the station's status reports it."""
        return None if self.clock_offset is None else self.clock_offset.total_seconds()

    async def _on_connect(self, link: BleLink) -> None:
        await self._read_service(link)
        self.clock_offset = await read_clock_offset(link, self.options.tz)

    async def _read_service(self, link: BleLink) -> None:
        """The service's own characteristics, read once connected."""

    def _max_age_s(self) -> float:
        """A stored record is older than ``max_age_s``, or than the step."""
        started = self.window.started_at
        if started is None:
            return self.max_age_s
        since = (datetime.now(UTC) - started).total_seconds()
        return min(self.max_age_s, since + STEP_TOLERANCE_S)

    async def _measure(
        self, until_new: Callable[[BleLink, float], Awaitable[M]], timeout_s: float
    ) -> M:
        """Connect, wait for a new measurement (``until_new(link, deadline)``),
        set the device's clock, close."""

        async def measured(link: BleLink, deadline: float) -> M:
            reading = await until_new(link, deadline)
            await self._set_clock(link)
            return reading

        return await self._on_link(measured, timeout_s, waited_for=f"new {self.WHAT}")

    async def _collect(
        self,
        link: BleLink,
        events: asyncio.Queue[E],
        *,
        is_result: Callable[[E], bool],
        result: Callable[[list[E]], M | None],
        deadline: float,
    ) -> M:
        """Bursts until one holds a new measurement (``result`` of all that came
        is not None); the stored ones are kept in ``memory`` by ``result``."""
        arrived: list[E] = []
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                arrived += await collect_burst(
                    link,
                    events,
                    what=f"a {self.WHAT}",
                    is_result=is_result,
                    timeout_s=remaining,
                    settle_s=self.settle_s,
                )
            except DeviceConnectionError as err:
                if arrived:  # only stored records came before the link went
                    raise DeviceConnectionError(
                        f"link lost before a new {self.WHAT} ({len(self.memory)} stored kept)",
                        device=self._info.label,
                    ) from err
                raise
            reading = result(arrived)
            if reading is not None:
                return reading

    async def _set_clock(self, link: BleLink) -> None:
        """After the measurement (its time stamps are in the clock whose offset
        was read at connection), while the device is still connected."""
        if not self.options.may_set_clock() or link.lost.is_set():
            return
        now = datetime.now(self.options.tz)
        try:
            if await link.set_current_time(now):
                self.clock_set_at = now
        except DeviceError as err:
            log.info("%s: clock not set: %s", self._info.label, err)


_D = TypeVar("_D", bound=Closable)
_D_co = TypeVar("_D_co", bound=Closable, covariant=True)


class _Made(Protocol[_D_co]):
    def __call__(
        self, *, address: str | None, backend: BleBackend, options: BleOptions
    ) -> _D_co: ...


def opener(make: _Made[_D]) -> Callable[..., AbstractAsyncContextManager[_D]]:
    """The registry's ``open_device`` (see drivers/registry.py) of a driver made
    from its address, backend and options: the device at ``address`` (or the
    first one advertising its service) over ``backend`` (the platform's
    Bluetooth when None), closed on exit. ``port`` is not used by BLE drivers."""

    @asynccontextmanager
    async def open_device(
        *,
        port: str | None = None,
        address: str | None = None,
        options: Mapping[str, Any] | None = None,
        backend: BleBackend | None = None,
    ) -> AsyncIterator[_D]:
        opts = BleOptions.parse(options)
        async with open_on_link(
            lambda addr, via: make(address=addr, backend=via, options=opts),
            address=address,
            backend=backend,
        ) as device:
            yield device

    return open_device
