"""The measurement step's window: what a device sends is a visit's reading only
when the device produced it after that visit's measurement step began.

The kiosk calls a driver's ``begin_step()`` when a visit's measurement step
begins (the blood pressure preparation, the glucose question); the driver
takes its baseline there (a meter's newest sequence number, a serial port's
input read and flushed, a memory's index pointers) and keeps everything from
outside the window in a :class:`StepWindow`: device-memory records, which the
kiosk takes with ``take_memory()`` and keeps for the technician, never
attributing them to anyone.

Where the device's clock can be trusted (its drift from the station's clock
is known, and the station's own clock is synchronised), a record whose time
stamp, corrected by that drift, is before the step began is also outside the
window, whatever else says it is new.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from healthkiosk.readings import AnyMeasurement, DeviceMemoryRecord, MemoryReason

log = logging.getLogger(__name__)

STEP_TOLERANCE_S = 120.0
"""How far before the step's start a trusted device time may be and still be
the step's (clocks read to the minute, a drift measured at connection)."""


class StepWindow:
    """When the current step began, and the records kept from outside it."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.started_at: datetime | None = None
        """The station's clock (UTC) when the step began; None: no step yet."""
        self._memory: list[DeviceMemoryRecord] = []

    @property
    def open(self) -> bool:
        return self.started_at is not None

    def begin(self, now: datetime | None = None) -> None:
        self.started_at = now or datetime.now(UTC)

    def keep(self, reading: AnyMeasurement, reason: MemoryReason) -> None:
        """A record from outside the window: device memory, nobody's reading."""
        log.info(
            "%s: %s record kept as device memory (%s)",
            self.label or reading.device.label,
            type(reading).__name__,
            reason.value,
        )
        self._memory.append(DeviceMemoryRecord(reading, reason, datetime.now(UTC)))

    def take(self) -> list[DeviceMemoryRecord]:
        """The records kept since the last call, oldest first (then forgotten)."""
        out, self._memory = self._memory, []
        return out

    def peek(self) -> list[DeviceMemoryRecord]:
        return list(self._memory)

    def before_step(
        self,
        device_time: datetime | None,
        *,
        drift_s: float | None,
        clock_trusted: bool,
        tolerance_s: float = STEP_TOLERANCE_S,
    ) -> bool:
        """True when the device time, corrected by the device clock's drift
        (device − station), is before the step began. False when that cannot be
        told: no step, no time stamp, no known drift, or a station clock that is
        not synchronised (then the baseline alone decides)."""
        if self.started_at is None or device_time is None or drift_s is None:
            return False
        if not clock_trusted or device_time.tzinfo is None:
            return False
        corrected = device_time - timedelta(seconds=drift_s)
        return corrected < self.started_at - timedelta(seconds=tolerance_s)
