"""The interfaces the kiosk sees. Every driver implements one of them.

Errors are from :mod:`healthkiosk.errors`: ``DeviceNotFoundError``,
``DeviceConnectionError`` (link lost: what arrived is kept),
``DeviceTimeoutError``, ``ProtocolError``/``InvalidChecksum`` and
``MeasurementError`` (the device reported a problem: no reading) and, for a
printer, ``PrinterError``.

Visit-bound capture (:mod:`drivers.memory`): every measuring device has
``begin_step()``, called by the kiosk when a visit's measurement step begins
(the driver takes its baseline: a meter's newest sequence number, a serial
port's input read and flushed, a memory's index pointers), and
``take_memory()``: the records that came from outside the step's window (made
between visits, sent from the device's memory at connect, printed while
nobody waited, time-stamped before the step by a trusted clock). Those are
device-memory records, never a visit's reading. ``measure()`` without a step
begun begins one itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from drivers.printer.escpos_codec import Raster
from healthkiosk.readings import (
    BloodPressureMeasurement,
    CuffPressure,
    DeviceInfo,
    DeviceMemoryRecord,
    GlucoseMeasurement,
    IdCardData,
    OximetryMeasurement,
    TemperatureMeasurement,
    WeightMeasurement,
)


class BloodPressureMonitor(Protocol):
    """A monitor the elder starts; the kiosk waits for its result."""

    @property
    def info(self) -> DeviceInfo: ...

    async def measure(
        self,
        *,
        on_cuff_pressure: Callable[[CuffPressure], None] | None = None,
        timeout_s: float = 180.0,
    ) -> BloodPressureMeasurement:
        """Wait for the next complete measurement and return it."""
        ...

    async def begin_step(self) -> None:
        """A visit's measurement step begins now: take the baseline."""
        ...

    def take_memory(self) -> list[DeviceMemoryRecord]:
        """Device-memory records kept since the last call (then forgotten)."""
        ...

    async def close(self) -> None: ...


class GlucoseMeter(Protocol):
    @property
    def info(self) -> DeviceInfo: ...

    async def measure(self, *, timeout_s: float = 180.0) -> GlucoseMeasurement:
        """Wait for the next new record (a strip just measured)."""
        ...

    async def download(
        self,
        *,
        after_sequence: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[GlucoseMeasurement]:
        """Records newer than ``after_sequence`` (all when None), oldest first."""
        ...

    async def begin_step(self) -> None:
        """A visit's measurement step begins now: take the baseline."""
        ...

    def take_memory(self) -> list[DeviceMemoryRecord]:
        """Device-memory records kept since the last call (then forgotten)."""
        ...

    async def close(self) -> None: ...


class WeightScale(Protocol):
    """A scale the elder steps on; the kiosk waits for its weight."""

    @property
    def info(self) -> DeviceInfo: ...

    async def measure(self, *, timeout_s: float = 120.0) -> WeightMeasurement:
        """Wait for the next weight (stored ones sent before it are device memory)."""
        ...

    async def begin_step(self) -> None:
        """A visit's measurement step begins now: take the baseline."""
        ...

    def take_memory(self) -> list[DeviceMemoryRecord]:
        """Device-memory records kept since the last call (then forgotten)."""
        ...

    async def close(self) -> None: ...


class PulseOximeter(Protocol):
    @property
    def info(self) -> DeviceInfo: ...

    async def measure(self, *, timeout_s: float = 120.0) -> OximetryMeasurement:
        """Wait for the first stable reading."""
        ...

    async def begin_step(self) -> None:
        """A visit's measurement step begins now: take the baseline."""
        ...

    def take_memory(self) -> list[DeviceMemoryRecord]:
        """Device-memory records kept since the last call (then forgotten)."""
        ...

    async def close(self) -> None: ...


class Thermometer(Protocol):
    @property
    def info(self) -> DeviceInfo: ...

    async def measure(
        self,
        *,
        on_intermediate: Callable[[float], None] | None = None,
        timeout_s: float = 120.0,
    ) -> TemperatureMeasurement:
        """Wait for the next temperature (°C); ``on_intermediate`` gets live values."""
        ...

    async def begin_step(self) -> None:
        """A visit's measurement step begins now: take the baseline."""
        ...

    def take_memory(self) -> list[DeviceMemoryRecord]:
        """Device-memory records kept since the last call (then forgotten)."""
        ...

    async def close(self) -> None: ...


class IdCardReader(Protocol):
    @property
    def info(self) -> DeviceInfo: ...

    async def read_card(self, *, timeout_s: float = 60.0) -> IdCardData:
        """Wait for a card on the reader and return its text block."""
        ...

    async def close(self) -> None: ...


class ReceiptPrinter(Protocol):
    """A thermal receipt printer: the take-home slip, as one raster image."""

    @property
    def info(self) -> DeviceInfo: ...

    @property
    def dot_width(self) -> int:
        """Printable dots across the paper (the slip is drawn this wide)."""
        ...

    async def print_raster(self, raster: Raster) -> None:
        """Print the image; :class:`~healthkiosk.errors.PrinterError` when the
        printer cannot (no paper, cover open, offline, no answer)."""
        ...

    async def close(self) -> None: ...
