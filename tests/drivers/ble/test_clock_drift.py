"""Device clock drift: device time − the midpoint of the station's time around
the read (research notes devices17 §4.3), measured by the standard drivers
through Current Time (0x2A2B) against their twins, and the clock written only
when the station's clock is trusted."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from drivers.ble.bps import StandardBpsMonitor
from drivers.ble.clockdrift import measure_drift
from drivers.ble.link import BleBackend
from drivers.ble.options import BleOptions
from emulation.ble.bps import BpsEmulator
from emulation.ble.peripheral import WRONG_CLOCK_OFFSET, Fault

TZ = ZoneInfo("Asia/Shanghai")


def test_drift_is_taken_from_the_midpoint_of_the_read() -> None:
    before = datetime(2026, 3, 1, 12, 0, 0, tzinfo=TZ)
    after = before + timedelta(seconds=2)
    drift = measure_drift(before + timedelta(seconds=10), before=before, after=after)
    assert drift.drift_s == 9.0  # ahead by 9 s: 12:00:10 against 12:00:01
    assert drift.uncertainty_s == 2.0  # half the read, plus the 1 s resolution
    assert drift.station_time(before + timedelta(seconds=10)) == before + timedelta(seconds=1)
    behind = measure_drift(before - timedelta(minutes=5), before=before, after=before)
    assert behind.drift_s == -300.0
    with pytest.raises(ValueError, match="aware"):
        measure_drift(datetime(2026, 3, 1), before=before, after=after)
    with pytest.raises(ValueError, match="went back"):
        measure_drift(before, before=after, after=before)


def _monitor(em: BpsEmulator, backend: BleBackend, *, trusted: bool) -> StandardBpsMonitor:
    options = BleOptions(tz=TZ, scan_timeout_s=2.0, connect_timeout_s=2.0, clock_trusted=trusted)
    return StandardBpsMonitor(address=em.address, backend=backend, options=options)


@pytest.mark.parametrize("trusted", [True, False])
async def test_a_wrong_clock_is_measured_and_corrected_only_when_trusted(
    backend: BleBackend, trusted: bool
) -> None:
    async with BpsEmulator(tz=TZ, step_s=0.001, faults=frozenset({Fault.WRONG_CLOCK})) as em:
        bpm = _monitor(em, backend, trusted=trusted)
        await bpm.measure(timeout_s=10)
        await bpm.close()
    assert bpm.clock_drift_s is not None
    assert abs(bpm.clock_drift_s - WRONG_CLOCK_OFFSET.total_seconds()) < 2
    assert em.clock_writes == (1 if trusted else 0)
    assert (bpm.clock_set_at is not None) is trusted


async def test_a_right_clock_reads_within_a_fraction_of_a_second(backend: BleBackend) -> None:
    async with BpsEmulator(tz=TZ, step_s=0.001) as em:
        bpm = _monitor(em, backend, trusted=False)
        await bpm.measure(timeout_s=10)
        await bpm.close()
    # Current Time carries 1/256 s: the twin's clock is the station's
    assert bpm.clock_drift_s is not None and abs(bpm.clock_drift_s) < 0.2


async def test_a_device_without_current_time_has_no_drift(backend: BleBackend) -> None:
    async with BpsEmulator(tz=TZ, step_s=0.001, with_current_time=False) as em:
        bpm = _monitor(em, backend, trusted=True)
        await bpm.measure(timeout_s=10)
        await bpm.close()
    assert bpm.clock_drift_s is None and em.clock_writes == 0
