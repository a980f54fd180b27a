"""The A&D UA-651BLE vendor driver end to end against its emulated twin
(built from A&D's public SDK notes, see docs/protocols/and-ua-651ble.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from drivers.ble import and_custom
from drivers.ble.and_ua651 import AndUa651Monitor
from drivers.ble.bps_codec import BpsCodecError
from drivers.ble.link import BleBackend
from emulation.ble.and_ua651 import AndUa651Emulator
from emulation.ble.peripheral import Fault
from healthkiosk.errors import DeviceConnectionError, MeasurementError, MeasurementProblem
from tests.support.ble import fast_options


def monitor(em: AndUa651Emulator, backend: BleBackend) -> AndUa651Monitor:
    return AndUa651Monitor(address=em.address, backend=backend, options=fast_options(quiet_s=0.1))


async def test_measurement_sets_time_and_sends_disconnect(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with AndUa651Emulator(tz=tz, faults=frozenset({Fault.WRONG_CLOCK}), stored=2) as em:
        bpm = monitor(em, backend)
        reading = await bpm.measure(timeout_s=10)
        device_clock = em.device_now()
    assert (reading.systolic_mmhg, reading.diastolic_mmhg, reading.pulse_bpm) == (131, 84, 66)
    assert reading.device.manufacturer == "A&D Medical" and reading.device.model == "UA-651BLE"
    # The clock went through Date Time (0x2A08): there is no Current Time Service.
    assert em.clock_writes == 1
    assert abs(device_clock - datetime.now(tz).replace(tzinfo=None)) < timedelta(seconds=2)
    assert reading.device_time is not None
    assert abs(reading.device_time - datetime.now(tz)) < timedelta(seconds=5)
    # The buffered older measurements came first and are kept aside.
    assert [r.systolic_mmhg for r in bpm.last_session] == [137, 134]
    assert [f.command for f in em.custom_commands] == [and_custom.Command.DISCONNECT]
    assert em.peripheral.connection is None


async def test_monitor_hangs_up_without_date_time(tz: ZoneInfo, backend: BleBackend) -> None:
    async with AndUa651Emulator(tz=tz) as em:
        em.time_window_s = 0.05
        opts = fast_options(quiet_s=0.1)
        bpm = AndUa651Monitor(
            address=em.address,
            backend=backend,
            options=type(opts)(tz=tz, scan_timeout_s=2, set_clock=False, extra=opts.extra),
        )
        with pytest.raises(DeviceConnectionError):
            await bpm.measure(timeout_s=10)
    assert em.measurements_sent == 0


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault.CUFF_LOOSE, MeasurementProblem.CUFF_FIT),
        (Fault.BODY_MOVEMENT, MeasurementProblem.BODY_MOVEMENT),
        (Fault.SPECIAL_VALUE, MeasurementProblem.NO_VALUE),
    ],
)
async def test_newest_measurement_with_error_status_gives_no_reading(
    tz: ZoneInfo, backend: BleBackend, fault: Fault, problem: MeasurementProblem
) -> None:
    async with AndUa651Emulator(tz=tz, faults=frozenset({fault})) as em:
        with pytest.raises(MeasurementError) as err:
            await monitor(em, backend).measure(timeout_s=10)
    assert err.value.problem is problem


async def test_link_dropped_mid_measurement(tz: ZoneInfo, backend: BleBackend) -> None:
    async with AndUa651Emulator(tz=tz, faults=frozenset({Fault.DROP_MID_MEASUREMENT})) as em:
        with pytest.raises(DeviceConnectionError):
            await monitor(em, backend).measure(timeout_s=10)


async def test_garbage(tz: ZoneInfo, backend: BleBackend) -> None:
    async with AndUa651Emulator(tz=tz, faults=frozenset({Fault.GARBAGE}), stored=0) as em:
        with pytest.raises(BpsCodecError):
            await monitor(em, backend).measure(timeout_s=10)
