"""The interfaces the kiosk sees. Every driver implements one of them.

Errors are from :mod:`healthkiosk.errors`: ``DeviceNotFoundError``,
``DeviceConnectionError`` (link lost: what arrived is kept),
``DeviceTimeoutError``, ``ProtocolError``/``InvalidChecksum`` and
``MeasurementError`` (the device reported a problem: no reading).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from healthkiosk.readings import (
    BloodPressureMeasurement,
    CuffPressure,
    DeviceInfo,
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

    async def close(self) -> None: ...


class WeightScale(Protocol):
    """A scale the elder steps on; the kiosk waits for its weight."""

    @property
    def info(self) -> DeviceInfo: ...

    async def measure(self, *, timeout_s: float = 120.0) -> WeightMeasurement:
        """Wait for the next weight (stored ones sent before it are device memory)."""
        ...

    async def close(self) -> None: ...


class PulseOximeter(Protocol):
    @property
    def info(self) -> DeviceInfo: ...

    async def measure(self, *, timeout_s: float = 120.0) -> OximetryMeasurement:
        """Wait for the first stable reading."""
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

    async def close(self) -> None: ...


class IdCardReader(Protocol):
    @property
    def info(self) -> DeviceInfo: ...

    async def read_card(self, *, timeout_s: float = 60.0) -> IdCardData:
        """Wait for a card on the reader and return its text block."""
        ...

    async def close(self) -> None: ...
