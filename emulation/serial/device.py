"""What every emulated serial device shares: the pty, the faults, the options.

An emulator speaks the device's bytes on the master side of a
:class:`~emulation.serial.pty_link.PtyLink`; the real driver opens the slave
through its ordinary opener (:func:`drivers.serial.opener.port_opener`), as
it would open ``/dev/ttyUSB0``.
Faults are injected on the wire, so the driver under test sees exactly what
a misbehaving device would send:

======================  ==========================================================
fault                   what the emulated device does
======================  ==========================================================
``none``                behaves
``garbage``             sends random bytes before every response (framed
                        protocols) or a line of random bytes (line protocols)
``noise``               answers nothing; sends :attr:`EmulatorOptions.noise_bytes`
                        seeded random bytes instead (one megabyte by default)
``checksum``            corrupts the checksum of its data responses
``drop_measurement``    the adapter is unplugged while a measurement is taken
``drop_download``       the adapter is unplugged halfway through a memory dump
``device_error``        reports its own error (an error record, status or code)
``out_of_range``        the new measurement is out of the device's range
                        (``LO``/``HI`` on a meter, see ``out_of_range``)
``wrong_clock``         its clock is :attr:`EmulatorOptions.clock_offset_s` off
``no_card``             (ID reader) never finds a card
``card_removed``        (ID reader) the card is taken away during the read
``no_paper``            (printer) the roll is empty
``paper_out``           (printer) the roll runs out during the slip
``cover_open``          (printer) the cover is open
``offline``             (printer) offline with an error
``silent``              (printer) never answers a status query
``drop_print``          (printer) the cable is pulled out during the slip
======================  ==========================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emulation.serial.pty_link import PtyLink, PtyUnplugged
from healthkiosk.errors import ConfigError

log = logging.getLogger(__name__)


class Fault(StrEnum):
    NONE = "none"
    GARBAGE = "garbage"
    NOISE = "noise"
    CHECKSUM = "checksum"
    DROP_MEASUREMENT = "drop_measurement"
    DROP_DOWNLOAD = "drop_download"
    DEVICE_ERROR = "device_error"
    OUT_OF_RANGE = "out_of_range"
    WRONG_CLOCK = "wrong_clock"
    NO_CARD = "no_card"
    CARD_REMOVED = "card_removed"
    NO_PAPER = "no_paper"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"
    SILENT = "silent"
    DROP_PRINT = "drop_print"


class EmulatorOptions(BaseModel):
    """``options.emulator`` of a device's configuration (all optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fault: Fault = Fault.NONE
    faults: list[Fault] = Field(default_factory=list)
    """Several faults at once (``devices read --emulate --fault NAME``, repeatable)."""
    records: int = Field(default=5, ge=0, le=10_000)
    """Records already in the device's memory when it starts."""
    seed: int = 1
    measure_after_s: float | None = Field(default=0.3, ge=0)
    """A new measurement completes this long after start (None: never)."""
    repeat_after_s: float | None = Field(default=None, gt=0)
    """Then another every this many seconds (for ``--simulate`` and the demo)."""
    clock_offset_s: float = 3 * 24 * 3600.0
    """How wrong the clock is under the ``wrong_clock`` fault."""
    replug_after_s: float | None = Field(default=None, ge=0)
    """After a drop fault, plug the adapter back in after this long."""
    noise_bytes: int = Field(default=1 << 20, ge=1)
    out_of_range: Literal["LO", "HI"] = "LO"
    timezone: str = "Asia/Shanghai"

    def all_faults(self) -> frozenset[Fault]:
        return frozenset({self.fault, *self.faults} - {Fault.NONE})

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Self:
        raw = dict((options or {}).get("emulator") or {})
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            key = "options.emulator." + ".".join(str(p) for p in first["loc"])
            raise ConfigError(first["msg"], key=key) from None


