"""The standard Health Thermometer driver end to end against its emulated
twin, through the bumble backend (the driver code is unchanged)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given

from drivers.ble.gatt_time import DateTime
from drivers.ble.hts_codec import HtsCodecError, TemperatureRecord
from drivers.ble.ieee11073 import Nfloat
from drivers.ble.link import BleBackend
from drivers.ble.thermometer import StandardThermometer, record_to_reading
from emulation.ble.peripheral import Fault
from emulation.ble.thermometer import ThermometerEmulator
from healthkiosk.errors import (
    DeviceConnectionError,
    MeasurementError,
    MeasurementProblem,
)
from healthkiosk.readings import DeviceInfo, TemperatureSite, TemperatureUnit, Transport
from tests.support.ble import fast_options
from tests.support.strategies import temperature_records


def thermometer(em: ThermometerEmulator, backend: BleBackend) -> StandardThermometer:
    return StandardThermometer(
        address=em.address, backend=backend, options=fast_options(settle_s=0.2)
    )


async def test_a_temperature_with_live_values(tz: ZoneInfo, backend: BleBackend) -> None:
    async with ThermometerEmulator(tz=tz, battery_percent=35) as em:
        live: list[float] = []
        device = thermometer(em, backend)
        reading = await device.measure(on_intermediate=live.append, timeout_s=10)
    assert device.battery_percent == 35
    assert reading.celsius == 36.6 and reading.original_unit is TemperatureUnit.CELSIUS
    assert reading.site is TemperatureSite.ARMPIT  # from Temperature Type (0x2A1D)
    assert live == [float(c) for c in em.climb()]
    assert reading.device_time is not None
    assert abs(reading.device_time - datetime.now(tz)) < timedelta(seconds=5)
    assert reading.device.model == "HTS-EMU-1"
    assert em.results_sent == 1 and em.clock_writes == 1


async def test_fahrenheit_is_read_in_celsius(tz: ZoneInfo, backend: BleBackend) -> None:
    async with ThermometerEmulator(
        tz=tz, unit=TemperatureUnit.FAHRENHEIT, celsius=Decimal("38.1")
    ) as em:
        reading = await thermometer(em, backend).measure(timeout_s=10)
    assert reading.original_unit is TemperatureUnit.FAHRENHEIT
    assert reading.original_value == 100.58  # 38.1 °C
    assert reading.celsius == 38.1


async def test_type_in_the_measurement(tz: ZoneInfo, backend: BleBackend) -> None:
    async with ThermometerEmulator(tz=tz, temperature_type=9, type_in_measurement=True) as em:
        device = thermometer(em, backend)
        reading = await device.measure(timeout_s=10)
    assert device.site is None and reading.site is TemperatureSite.TYMPANUM


async def test_no_type_at_all(tz: ZoneInfo, backend: BleBackend) -> None:
    async with ThermometerEmulator(tz=tz, temperature_type=None) as em:
        reading = await thermometer(em, backend).measure(timeout_s=10)
    assert reading.site is None


async def test_stored_temperatures_are_device_memory(tz: ZoneInfo, backend: BleBackend) -> None:
    async with ThermometerEmulator(tz=tz, stored=2, faults=frozenset({Fault.WRONG_CLOCK})) as em:
        device = thermometer(em, backend)
        reading = await device.measure(timeout_s=10)
    assert reading.celsius == 36.6
    assert [m.celsius for m in device.memory] == [36.8, 36.7]


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault.SPECIAL_VALUE, MeasurementProblem.NO_VALUE),
        (Fault.OUT_OF_RANGE, MeasurementProblem.OUT_OF_RANGE),
    ],
)
async def test_invalid_temperature_gives_no_reading(
    tz: ZoneInfo, backend: BleBackend, fault: Fault, problem: MeasurementProblem
) -> None:
    async with ThermometerEmulator(tz=tz, faults=frozenset({fault})) as em:
        with pytest.raises(MeasurementError) as err:
            await thermometer(em, backend).measure(timeout_s=10)
    assert err.value.problem is problem and em.address in str(err.value)


@pytest.mark.parametrize("fault", [Fault.GARBAGE, Fault.SHORT_FRAME])
async def test_undecodable_temperature_is_a_codec_error(
    tz: ZoneInfo, backend: BleBackend, fault: Fault
) -> None:
    async with ThermometerEmulator(tz=tz, faults=frozenset({fault})) as em:
        with pytest.raises(HtsCodecError) as err:
            await thermometer(em, backend).measure(timeout_s=10)
    if fault is Fault.GARBAGE:
        assert err.value.raw[0] == 0x06 and len(err.value.raw) < 13  # time and type promised
    else:
        assert (err.value.raw[0], len(err.value.raw)) == (0x02, 11)  # 12 bytes less one
    assert em.address in str(err.value)


async def test_link_dropped_while_measuring(tz: ZoneInfo, backend: BleBackend) -> None:
    async with ThermometerEmulator(tz=tz, faults=frozenset({Fault.DROP_MID_MEASUREMENT})) as em:
        live: list[float] = []
        with pytest.raises(DeviceConnectionError) as err:
            await thermometer(em, backend).measure(on_intermediate=live.append, timeout_s=10)
    assert err.value.reason == "link_lost"
    assert 0 < len(live) < em.steps and em.results_sent == 0


def test_record_to_reading_boundaries() -> None:
    info = DeviceInfo(model="x", transport=Transport.BLE)
    tz = ZoneInfo("Asia/Shanghai")
    when = DateTime(2026, 1, 2, 3, 4, 5)

    def celsius(mantissa: int, exponent: int, unit: TemperatureUnit) -> float:
        record = TemperatureRecord(unit, Nfloat(mantissa, exponent), when)
        return record_to_reading(record, device=info, tz=tz).celsius

    assert celsius(3725, -2, TemperatureUnit.CELSIUS) == 37.3  # 37.25 halves up
    assert celsius(991, -1, TemperatureUnit.FAHRENHEIT) == 37.3  # 99.1 °F = 37.28
    assert celsius(1000, -2, TemperatureUnit.CELSIUS) == 10.0
    with pytest.raises(MeasurementError):
        celsius(994, -2, TemperatureUnit.CELSIUS)  # 9.9 °C
    with pytest.raises(MeasurementError):
        celsius(50, 0, TemperatureUnit.CELSIUS)


@given(temperature_records)
def test_any_temperature_is_a_reading_in_range_or_a_measurement_error(
    record: TemperatureRecord,
) -> None:
    info = DeviceInfo(model="x", transport=Transport.BLE)
    try:
        reading = record_to_reading(record, device=info, tz=ZoneInfo("Asia/Shanghai"))
    except MeasurementError:
        return
    assert 10.0 <= reading.celsius < 50.0
    assert reading.original_unit is record.unit
