"""Visit-bound capture (issue #14), each BLE driver against its emulated twin: a
reading belongs to a visit only when the device produced it after the visit's
measurement step began. A record made between visits, stored records sent on
connect and a device clock off by days never become the visit's reading; each
is kept as a device-memory record.

The kiosk begins the step with the driver's ``begin_step()`` and takes what
the driver kept with ``take_memory()``; :func:`begin` and :func:`memory` call
them where the driver has them, so on a driver without them (today's main)
these tests fail on their own assertions."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from drivers.ble.and_ua651 import AndUa651Monitor
from drivers.ble.bps import StandardBpsMonitor
from drivers.ble.glucose import StandardGlucoseMeter
from drivers.ble.glucose_codec import Meal
from drivers.ble.link import BleBackend
from drivers.ble.omron.driver import OmronMonitor, OmronOptions
from drivers.ble.omron.frames import DEFAULT_KEY
from drivers.ble.options import BleOptions
from drivers.ble.plx import StandardPulseOximeter
from drivers.ble.thermometer import StandardThermometer
from drivers.ble.weight import StandardWeightScale
from emulation.ble.and_ua651 import AndUa651Emulator
from emulation.ble.bps import BpsEmulator
from emulation.ble.glucose import GlucoseEmulator
from emulation.ble.omron import OmronEmulator
from emulation.ble.peripheral import Fault
from emulation.ble.plx import PulseOximeterEmulator
from emulation.ble.thermometer import ThermometerEmulator
from emulation.ble.weight import WeightScaleEmulator
from healthkiosk.errors import DeviceTimeoutError
from tests.support.ble import TZ

WRONG_CLOCK = frozenset({Fault.WRONG_CLOCK})


async def begin(device: Any) -> None:
    """The kiosk's measurement step begins (where the driver can be told)."""
    step = getattr(device, "begin_step", None)
    if step is not None:
        await step()


def memory(device: Any) -> list[tuple[Any, str]]:
    """(reading, reason) of each device-memory record the driver kept."""
    take = getattr(device, "take_memory", None)
    return [] if take is None else [(m.reading, m.reason.value) for m in take()]


def options(*, set_clock: bool = True, **extra: object) -> BleOptions:
    return BleOptions(
        tz=TZ, scan_timeout_s=2.0, connect_timeout_s=2.0, set_clock=set_clock, extra=extra
    )


# --- the standard glucose meter (finding 1) ---------------------------------------------


def glucose_meter(em: GlucoseEmulator, backend: BleBackend, **kw: Any) -> StandardGlucoseMeter:
    return StandardGlucoseMeter(
        address=em.address, backend=backend, options=options(poll_interval_s=0.02, **kw)
    )