class SerialEmulator(ABC):
    """Base of the emulated serial devices; subclasses answer the host."""

    model = "emulated device"

    def __init__(self, options: EmulatorOptions) -> None:
        self.options = options
        self.faults: frozenset[Fault] = options.all_faults()
        self.tz = ZoneInfo(options.timezone)
        self.rng = random.Random(options.seed)
        self.link = PtyLink()
        self.started = asyncio.get_running_loop().time()
        self.clock_offset = timedelta(
            seconds=options.clock_offset_s if Fault.WRONG_CLOCK in self.faults else 0.0
        )
        self.noise_sent = 0
        self._next_measure_at: float | None = options.measure_after_s
        self._replugged = asyncio.Event()

    @property
    def port(self) -> str:
        return self.link.port

    def clock(self) -> datetime:
        """The device's own clock (naive local time, possibly wrong)."""
        now = datetime.now(self.tz).replace(tzinfo=None, microsecond=0)
        return now + self.clock_offset

    def set_clock(self, value: datetime) -> None:
        now = datetime.now(self.tz).replace(tzinfo=None, microsecond=0)
        self.clock_offset = value - now

    def measurement_due(self) -> bool:
        """True once per scheduled measurement (at ``measure_after_s``, then
        every ``repeat_after_s``)."""
        due = self._next_measure_at
        if due is None or self.elapsed() < due:
            return False
        repeat = self.options.repeat_after_s
        self._next_measure_at = None if repeat is None else due + repeat
        return True

    def schedule_measurement(self, after_s: float) -> None:
        """Another measurement ``after_s`` from now (the elder measures again)."""
        self._next_measure_at = self.elapsed() + after_s

    def elapsed(self) -> float:
        return asyncio.get_running_loop().time() - self.started

    def garbage(self, n: int = 24) -> bytes:
        return self.rng.randbytes(n)

    async def send(self, data: bytes) -> None:
        await self.link.write(data)

    async def send_noise(self) -> None:
        """The ``noise`` fault: one stream of ``noise_bytes`` (one megabyte by
        default) of seeded random bytes, continued by later calls until spent."""
        while self.noise_sent < self.options.noise_bytes:
            chunk = self.rng.randbytes(min(4096, self.options.noise_bytes - self.noise_sent))
            await self.link.write(chunk)
            self.noise_sent += len(chunk)

    def unplug(self) -> None:
        """Pull the adapter out (and plug it back later if configured)."""
        log.info("emulator %s: unplugged", self.model)
        self.link.unplug()
        if self.options.replug_after_s is not None:
            asyncio.get_running_loop().call_later(self.options.replug_after_s, self._replug)

    def _replug(self) -> None:
        self.link.replug()
        self.faults = frozenset()  # a re-plugged device behaves
        self._replugged.set()
        log.info("emulator %s: plugged back in", self.model)

    @abstractmethod
    async def on_bytes(self, data: bytes) -> None:
        """Bytes from the host."""

    async def tick(self) -> None:  # noqa: B027 (optional hook)
        """Called about every 50 ms (measurements completing, and so on)."""

    async def serve(self) -> None:
        """Answer the host until cancelled; survives unplug/replug."""
        ticker = asyncio.create_task(self._tick_loop())
        try:
            while True:
                try:
                    data = await self.link.read()
                except PtyUnplugged:
                    self._replugged.clear()
                    await self._replugged.wait()
                    continue
                try:
                    await self.on_bytes(data)
                except PtyUnplugged:
                    continue
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            try:
                await self.tick()
            except PtyUnplugged:
                continue

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Plug in, answer in a task, yield the port path; unplug at exit."""
        self.link.plug()
        task = asyncio.create_task(self.serve(), name=f"emulator {self.model}")
        try:
            yield self.port
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.link.close()


async def serve_until_cancelled(
    emulator: SerialEmulator, ready: Callable[[str], Any] | None
) -> None:
    """``healthkiosk devices emulate``: plug in, ``ready(port)``, answer until cancelled."""
    async with emulator.running() as port:
        if ready is not None:
            ready(port)
        await asyncio.Event().wait()
