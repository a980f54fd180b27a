"""The standard Weight Scale driver end to end against its emulated twin,
through the bumble backend (real ATT over bumble's in-process link; the driver
code is unchanged)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given

from drivers.ble.link import BleBackend
from drivers.ble.weight import StandardWeightScale, record_to_reading
from drivers.ble.weight_codec import WeightCodecError, WeightRecord
from emulation.ble.peripheral import Fault
from emulation.ble.weight import WeightScaleEmulator
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceTimeoutError,
    MeasurementError,
    MeasurementProblem,
)
from healthkiosk.readings import DeviceInfo, Transport, WeightUnit
from tests.support.ble import fast_options
from tests.support.strategies import weight_records


def scale(emulator: WeightScaleEmulator, backend: BleBackend) -> StandardWeightScale:
    return StandardWeightScale(
        address=emulator.address, backend=backend, options=fast_options(settle_s=0.2)
    )


async def test_a_weight_with_height_and_bmi(tz: ZoneInfo, backend: BleBackend) -> None:
    async with WeightScaleEmulator(tz=tz) as em:
        device = scale(em, backend)
        reading = await device.measure(timeout_s=10)
    assert device.battery_percent == 80
    assert device.feature is not None and device.feature.bmi
    assert reading.weight_kg == 68.4 and reading.original_unit is WeightUnit.KG
    assert reading.height_m == 1.65
    assert reading.bmi == 25.1  # 68.4 / 1.65² = 25.12
    assert reading.device_bmi == 25.1
    assert reading.user_id == 1
    assert reading.body_composition is None
    assert reading.device.model == "WSS-EMU-1" and reading.device.transport is Transport.EMULATED
    assert reading.device_time is not None
    assert abs(reading.device_time - datetime.now(tz)) < timedelta(seconds=5)
    assert em.weights_sent == 1 and em.clock_writes == 1


async def test_a_scale_in_pounds_is_read_in_kg(tz: ZoneInfo, backend: BleBackend) -> None:
    async with WeightScaleEmulator(tz=tz, unit=WeightUnit.LB, weight_kg=Decimal("81.2")) as em:
        reading = await scale(em, backend).measure(timeout_s=10)
    # 81.2 kg → 179.02 lb on the wire (0.01 lb steps) → 81.2 kg; 1.65 m → 65.0 in → 1.651 m
    assert reading.original_unit is WeightUnit.LB and reading.original_value == 179.02
    assert reading.weight_kg == 81.2
    assert reading.height_m == 1.651
    assert reading.bmi == 29.8


async def test_body_composition_in_two_packets(tz: ZoneInfo, backend: BleBackend) -> None:
    async with WeightScaleEmulator(tz=tz, body_composition=True) as em:
        reading = await scale(em, backend).measure(timeout_s=10)
    body = reading.body_composition
    assert body is not None
    assert body.body_fat_percent == 27.5 and body.muscle_percent == 34.0
    assert body.basal_metabolism_kj == 5900 and body.impedance_ohm == 512.3
    assert body.body_water_mass_kg == 35.6  # 52 % of 68.4 kg on 5 g steps
    assert em.body_packets_sent == 2


async def test_stored_measurements_are_device_memory_not_the_result(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with WeightScaleEmulator(tz=tz, stored=3) as em:
        device = scale(em, backend)
        reading = await device.measure(timeout_s=10)
    assert reading.weight_kg == 68.4
    assert [m.weight_kg for m in device.memory] == [69.9, 69.4, 68.9]
    times = [m.device_time for m in device.memory]
    assert all(t is not None and t < datetime.now(tz) - timedelta(hours=24) for t in times)


async def test_a_scale_without_height_gives_no_bmi(tz: ZoneInfo, backend: BleBackend) -> None:
    async with WeightScaleEmulator(tz=tz, height_m=None) as em:
        reading = await scale(em, backend).measure(timeout_s=10)
    assert reading.height_m is None and reading.bmi is None and reading.device_bmi is None


@pytest.mark.parametrize(
    ("fault", "problem", "code"),
    [
        (Fault.SPECIAL_VALUE, MeasurementProblem.NO_VALUE, "unsuccessful"),
        (Fault.OUT_OF_RANGE, MeasurementProblem.OUT_OF_RANGE, None),
    ],
)
async def test_unsuccessful_or_empty_scale_gives_no_reading(
    tz: ZoneInfo,
    backend: BleBackend,
    fault: Fault,
    problem: MeasurementProblem,
    code: str | None,
) -> None:
    async with WeightScaleEmulator(tz=tz, faults=frozenset({fault})) as em:
        with pytest.raises(MeasurementError) as err:
            await scale(em, backend).measure(timeout_s=10)
    assert err.value.problem is problem and err.value.code == code
    assert em.address in str(err.value)


@pytest.mark.parametrize("fault", [Fault.GARBAGE, Fault.SHORT_FRAME])
async def test_undecodable_weight_is_a_codec_error_with_the_bytes(
    tz: ZoneInfo, backend: BleBackend, fault: Fault
) -> None:
    async with WeightScaleEmulator(tz=tz, faults=frozenset({fault})) as em:
        with pytest.raises(WeightCodecError) as err:
            await scale(em, backend).measure(timeout_s=10)
    assert err.value.raw and em.address in str(err.value)
    if fault is Fault.GARBAGE:
        assert err.value.raw[0] == 0x0F  # every field promised, too few bytes
    else:
        assert (err.value.raw[0], len(err.value.raw)) == (0x0E, 14)  # 15 bytes less one


async def test_link_dropped_after_stored_records_before_the_weight(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    # The stored record arrives, the new weight never does: no reading, and the
    # old one is not taken for this person's.
    async with WeightScaleEmulator(
        tz=tz, stored=1, faults=frozenset({Fault.DROP_MID_MEASUREMENT})
    ) as em:
        device = scale(em, backend)
        with pytest.raises(DeviceConnectionError) as err:
            await device.measure(timeout_s=10)
    assert "before a new weight (1 stored kept)" in str(err.value)
    assert [m.weight_kg for m in device.memory] == [68.9]
    assert em.weights_sent == 0


async def test_a_scale_clock_days_off_still_tells_stored_from_new(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with WeightScaleEmulator(tz=tz, stored=2, faults=frozenset({Fault.WRONG_CLOCK})) as em:
        device = scale(em, backend)
        reading = await device.measure(timeout_s=10)
        clock_after = em.device_now()
    assert device.clock_offset is not None and device.clock_offset < -timedelta(days=800)
    assert reading.weight_kg == 68.4 and len(device.memory) == 2
    assert reading.device_time is not None  # as the scale stamped it (its wrong clock)
    assert abs(clock_after - datetime.now(tz).replace(tzinfo=None)) < timedelta(seconds=2)
    assert em.clock_writes == 1  # set after the measurement


async def test_without_a_readable_clock_the_last_weight_is_taken(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with WeightScaleEmulator(tz=tz, stored=2, with_current_time=False) as em:
        device = scale(em, backend)
        reading = await device.measure(timeout_s=10)
    assert device.clock_offset is None
    assert reading.weight_kg == 68.4 and len(device.memory) == 2


async def test_link_dropped_with_nothing_sent(tz: ZoneInfo, backend: BleBackend) -> None:
    async with WeightScaleEmulator(tz=tz, faults=frozenset({Fault.DROP_MID_MEASUREMENT})) as em:
        with pytest.raises(DeviceConnectionError) as err:
            await scale(em, backend).measure(timeout_s=10)
    assert err.value.reason == "link_lost" and em.weights_sent == 0


async def test_nobody_steps_on(tz: ZoneInfo, backend: BleBackend) -> None:
    async with WeightScaleEmulator(tz=tz, measure_after_s=30) as em:
        with pytest.raises(DeviceTimeoutError):
            await scale(em, backend).measure(timeout_s=1.5)


def test_record_to_reading_rounds_half_up_and_computes_bmi() -> None:
    info = DeviceInfo(model="x", transport=Transport.BLE)
    tz = ZoneInfo("Asia/Shanghai")
    r = record_to_reading(
        WeightRecord(WeightUnit.KG, Decimal("60.05"), height=Decimal("1.6"), bmi=Decimal("23.4")),
        device=info,
        tz=tz,
    )
    assert r.weight_kg == 60.1  # halves up, not to even
    assert r.bmi == 23.5  # 60.05 / 2.56 = 23.457 from the exact weight
    assert r.device_bmi == 23.4
    zero_height = record_to_reading(
        WeightRecord(WeightUnit.KG, Decimal("60"), height=Decimal(0), bmi=Decimal(0)),
        device=info,
        tz=tz,
    )
    assert zero_height.height_m is None and zero_height.bmi is None


@given(weight_records())
def test_any_weight_is_a_reading_in_kg_or_a_measurement_error(record: WeightRecord) -> None:
    info = DeviceInfo(model="x", transport=Transport.BLE)
    try:
        reading = record_to_reading(record, device=info, tz=ZoneInfo("Asia/Shanghai"))
    except MeasurementError as err:
        assert record.weight is None or record.weight <= 0, err
        return
    assert 0 <= reading.weight_kg <= 327.7  # the field's largest, 0xFFFE steps
    assert (reading.bmi is None) == (reading.height_m is None)