async def test_a_glucose_record_made_between_visits_is_not_the_next_visits_reading(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with GlucoseEmulator(tz=tz, memory=5, new_record_after_s=0.3) as em:
        gm = glucose_meter(em, backend)
        await begin(gm)  # the first elder's visit
        first = await gm.measure(timeout_s=10)
        assert first.mmol_per_l == 6.4
        memory(gm)
        # Between visits someone tests on the meter by hand (three hours ago).
        other = em.add_record(
            Decimal("13.9"), meal=Meal.FASTING, when=em.device_now() - timedelta(hours=3)
        )
        await begin(gm)  # the next elder's visit
        reading = await gm.measure(timeout_s=10)
        await gm.close()
    assert reading.sequence_number != other, "another person's test became this elder's"
    assert reading.mmol_per_l == 6.4 and reading.sequence_number == other + 1
    assert [(r.sequence_number, r.mmol_per_l, why) for r, why in memory(gm)] == [
        (other, 13.9, "before_step")
    ]


async def test_glucose_with_a_meter_clock_off_by_days(tz: ZoneInfo, backend: BleBackend) -> None:
    """The meter's clock is two years off and never set: its time stamps decide
    nothing; the sequence does (the new strip is the reading, the hand test is not)."""
    async with GlucoseEmulator(tz=tz, memory=3, new_record_after_s=0.3, faults=WRONG_CLOCK) as em:
        gm = glucose_meter(em, backend, set_clock=False)
        gm.options = BleOptions(
            tz=TZ, scan_timeout_s=2.0, connect_timeout_s=2.0, set_clock=False,
            extra={"poll_interval_s": 0.02},
        )  # fmt: skip
        await begin(gm)
        await gm.measure(timeout_s=10)
        memory(gm)
        # Made by hand between visits; by the wrong clock it reads as "now".
        other = em.add_record(Decimal("3.1"), when=em.device_now())
        await begin(gm)
        reading = await gm.measure(timeout_s=10)
        await gm.close()
    assert gm.clock_drift_s is not None and gm.clock_drift_s < -800 * 86400
    assert reading.sequence_number == other + 1 and reading.mmol_per_l == 6.4
    assert [(r.sequence_number, why) for r, why in memory(gm)] == [(other, "before_step")]


async def test_a_record_dated_before_the_step_by_a_trusted_clock_is_device_memory(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with GlucoseEmulator(tz=tz, memory=3) as em:
        gm = glucose_meter(em, backend)
        await begin(gm)
        # A record the meter files only now, made (by its clock, set by this
        # station) two hours before the step began; then the elder's strip.
        old = em.add_record(Decimal("9.9"), when=em.device_now() - timedelta(hours=2))
        task = asyncio.create_task(gm.measure(timeout_s=10))
        await asyncio.sleep(0.3)
        em.add_record(Decimal("5.5"))
        reading = await task
        await gm.close()
    assert reading.mmol_per_l == 5.5
    assert [(r.sequence_number, why) for r, why in memory(gm)] == [(old, "device_time")]


# --- the standard blood pressure monitor (finding 3) ------------------------------------


def bps_monitor(em: BpsEmulator, backend: BleBackend, **kw: Any) -> StandardBpsMonitor:
    return StandardBpsMonitor(address=em.address, backend=backend, options=options(**kw))


async def test_stored_measurements_sent_at_connect_are_not_the_elders_reading(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001) as em:
        # Two people measured on the monitor while no station listened.
        em.measure_alone(152, 96, 88, ago=timedelta(hours=3))
        em.measure_alone(149, 94, 86, ago=timedelta(hours=1))
        bpm = bps_monitor(em, backend)
        await begin(bpm)
        reading = await bpm.measure(timeout_s=10)
        await bpm.close()
    assert (reading.systolic_mmhg, reading.diastolic_mmhg) == (128, 82), (
        "a stored measurement was taken as this elder's"
    )
    assert em.stored_sent == 2
    assert [(r.systolic_mmhg, why) for r, why in memory(bpm)] == [
        (152, "stored_at_connect"),
        (149, "stored_at_connect"),
    ]


async def test_a_monitor_sending_only_what_it_stored_gives_no_reading(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    """Nobody measures: the stored record (a clock off by days, not set) is
    device memory and the kiosk gets no reading."""
    async with BpsEmulator(tz=tz, step_s=0.001, faults=WRONG_CLOCK, measure_on_connect=False) as em:
        em.measure_alone(161, 99, 90, ago=timedelta(minutes=30))
        bpm = bps_monitor(em, backend, set_clock=False, settle_s=0.3)
        await begin(bpm)
        with pytest.raises(DeviceTimeoutError):
            await bpm.measure(timeout_s=2)
        await bpm.close()
    assert [(r.systolic_mmhg, why) for r, why in memory(bpm)] == [(161, "stored_at_connect")]


async def test_bps_with_a_monitor_clock_off_by_days(tz: ZoneInfo, backend: BleBackend) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, faults=WRONG_CLOCK) as em:
        # By the wrong clock, made "now": its time stamp must not make it new.
        em.measure_alone(170, 100, 95, ago=timedelta(0))
        bpm = bps_monitor(em, backend, set_clock=False)
        await begin(bpm)
        reading = await bpm.measure(timeout_s=10)
        await bpm.close()
    assert reading.systolic_mmhg == 128
    assert [(r.systolic_mmhg, why) for r, why in memory(bpm)] == [(170, "stored_at_connect")]


# --- A&D UA-651BLE ----------------------------------------------------------------------


async def test_and_a_measurement_made_between_visits_is_device_memory(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with AndUa651Emulator(tz=tz, stored=1) as em:
        bpm = AndUa651Monitor(address=em.address, backend=backend, options=options(quiet_s=0.1))
        await begin(bpm)
        await bpm.measure(timeout_s=10)  # the first visit: the station sets the clock
        assert [why for _r, why in memory(bpm)] == ["stored_at_connect"]
        # Between visits someone measures; the monitor connects to send it.
        em.stored = 0
        em.measure_on_connect = False
        em.measure_alone(158, 97, 80, ago=timedelta(hours=2))
        await begin(bpm)
        task = asyncio.create_task(bpm.measure(timeout_s=15))
        for _ in range(300):
            if em.stored_sent:
                break
            await asyncio.sleep(0.02)
        em.measure_on_connect = True  # now the elder measures
        reading = await task
        await bpm.close()
    assert reading.systolic_mmhg == 131
    assert [(r.systolic_mmhg, why) for r, why in memory(bpm)] == [(158, "device_time")]


# --- Omron -----------------------------------------------------------------------------


def omron(em: OmronEmulator, backend: BleBackend, **extra: object) -> OmronMonitor:
    opts = BleOptions(
        tz=TZ, scan_timeout_s=2.0, connect_timeout_s=2.0,
        extra={"poll_interval_s": 0.1, "model": em.layout.model, **extra},
    )  # fmt: skip
    return OmronMonitor(
        address=em.address, backend=backend, options=opts, omron=OmronOptions.parse(opts.extra)
    )


def omron_twin(**kw: Any) -> OmronEmulator:
    return OmronEmulator(tz=TZ, model="HEM-7361T", key=DEFAULT_KEY, bond_at_start=True, **kw)


async def test_omron_a_record_made_between_visits_is_device_memory(backend: BleBackend) -> None:
    async with omron_twin(stored=2, measure_after_s=0.3) as em:
        bpm = omron(em, backend)
        await begin(bpm)
        first = await bpm.measure(timeout_s=15)
        memory(bpm)
        em.measure_after_s = None
        await asyncio.sleep(0.6)  # a measurement the twin still had pending lands between visits
        em.add_record(em.record_at(em.device_now() - timedelta(hours=2), systolic=165))
        await begin(bpm)
        task = asyncio.create_task(bpm.measure(timeout_s=15))
        await asyncio.sleep(0.5)
        em.add_record(em.record_at(em.device_now(), systolic=139))  # the next elder measures
        reading = await task
        await bpm.close()
    assert first.systolic_mmhg == 132 and reading.systolic_mmhg == 139
    assert [(r.systolic_mmhg, why) for r, why in memory(bpm)] == [(165, "before_step")]


async def test_omron_standard_path_stored_records_at_connect_are_device_memory(
    backend: BleBackend,
) -> None:
    async with omron_twin(standard_service=True, stored=3, measure_after_s=None) as em:
        bpm = omron(em, backend)
        await begin(bpm)
        task = asyncio.create_task(bpm.measure(timeout_s=10))
        await asyncio.sleep(1.5)
        em.measure_now()
        reading = await task
        await bpm.close()
    assert reading.systolic_mmhg == 132
    kept = memory(bpm)
    assert len(kept) == 3 and {why for _r, why in kept} == {"stored_at_connect"}


# --- the new families: scale, thermometer, oximeter ---------------------------------------


async def test_scale_stored_weights_are_device_memory_records(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with WeightScaleEmulator(tz=tz, stored=3, faults=WRONG_CLOCK) as em:
        device = StandardWeightScale(address=em.address, backend=backend, options=options())
        await begin(device)
        reading = await device.measure(timeout_s=10)
    assert reading.weight_kg == 68.4
    assert [(r.weight_kg, why) for r, why in memory(device)] == [
        (69.9, "stored_at_connect"),
        (69.4, "stored_at_connect"),
        (68.9, "stored_at_connect"),
    ]


async def test_thermometer_stored_temperatures_are_device_memory_records(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with ThermometerEmulator(tz=tz, stored=2, faults=WRONG_CLOCK) as em:
        device = StandardThermometer(address=em.address, backend=backend, options=options())
        await begin(device)
        reading = await device.measure(timeout_s=10)
    assert reading.celsius == 36.6
    assert [(r.celsius, why) for r, why in memory(device)] == [
        (36.8, "stored_at_connect"),
        (36.7, "stored_at_connect"),
    ]


async def test_oximeter_stored_spot_checks_are_device_memory_records(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with PulseOximeterEmulator(tz=tz, continuous=False, memory=4, stored_on_connect=2) as em:
        device = StandardPulseOximeter(address=em.address, backend=backend, options=options())
        await begin(device)
        reading = await device.measure(timeout_s=10)
    assert reading.spo2_percent == 97
    kept = memory(device)
    assert len(kept) == 2 and {why for _r, why in kept} == {"stored_at_connect"}
