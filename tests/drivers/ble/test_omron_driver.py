"""The Omron driver end to end against its emulated twins (one per memory
layout, speaking the bytes of drivers/ble/omron), over bumble: a measurement
newer than the visit's baseline, memory downloads that never read a record
twice across connections (the ring wrapping included), only the station's
user memory, the device clock's drift and its correction, pairing with the
unlock key, and every injected fault ending in a clear error and no reading."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from drivers.ble import radio_errors
from drivers.ble.link import BleBackend
from drivers.ble.omron.driver import OmronMonitor, OmronOptions
from drivers.ble.omron.frames import DEFAULT_KEY, OmronFrameError
from drivers.ble.omron.layouts import MODELS, layout_for
from drivers.ble.options import BleOptions
from drivers.ble.pairing import Step
from emulation.ble.bumble_backend import BONDS
from emulation.ble.omron import OmronEmulator
from emulation.ble.peripheral import Fault
from healthkiosk.errors import (
    ConfigError,
    DeviceConnectionError,
    DeviceTimeoutError,
    DownloadInterrupted,
    InvalidChecksum,
    MeasurementError,
    MeasurementProblem,
)
from tests.support.ble import TZ

WINDOW_S = 3.0


def options(**extra: object) -> BleOptions:
    return BleOptions(
        tz=TZ, scan_timeout_s=2.0, connect_timeout_s=2.0, extra={"poll_interval_s": 0.1, **extra}
    )


def driver(em: OmronEmulator, backend: BleBackend, **extra: object) -> OmronMonitor:
    opts = options(model=em.layout.model, **extra)
    return OmronMonitor(
        address=em.address, backend=backend, options=opts, omron=OmronOptions.parse(opts.extra)
    )


def twin(model: str = "HEM-7361T", **kw: object) -> OmronEmulator:
    kw.setdefault("key", DEFAULT_KEY)
    kw.setdefault("bond_at_start", True)
    return OmronEmulator(tz=TZ, model=model, **kw)  # type: ignore[arg-type]


def record_reads(em: OmronEmulator, user: int = 1) -> list[int]:
    """The record slots of ``user`` the twin was asked for, in order."""
    layout = em.layout
    area = layout.user(user)
    slots = []
    for address, length in em.reads:
        if area.start <= address < area.start + area.capacity * layout.record_size:
            first = (address - area.start) // layout.record_size
            slots.extend(range(first, first + length // layout.record_size))
    return slots


# --- measurement --------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(m for m in MODELS if MODELS[m].unread_size))
async def test_measure_returns_the_new_record_not_the_old_ones(
    model: str, backend: BleBackend
) -> None:
    async with twin(model, stored=3, measure_after_s=0.3) as em:
        bpm = driver(em, backend)
        reading = await bpm.measure(timeout_s=15)
        await bpm.close()
        assert (reading.systolic_mmhg, reading.diastolic_mmhg, reading.pulse_bpm) == (132, 84, 68)
        assert reading.user_id == 1
        assert reading.device.model == model and reading.device.manufacturer == "OMRON HEALTHCARE"
        assert reading.device_time is not None
        assert abs(reading.device_time - datetime.now(TZ)) < timedelta(seconds=30)
        assert em.sessions >= 2  # the first session saw only old records
        assert not em.writes  # measure() writes nothing into the monitor
        if MODELS[model].time is not None:
            assert bpm.clock_drift_s is not None and abs(bpm.clock_drift_s) < 3


async def test_a_record_made_before_the_measurement_began_is_never_returned(
    backend: BleBackend,
) -> None:
    async with twin(stored=0, measure_after_s=None) as em:
        # the previous elder measured a minute ago; nobody measures now
        em.add_record(em.record_at(em.device_now() - timedelta(seconds=60)))
        # (a long pause between sessions: the time runs out between them)
        bpm = driver(em, backend, poll_interval_s=30)
        with pytest.raises(DeviceTimeoutError):
            await bpm.measure(timeout_s=2)
        await bpm.close()
        assert em.sessions == 1  # it looked, and did not take the old record


async def test_a_record_made_just_after_it_began_counts_at_the_first_session(
    backend: BleBackend,
) -> None:
    async with twin(stored=2, measure_after_s=None) as em:
        bpm = driver(em, backend)
        # The monitor was out of reach until the elder had measured: it is met
        # first with the new record already in memory.
        em.add_record(em.record_at(em.device_now() + timedelta(seconds=2), systolic=141))
        reading = await bpm.measure(timeout_s=5)
        await bpm.close()
        assert reading.systolic_mmhg == 141
        assert em.sessions == 1


async def test_a_wrong_device_clock_is_measured_and_set_when_the_station_is_trusted(
    backend: BleBackend,
) -> None:
    async with twin(faults=frozenset({Fault.WRONG_CLOCK}), stored=2, measure_after_s=0.3) as em:
        bpm = driver(em, backend)
        assert len(await bpm.download()) == 2
        assert bpm.clock_drift_s is not None and bpm.clock_drift_s < -800 * 86400
        assert em.clock_writes == 1 and bpm.clock_set_at is not None
        assert abs(em.device_now() - datetime.now(TZ).replace(tzinfo=None)) < timedelta(seconds=3)
        # the next session finds the clock right and leaves it alone
        reading = await bpm.measure(timeout_s=15)
        await bpm.close()
        assert reading.systolic_mmhg == 132
        assert bpm.clock_drift_s is not None and abs(bpm.clock_drift_s) < 3
        assert em.clock_writes == 1


async def test_an_untrusted_station_clock_is_not_written_into_the_monitor(
    backend: BleBackend,
) -> None:
    async with twin(faults=frozenset({Fault.WRONG_CLOCK}), stored=2) as em:
        opts = BleOptions(tz=TZ, scan_timeout_s=2.0, connect_timeout_s=2.0, clock_trusted=False,
                          extra={"model": "HEM-7361T"})  # fmt: skip
        bpm = OmronMonitor(address=em.address, backend=backend, options=opts,
                           omron=OmronOptions.parse(opts.extra))  # fmt: skip
        assert len(await bpm.download()) == 2
        assert bpm.clock_drift_s is not None and bpm.clock_drift_s < -800 * 86400
        assert em.clock_writes == 0 and bpm.clock_set_at is None


async def test_movement_is_no_reading_and_an_irregular_heartbeat_is_flagged(
    backend: BleBackend,
) -> None:
    async with twin(faults=frozenset({Fault.BODY_MOVEMENT}), measure_after_s=0.3) as em:
        with pytest.raises(MeasurementError) as err:
            await driver(em, backend).measure(timeout_s=15)
        assert err.value.problem is MeasurementProblem.BODY_MOVEMENT
    async with twin(faults=frozenset({Fault.IRREGULAR_PULSE}), measure_after_s=0.3) as em:
        reading = await driver(em, backend).measure(timeout_s=15)
        assert reading.status.irregular_pulse and not reading.status.body_movement


async def test_the_standard_path_where_the_model_offers_it(backend: BleBackend) -> None:
    async with twin(standard_service=True, stored=3, measure_after_s=None) as em:
        bpm = driver(em, backend)
        # The first session gets the three stored records, all older than the
        # visit; the elder's comes 1.5 s into the measurement.
        em.spawn(_later(em, 1.5))
        reading = await bpm.measure(timeout_s=10)
        await bpm.close()
        assert reading.systolic_mmhg == 132 and reading.user_id == 1
        assert len(em.sent_standard) == 4 and em.connections >= 2
        assert em.sessions == 0  # never unlocked: the EEPROM was not used
        assert bpm.clock_drift_s is not None and abs(bpm.clock_drift_s) < 3


async def _later(em: OmronEmulator, delay_s: float) -> None:
    import asyncio

    await asyncio.sleep(delay_s)
    em.measure_now()


async def test_a_model_without_a_write_pointer_cannot_measure(backend: BleBackend) -> None:
    async with twin("HEM-7530T", stored=2) as em:
        bpm = driver(em, backend)
        with pytest.raises(ConfigError, match="cannot tell a new record"):
            await bpm.measure(timeout_s=5)
        assert len(await bpm.download()) == 2  # its memory still reads


# --- memory download ----------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(m for m in MODELS if MODELS[m].counter_verified))
async def test_no_record_is_read_twice_across_connections(model: str, backend: BleBackend) -> None:
    async with twin(model, stored=5) as em:
        bpm = driver(em, backend)
        first = await bpm.download()
        assert [r.systolic_mmhg for r in first] == [120, 121, 122, 123, 124]
        assert [r.device_time for r in first] == sorted(r.device_time for r in first)  # type: ignore[type-var]
        assert await bpm.download() == []  # a new connection: nothing new
        for sys_ in (150, 151):
            em.add_record(em.record_at(em.device_now(), systolic=sys_))
        assert [r.systolic_mmhg for r in await bpm.download()] == [150, 151]
        slots = record_reads(em)
        assert len(slots) == len(set(slots)) == 7
        assert em.unread_section().unread(1) == 0


async def test_the_ring_wraps_and_still_nothing_is_read_twice(backend: BleBackend) -> None:
    capacity = layout_for("HEM-7155T").user(1).capacity  # 60 records of 16 bytes
    async with twin("HEM-7155T", stored=capacity + 4) as em:
        bpm = driver(em, backend)
        assert em.unread_section().write_slot(1) == 4
        got = await bpm.download()
        assert len(got) == capacity  # the oldest four were overwritten in the monitor
        assert got[-1].systolic_mmhg == 120 + (capacity + 3) % 20
        em.add_record(em.record_at(em.device_now(), systolic=170))
        assert [r.systolic_mmhg for r in await bpm.download()] == [170]
        slots = record_reads(em)
        assert len(slots) == len(set(slots)) + 1 and slots[-1] == 4  # slot 4 rewritten once


async def test_only_the_station_user_memory_is_read(backend: BleBackend) -> None:
    async with twin("HEM-7322T", stored=4, stored_user=1) as em:
        for sys_ in (140, 141):
            em.add_record(em.record_at(em.device_now(), systolic=sys_), user=2)
        bpm = driver(em, backend, user=2)
        got = await bpm.download()
        assert [(r.systolic_mmhg, r.user_id) for r in got] == [(140, 2), (141, 2)]
        assert record_reads(em, user=1) == []  # user 1's records never asked for
        section = em.unread_section()
        assert section.unread(1) == 4 and section.unread(2) == 0  # user 1 still unread


async def test_models_with_an_unverified_counter_read_everything_and_write_nothing(
    backend: BleBackend,
) -> None:
    async with twin("HEM-7342T", stored=3) as em:
        bpm = driver(em, backend)
        assert len(await bpm.download()) == 3
        assert len(await bpm.download()) == 3
        assert em.writes == []


async def test_download_everything_leaves_the_counter_alone(backend: BleBackend) -> None:
    async with twin(stored=3) as em:
        bpm = driver(em, backend)
        assert len(await bpm.download(everything=True)) == 3
        assert em.writes == [] and em.unread_section().unread(1) == 3
        with pytest.raises(ConfigError, match="number no records"):
            await bpm.download(after_sequence=4)


async def test_the_measured_record_is_not_downloaded_again(backend: BleBackend) -> None:
    async with twin(stored=2, measure_after_s=0.3) as em:
        bpm = driver(em, backend)
        measured = await bpm.measure(timeout_s=15)
        downloaded = await bpm.download()
        assert [r.systolic_mmhg for r in downloaded] == [120, 121]
        assert measured.systolic_mmhg == 132


# --- faults: a clear error and no reading ---------------------------------------------


async def test_a_bad_check_byte_is_refused(backend: BleBackend) -> None:
    async with twin(stored=2, faults=frozenset({Fault.BAD_CHECK_BYTE})) as em:
        bpm = driver(em, backend)
        with pytest.raises(InvalidChecksum) as err:
            await bpm.download()
        assert "HEM-7361T" in str(err.value) and err.value.wire != err.value.calculated
        with pytest.raises(InvalidChecksum):
            await bpm.measure(timeout_s=10)
        assert em.writes == [] and em.unread_section().unread(1) == 2


async def test_a_short_frame_is_refused(backend: BleBackend) -> None:
    async with twin(stored=2, faults=frozenset({Fault.SHORT_FRAME})) as em:
        with pytest.raises(OmronFrameError, match="asked for 16 bytes, the reply carries 14"):
            await driver(em, backend).download()
        assert em.writes == []


async def test_a_monitor_holding_another_key_refuses_the_station(backend: BleBackend) -> None:
    async with twin(stored=2, faults=frozenset({Fault.WRONG_KEY})) as em:
        bpm = driver(em, backend)
        for call in (bpm.download(), bpm.measure(timeout_s=5)):
            with pytest.raises(DeviceConnectionError) as err:
                await call
            assert err.value.reason == "key_refused"
            assert "paired with another phone" in str(err.value)
        assert em.reads == []


async def test_a_link_dropped_mid_read_loses_nothing(backend: BleBackend) -> None:
    async with twin(stored=3, faults=frozenset({Fault.DROP_MID_READ})) as em:
        bpm = driver(em, backend)
        with pytest.raises(DownloadInterrupted) as err:
            await bpm.download()
        assert err.value.records == []
        assert em.unread_section().unread(1) == 3  # nothing marked read
        em.faults = frozenset()
        assert len(await bpm.download()) == 3  # all of them, once


async def test_a_link_dropped_during_a_measurement(backend: BleBackend) -> None:
    async with twin(stored=1, measure_after_s=0.3, faults=frozenset({Fault.DROP_MID_READ})) as em:
        with pytest.raises(DeviceConnectionError) as err:
            await driver(em, backend).measure(timeout_s=15)
        assert err.value.reason == "link_lost"


# --- pairing --------------------------------------------------------------------------


async def test_pairing_a_new_monitor_bonds_and_programs_the_key(backend: BleBackend) -> None:
    async with twin(key=None, bond_at_start=False, stored=2) as em:
        bpm = driver(em, backend)
        with pytest.raises(DeviceConnectionError) as err:
            await bpm.download()
        assert err.value.reason == radio_errors.NOT_PAIRED

        em.press_pairing_button(WINDOW_S)
        steps: list[Step] = []
        info = await bpm.pair(window_s=WINDOW_S, on_step=steps.append)
        assert info.model == "HEM-7361T" and info.address == em.address
        assert steps == [Step.LOOKING, Step.BONDING, Step.DEVICE_KEY, Step.DONE]
        assert em.key == DEFAULT_KEY and not em.pairing_window_open()
        assert (await BONDS.state(em.address)).bonded
        assert len(await bpm.download()) == 2


async def test_key_programming_outside_the_window_is_refused(backend: BleBackend) -> None:
    async with twin(key=None, bond_at_start=True) as em:
        # bonded, but -P- is not blinking: the monitor answers 82 0f
        with pytest.raises(DeviceConnectionError) as err:
            await driver(em, backend).pair(window_s=1.5)
        assert err.value.reason == radio_errors.PAIRING_FAILED
        assert em.key is None


async def test_a_monitor_paired_with_a_phone_since_is_paired_again(backend: BleBackend) -> None:
    async with twin(stored=2) as em:
        bpm = driver(em, backend)
        assert len(await bpm.download()) == 2
        await em.forget_bond()  # the elder's daughter paired it with her phone
        em.key = bytes(16)
        em.add_record(em.record_at(em.device_now(), systolic=155))
        with pytest.raises(DeviceConnectionError) as err:
            await bpm.download()
        assert err.value.reason == radio_errors.BOND_LOST

        em.press_pairing_button(WINDOW_S)
        steps: list[Step] = []
        await bpm.pair(window_s=WINDOW_S, on_step=steps.append)
        assert steps[0] is Step.REMOVING_OLD_BOND and em.key == DEFAULT_KEY
        assert [r.systolic_mmhg for r in await bpm.download()] == [155]


def test_options_are_checked_when_the_driver_opens() -> None:
    with pytest.raises(ConfigError, match="user must be 1 or 2"):
        OmronOptions.parse({"user": 3})
    with pytest.raises(ConfigError, match="unknown Omron model"):
        OmronOptions.parse({"model": "HEM-9999T"})
    with pytest.raises(ConfigError, match="32 hex digits"):
        OmronOptions.parse({"key": "abc"})
    assert OmronOptions.parse({"key": DEFAULT_KEY.hex()}).key == DEFAULT_KEY
