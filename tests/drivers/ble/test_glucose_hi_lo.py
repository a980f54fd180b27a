"""A meter's HI and LO in every encoding the Glucose Service allows become the
urgent meter_hi / meter_lo result, never "try again" (issue 14, finding 4;
docs/clinical.md, "Meter HI and LO, device memory, irregular pulse").

The Sensor Status Annunciation (Glucose Service 1.0, 3.106) has "result
higher/lower than the device can process"; meters send it with the limit, with
0, with +INF / -INF (IEEE 11073-20601 SFLOAT 0x07FE / 0x0802) or with no
concentration at all; a concentration of +INF / -INF alone says the same.
"""

from __future__ import annotations

import struct
from zoneinfo import ZoneInfo

import pytest

from drivers.ble.gatt_time import DateTime
from drivers.ble.glucose import record_to_reading, shown_out_of_range
from drivers.ble.glucose_codec import (
    ConcentrationUnit,
    GlucoseRecord,
    SensorStatus,
    decode_measurement,
    encode_measurement,
)
from drivers.ble.ieee11073 import Nfloat, decode_sfloat, sfloat_from_decimal
from drivers.ble.options import BleOptions
from healthkiosk.errors import MeasurementError
from healthkiosk.readings import DeviceInfo
from healthkiosk.rules import RulesConfig, classify_glucose_out_of_range

PLUS_INF = decode_sfloat(struct.pack("<H", 0x07FE))
MINUS_INF = decode_sfloat(struct.pack("<H", 0x0802))
NAN = decode_sfloat(struct.pack("<H", 0x07FF))
DEVICE = DeviceInfo(model="meter", transport="ble", address="AA:BB")
OPTS = BleOptions(tz=ZoneInfo("Asia/Shanghai"))


def _wire(concentration: Nfloat | None, status: SensorStatus | None) -> GlucoseRecord:
    """The record as a meter sends it, through the codec's bytes."""
    record = GlucoseRecord(
        sequence_number=7,
        base_time=DateTime(2026, 3, 2, 8, 30, 0),
        concentration=concentration,
        unit=None if concentration is None else ConcentrationUnit.MOL_PER_L,
        sample_type=None if concentration is None else 1,
        sample_location=None if concentration is None else 1,
        sensor_status=status,
    )
    return decode_measurement(encode_measurement(record))


HIGH, LOW = SensorStatus(result_too_high=True), SensorStatus(result_too_low=True)


@pytest.mark.parametrize(
    ("concentration", "status", "shown"),
    [
        (sfloat_from_decimal("0.0333"), HIGH, "HI"),  # the meter's limit, 33.3 mmol/L
        (PLUS_INF, HIGH, "HI"),
        (sfloat_from_decimal(0), HIGH, "HI"),
        (None, HIGH, "HI"),
        (PLUS_INF, None, "HI"),
        (sfloat_from_decimal("0.0006"), LOW, "LO"),
        (MINUS_INF, LOW, "LO"),
        (sfloat_from_decimal(0), LOW, "LO"),
        (None, LOW, "LO"),
        (MINUS_INF, None, "LO"),
    ],
)
def test_hi_and_lo_in_every_encoding_become_the_meters_hi_or_lo(
    concentration: Nfloat | None, status: SensorStatus | None, shown: str
) -> None:
    record = _wire(concentration, status)
    assert shown_out_of_range(record) == shown
    reading = record_to_reading(record, None, device=DEVICE, opts=OPTS)
    assert reading.out_of_range == shown
    c = classify_glucose_out_of_range("HI" if shown == "HI" else "LO", RulesConfig().glucose)
    assert c.urgent and c.rule == ("glucose.meter_hi" if shown == "HI" else "glucose.meter_lo")


def test_a_number_without_a_flag_is_a_number() -> None:
    reading = record_to_reading(
        _wire(sfloat_from_decimal("0.0052"), None), None, device=DEVICE, opts=OPTS
    )
    assert reading.out_of_range is None and reading.mmol_per_l == 5.2


@pytest.mark.parametrize("concentration", [NAN, None])
def test_no_number_and_no_flag_is_still_no_value(concentration: Nfloat | None) -> None:
    with pytest.raises(MeasurementError) as caught:
        record_to_reading(_wire(concentration, None), None, device=DEVICE, opts=OPTS)
    assert caught.value.problem.value == "no_value"


def test_a_device_fault_beside_hi_is_a_fault_not_a_reading() -> None:
    status = SensorStatus(result_too_high=True, sensor_malfunction=True)
    with pytest.raises(MeasurementError):
        record_to_reading(_wire(PLUS_INF, status), None, device=DEVICE, opts=OPTS)
