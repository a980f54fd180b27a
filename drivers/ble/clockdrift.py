"""How far a device's clock is from the station's, measured at a connection.

The station notes its own time just before and just after reading the
device's clock; the device's time is compared with the midpoint of the two:
``drift = device time − (before + after) / 2``. A positive drift: the device
is ahead. The uncertainty is half the read's duration plus the device
clock's resolution (1 s for Omron's clock section and for a Current Time
without fractions). Pure: no I/O.

Whether the station may *correct* a device clock is another question: only
when the station's own clock is trusted (synchronised). Until the core's
clock-trust module is merged, the drivers take that from their
``clock_trusted`` option (:class:`drivers.ble.options.BleOptions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class ClockDrift:
    device_time: datetime
    """What the device's clock read (timezone-aware)."""
    drift_s: float
    """Device − station, in seconds (positive: the device is ahead)."""
    uncertainty_s: float

    def station_time(self, device_time: datetime) -> datetime:
        """A time the device stamped, on the station's clock (the drift taken off)."""
        return device_time - timedelta(seconds=self.drift_s)


def measure_drift(
    device_time: datetime, *, before: datetime, after: datetime, resolution_s: float = 1.0
) -> ClockDrift:
    if device_time.tzinfo is None or before.tzinfo is None or after.tzinfo is None:
        raise ValueError("clock drift needs timezone-aware times")
    if after < before:
        raise ValueError("the station's clock went back during the read")
    midpoint = before + (after - before) / 2
    return ClockDrift(
        device_time=device_time,
        drift_s=round((device_time - midpoint).total_seconds(), 3),
        uncertainty_s=round((after - before).total_seconds() / 2 + resolution_s, 3),
    )
