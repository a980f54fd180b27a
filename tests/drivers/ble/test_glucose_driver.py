"""The standard glucose meter driver end to end against its emulated twin:
RACP memory downloads of a 1,000-record memory (full, incremental, resumed
after a dropped link), the clock set, a new strip measurement, and each
injected fault ending in a clear error and no reading."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from drivers.ble.glucose import RacpFailed, StandardGlucoseMeter
from drivers.ble.glucose_codec import GlucoseCodecError, Meal
from drivers.ble.link import BleBackend
from drivers.ble.options import BleOptions
from drivers.ble.racp import ResponseCode
from emulation.ble.glucose import GlucoseEmulator
from emulation.ble.peripheral import Fault
from healthkiosk.errors import (
    DeviceNotFoundError,
    DownloadInterrupted,
    MeasurementError,
    MeasurementProblem,
)
from healthkiosk.readings import GlucoseUnit, MealContext
from tests.support.ble import fast_options

MEMORY = 1000  # the memory size


async def waiting_for_a_strip(em: GlucoseEmulator) -> None:
    """Until measure() has asked for the newest record and for newer ones."""
    for _ in range(500):
        if em.racp_requests >= 2 and em.sent.total() >= 1:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)


def meter(em: GlucoseEmulator, backend: BleBackend) -> StandardGlucoseMeter:
    return StandardGlucoseMeter(
        address=em.address, backend=backend, options=fast_options(poll_interval_s=0.02)
    )


async def test_full_then_incremental_download_reads_each_record_once(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with GlucoseEmulator(tz=tz, memory=MEMORY) as em:
        gm = meter(em, backend)
        progress: list[tuple[int, int]] = []
        started = time.monotonic()
        records = await gm.download(on_progress=lambda d, t: progress.append((d, t)))
        full_s = time.monotonic() - started
        assert [r.sequence_number for r in records] == list(range(1, MEMORY + 1))
        assert progress[0] == (0, MEMORY) and progress[-1] == (MEMORY, MEMORY)
        assert gm.last_sequence == MEMORY
        # Three strips measured since: only those come over the air next time.
        for mmol in ("5.2", "7.9", "12.3"):
            em.add_record(Decimal(mmol), meal=Meal.POSTPRANDIAL)
        newer = await gm.download(after_sequence=gm.last_sequence)
        assert [r.sequence_number for r in newer] == [1001, 1002, 1003]
        assert [r.mmol_per_l for r in newer] == [5.2, 7.9, 12.3]
        assert all(r.meal is MealContext.AFTER_MEAL for r in newer)
        assert await gm.download(after_sequence=1003) == []
        await gm.close()
    assert em.sent_more_than_once() == []
    assert sum(em.sent.values()) == MEMORY + 3
    assert em.connections == 1
    assert full_s < 10


async def test_records_are_converted_and_paired_with_their_context(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with GlucoseEmulator(tz=tz, memory=15) as em:
        records = await meter(em, backend).download()
    by_seq = {r.sequence_number: r for r in records}
    for seq, (record, context) in em.records.items():
        reading = by_seq[seq]
        expected_meal = None if context is None else context.meal
        assert reading.meal == (
            None
            if expected_meal is None
            else {Meal.FASTING: MealContext.FASTING, Meal.POSTPRANDIAL: MealContext.AFTER_MEAL}[
                expected_meal
            ]
        )
        assert reading.mmol_per_l == record.mmol_per_l
        assert reading.device_time is not None and reading.device_time.tzinfo is not None
    assert {r.original_unit for r in records} == {GlucoseUnit.KG_PER_L, GlucoseUnit.MOL_PER_L}
    assert records[0].device.model == "GLS-EMU-1"


async def test_link_lost_mid_download_keeps_records_and_resumes(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with GlucoseEmulator(
        tz=tz, memory=MEMORY, faults=frozenset({Fault.DROP_MID_DOWNLOAD})
    ) as em:
        gm = meter(em, backend)
        with pytest.raises(DownloadInterrupted) as err:
            await gm.download()
        kept = err.value.records
        assert 0 < len(kept) < MEMORY
        assert [r.sequence_number for r in kept] == list(range(1, len(kept) + 1))
        assert gm.last_sequence == len(kept)
        rest = await gm.download(after_sequence=gm.last_sequence)
        await gm.close()
    sequences = [r.sequence_number for r in kept + rest]
    assert sequences == list(range(1, MEMORY + 1))
    # Nothing that arrived complete is read again: only the record whose context
    # was cut off, and (over bumble) what was still in flight when the link fell.
    again = em.sent_more_than_once()
    assert again and min(again) == len(kept) + 1
    assert em.connections == 2


async def test_clock_is_set_when_offered(tz: ZoneInfo, backend: BleBackend) -> None:
    async with GlucoseEmulator(tz=tz, memory=3, faults=frozenset({Fault.WRONG_CLOCK})) as em:
        assert abs(em.device_now() - datetime.now(tz).replace(tzinfo=None)) > timedelta(days=800)
        gm = meter(em, backend)
        old = await gm.download()
        em.add_record(Decimal("5.5"))
        new = await gm.download(after_sequence=gm.last_sequence)
        await gm.close()
    assert em.clock_writes == 1
    assert gm.clock_set_at is not None
    # Records stored before the clock was set keep the device's (wrong) time,
    # the new one has the right time.
    assert old[-1].device_time is not None and old[-1].device_time.year < datetime.now(tz).year
    assert new[0].device_time is not None
    assert abs(new[0].device_time - datetime.now(tz)) < timedelta(seconds=5)


async def test_measure_waits_for_a_new_strip(tz: ZoneInfo, backend: BleBackend) -> None:
    async with GlucoseEmulator(tz=tz, memory=MEMORY, new_record_after_s=0.1) as em:
        gm = meter(em, backend)
        reading = await gm.measure(timeout_s=10)
        await gm.close()
    assert reading.sequence_number == MEMORY + 1
    assert reading.mmol_per_l == 6.4
    assert reading.meal is MealContext.FASTING
    # The memory is not downloaded to find the newest record: one record was.
    assert sum(em.sent.values()) == 2


async def test_abort(tz: ZoneInfo, backend: BleBackend) -> None:
    async with GlucoseEmulator(tz=tz, memory=5) as em:
        gm = meter(em, backend)
        assert await gm.count() == 5
        await gm.abort()  # nothing running: the meter still confirms success
        await gm.close()
    assert em.aborts == 1


async def test_cancelled_download_aborts_the_procedure(tz: ZoneInfo, backend: BleBackend) -> None:
    async with GlucoseEmulator(tz=tz, memory=MEMORY) as em:
        gm = meter(em, backend)
        half = asyncio.Event()

        def progress(done: int, total: int) -> None:
            if done >= 100:
                half.set()

        task = asyncio.ensure_future(gm.download(on_progress=progress))
        await asyncio.wait_for(half.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sent_when_cancelled = sum(em.sent.values())
        # The meter stopped sending; the next request works on the same link.
        assert await gm.download(after_sequence=MEMORY - 2) != []
        await gm.close()
    assert em.aborts == 1
    # Nothing was sent after the abort but the two records asked for next.
    assert sum(em.sent.values()) == sent_when_cancelled + 2
    assert em.connections == 1


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault.STRIP_ERROR, MeasurementProblem.STRIP_ERROR),
        (Fault.SPECIAL_VALUE, MeasurementProblem.NO_VALUE),
        (Fault.OUT_OF_RANGE, MeasurementProblem.OUT_OF_RANGE),
    ],
)
async def test_faulty_new_record_gives_no_reading(
    tz: ZoneInfo, backend: BleBackend, fault: Fault, problem: MeasurementProblem
) -> None:
    async with GlucoseEmulator(
        tz=tz, memory=10, faults=frozenset({fault}), new_record_after_s=0.05
    ) as em:
        gm = meter(em, backend)
        with pytest.raises(MeasurementError) as err:
            await gm.measure(timeout_s=10)
        # In a download the faulty record is skipped (with the reason), not read.
        readings = await gm.download()
        await gm.close()
    assert err.value.problem is problem
    assert [r.sequence_number for r in readings] == list(range(1, 11))
    assert [seq for seq, _ in gm.skipped] == [11]


async def test_result_above_meter_range_is_marked_hi(tz: ZoneInfo, backend: BleBackend) -> None:
    async with GlucoseEmulator(
        tz=tz, memory=2, faults=frozenset({Fault.RESULT_HIGH}), new_record_after_s=0.05
    ) as em:
        gm = meter(em, backend)
        reading = await gm.measure(timeout_s=10)
        await gm.close()
    assert reading.out_of_range == "HI"
    assert reading.mmol_per_l == 33.3


async def test_garbage_record_is_a_protocol_error(tz: ZoneInfo, backend: BleBackend) -> None:
    async with GlucoseEmulator(tz=tz, memory=50, faults=frozenset({Fault.GARBAGE})) as em:
        gm = meter(em, backend)
        with pytest.raises(GlucoseCodecError) as err:
            await gm.download()
        await gm.close()
    assert err.value.raw[:1] == b"\x1b"


@pytest.mark.parametrize(
    "code",
    [
        ResponseCode.OP_CODE_NOT_SUPPORTED,
        ResponseCode.INVALID_OPERATOR,
        ResponseCode.OPERATOR_NOT_SUPPORTED,
        ResponseCode.INVALID_OPERAND,
        ResponseCode.ABORT_UNSUCCESSFUL,
        ResponseCode.PROCEDURE_NOT_COMPLETED,
        ResponseCode.OPERAND_NOT_SUPPORTED,
    ],
)
async def test_racp_error_codes(tz: ZoneInfo, backend: BleBackend, code: ResponseCode) -> None:
    async with GlucoseEmulator(
        tz=tz, memory=5, faults=frozenset({Fault.RACP_ERROR}), racp_response=code
    ) as em:
        gm = meter(em, backend)
        with pytest.raises(RacpFailed) as err:
            await gm.download()
        await gm.close()
    assert err.value.code is code
    assert err.value.reason == f"racp_{code.name.lower()}"


async def test_meter_that_cannot_count(tz: ZoneInfo, backend: BleBackend) -> None:
    async with GlucoseEmulator(tz=tz, memory=30) as em:
        em.counts_records = False
        gm = meter(em, backend)
        progress: list[tuple[int, int]] = []
        records = await gm.download(on_progress=lambda d, t: progress.append((d, t)))
        await gm.close()
    assert len(records) == 30
    assert progress[0] == (0, 0) and progress[-1] == (30, 30)


async def test_empty_memory(tz: ZoneInfo, backend: BleBackend) -> None:
    async with GlucoseEmulator(tz=tz, memory=0) as em:
        gm = meter(em, backend)
        assert await gm.download() == []
        await gm.close()


async def test_meter_gone_while_waiting_for_a_strip(tz: ZoneInfo, backend: BleBackend) -> None:
    async with GlucoseEmulator(tz=tz, memory=3) as em:
        em.readvertise = False
        gm = StandardGlucoseMeter(
            address=em.address,
            backend=backend,
            options=BleOptions(tz=tz, scan_timeout_s=0.3, extra={"poll_interval_s": 5.0}),
        )
        task = asyncio.ensure_future(gm.measure(timeout_s=10))
        await waiting_for_a_strip(em)
        em.peripheral.drop_link()
        with pytest.raises(DeviceNotFoundError):
            await task
        await gm.close()


async def test_link_lost_while_waiting_then_back(tz: ZoneInfo, backend: BleBackend) -> None:
    async with GlucoseEmulator(tz=tz, memory=3) as em:
        gm = StandardGlucoseMeter(
            address=em.address,
            backend=backend,
            options=BleOptions(tz=tz, scan_timeout_s=2, extra={"poll_interval_s": 5.0}),
        )
        task = asyncio.ensure_future(gm.measure(timeout_s=10))
        await waiting_for_a_strip(em)
        em.peripheral.drop_link()
        em.add_record(Decimal("8.8"))
        reading = await task
        await gm.close()
    assert reading.sequence_number == 4 and reading.mmol_per_l == 8.8
    assert em.connections == 2
