"""The standard BPS monitor driver end to end against its emulated twin,
through the bumble backend (the driver code is unchanged)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from drivers.ble.bps import StandardBpsMonitor
from drivers.ble.bps_codec import BpsCodecError
from drivers.ble.link import BleBackend
from drivers.ble.options import BleOptions
from emulation.ble.bps import BpsEmulator
from emulation.ble.peripheral import Fault
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceNotFoundError,
    MeasurementError,
    MeasurementProblem,
)
from healthkiosk.readings import CuffPressure, PressureUnit, Transport
from tests.support.ble import fast_options


def monitor(emulator: BpsEmulator | None, backend: BleBackend) -> StandardBpsMonitor:
    return StandardBpsMonitor(
        address=emulator.address if emulator else "C0:FF:EE:00:00:00",
        backend=backend,
        options=fast_options(),
    )


async def test_measurement_with_live_cuff_pressure(tz: ZoneInfo, backend: BleBackend) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001) as em:
        bpm = monitor(em, backend)
        cuff: list[CuffPressure] = []
        reading = await bpm.measure(on_cuff_pressure=cuff.append, timeout_s=10)
        await bpm.close()
    assert (reading.systolic_mmhg, reading.diastolic_mmhg, reading.pulse_bpm) == (128, 82, 71)
    assert reading.mean_arterial_mmhg == 97
    assert reading.user_id == 1
    assert reading.original_unit is PressureUnit.MMHG
    assert not reading.status.discards_reading and not reading.status.irregular_pulse
    assert reading.device.manufacturer == "healthkiosk emulator"
    assert reading.device.model == "BPS-EMU-1"
    assert reading.device.serial == "EMU-0001810"
    assert reading.device.firmware == "1.0.0-emu"
    assert reading.device.transport is Transport.EMULATED
    assert reading.device.address == em.address
    assert [c.mmhg for c in cuff] == [float(p) for p in em.cuff_profile()]
    assert em.measurements_sent == 1
    assert em.clock_writes == 1
    assert em.peripheral.connection is None  # the driver closed the link


async def test_wrong_device_clock_is_set(tz: ZoneInfo, backend: BleBackend) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, faults=frozenset({Fault.WRONG_CLOCK})) as em:
        before = em.device_now()
        assert abs(before - datetime.now(tz).replace(tzinfo=None)) > timedelta(days=800)
        reading = await monitor(em, backend).measure(timeout_s=10)
        after = em.device_now()
    assert abs(after - datetime.now(tz).replace(tzinfo=None)) < timedelta(seconds=2)
    assert reading.device_time is not None
    assert abs(reading.device_time - datetime.now(tz)) < timedelta(seconds=5)


async def test_kpa_monitor_converted_to_whole_mmhg(tz: ZoneInfo, backend: BleBackend) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, unit=PressureUnit.KPA) as em:
        reading = await monitor(em, backend).measure(timeout_s=10)
    # 128 mmHg → 17.1 kPa on the wire → 128 mmHg; 82 → 10.9 kPa → 82 mmHg
    assert reading.original_unit is PressureUnit.KPA
    assert (reading.systolic_mmhg, reading.diastolic_mmhg) == (128, 82)


async def test_irregular_pulse_is_kept_and_flagged(tz: ZoneInfo, backend: BleBackend) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, faults=frozenset({Fault.IRREGULAR_PULSE})) as em:
        reading = await monitor(em, backend).measure(timeout_s=10)
    assert reading.status.irregular_pulse
    assert reading.systolic_mmhg == 128


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault.BODY_MOVEMENT, MeasurementProblem.BODY_MOVEMENT),
        (Fault.CUFF_LOOSE, MeasurementProblem.CUFF_FIT),
        (Fault.IMPROPER_POSITION, MeasurementProblem.IMPROPER_POSITION),
        (Fault.SPECIAL_VALUE, MeasurementProblem.NO_VALUE),
        (Fault.OUT_OF_RANGE, MeasurementProblem.OUT_OF_RANGE),
    ],
)
async def test_device_status_faults_give_no_reading(
    tz: ZoneInfo, backend: BleBackend, fault: Fault, problem: MeasurementProblem
) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, faults=frozenset({fault})) as em:
        with pytest.raises(MeasurementError) as err:
            await monitor(em, backend).measure(timeout_s=10)
    assert err.value.problem is problem
    assert err.value.reason == problem.value
    assert em.address in str(err.value)


async def test_special_value_reason_names_the_special(tz: ZoneInfo, backend: BleBackend) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, faults=frozenset({Fault.SPECIAL_VALUE})) as em:
        with pytest.raises(MeasurementError) as err:
            await monitor(em, backend).measure(timeout_s=10)
    assert err.value.code == "nan"


async def test_garbage_result_is_a_protocol_error_with_the_bytes(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, faults=frozenset({Fault.GARBAGE})) as em:
        with pytest.raises(BpsCodecError) as err:
            await monitor(em, backend).measure(timeout_s=10)
    assert err.value.raw[:1] == b"\x1f" and len(err.value.raw) > 6


async def test_link_dropped_mid_measurement(tz: ZoneInfo, backend: BleBackend) -> None:
    async with BpsEmulator(
        tz=tz, step_s=0.001, faults=frozenset({Fault.DROP_MID_MEASUREMENT})
    ) as em:
        cuff: list[CuffPressure] = []
        with pytest.raises(DeviceConnectionError) as err:
            await monitor(em, backend).measure(on_cuff_pressure=cuff.append, timeout_s=10)
    assert err.value.reason == "link_lost"
    assert 0 < len(cuff) < len(em.cuff_profile())
    assert em.measurements_sent == 0


async def test_no_device_advertising(tz: ZoneInfo, backend: BleBackend) -> None:
    bpm = StandardBpsMonitor(
        address=None,
        backend=backend,
        options=BleOptions(tz=tz, scan_timeout_s=0.2),
    )
    with pytest.raises(DeviceNotFoundError):
        await bpm.measure(timeout_s=5)


async def test_two_measurements_in_one_session(tz: ZoneInfo, backend: BleBackend) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001) as em:
        bpm = monitor(em, backend)
        first = await bpm.measure(timeout_s=10)
        em.systolic = 141
        second = await bpm.measure(timeout_s=10)
        await bpm.close()
        await bpm.close()  # idempotent
    assert (first.systolic_mmhg, second.systolic_mmhg) == (128, 141)
    assert em.connections == 2


async def test_monitor_that_appears_later_is_found(tz: ZoneInfo, backend: BleBackend) -> None:
    # Most monitors advertise only once the elder has pressed start: the
    # driver keeps looking for the whole measurement time.
    em = BpsEmulator(tz=tz, step_s=0.001)
    bpm = StandardBpsMonitor(address=em.address, backend=backend, options=BleOptions(tz=tz))
    task = asyncio.ensure_future(bpm.measure(timeout_s=10))
    await asyncio.sleep(0.5)
    assert not task.done()
    async with em:
        reading = await task
    assert reading.systolic_mmhg == 128
