"""Blood Pressure Service codecs (0x2A35, 0x2A36, 0x2A49).

Captured/public bytes: Nordic Semiconductor, Android-BLE-Common-Library,
ble-common/src/test/.../bps/BloodPressureMeasurementDataCallbackTest.java
(``onBloodPressureMeasurementReceived_full``, ``_some``, ``_minimal``; the
expected values are the ones that test asserts) and
IntermediateCuffPressureDataCallbackTest. Field layout: Bluetooth SIG
Blood Pressure Service 1.1 / GSS.
Fuzz: Hypothesis (a failure prints ``--hypothesis-seed=N``).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ble.bps_codec import (
    BloodPressureFeature,
    BloodPressureRecord,
    BpsCodecError,
    MeasurementStatus,
    PulseRateRange,
    decode_feature,
    decode_intermediate_cuff_pressure,
    decode_measurement,
    encode_feature,
    encode_measurement,
)
from drivers.ble.gatt_time import DateTime
from drivers.ble.ieee11073 import Nfloat, Special
from healthkiosk.readings import PressureUnit
from tests.support.strategies import bp_records

NORDIC_FULL = bytes(
    [
        0x1E,
        0x8A,
        0x00,
        0x58,
        0x00,
        0x78,
        0x00,
        0x00,
        0x00,
        0x04,
        0x11,
        0x14,
        0x29,
        0x3B,
        0x3C,
        0x00,
        0x01,
        0x27,
        0x00,
    ]
)
NORDIC_SOME = bytes([0x15, 0xBD, 0xF0, 0x0B, 0x00, 0x9F, 0xF0, 0x3C, 0x00, 0x12, 0x00])
NORDIC_MINIMAL = bytes([0x00, 0xBD, 0xF0, 0x0B, 0x00, 0x9F, 0xF0])


def test_nordic_full_measurement() -> None:
    assert decode_measurement(NORDIC_FULL) == BloodPressureRecord(
        unit=PressureUnit.MMHG,
        systolic=Nfloat(138, 0),
        diastolic=Nfloat(88, 0),
        mean_arterial_pressure=Nfloat(120, 0),
        timestamp=DateTime(0, 4, 17, 20, 41, 59),  # the year is "unknown" (0)
        pulse_rate=Nfloat(60, 0),
        user_id=1,
        status=MeasurementStatus(
            body_movement=True,
            cuff_too_loose=True,
            irregular_pulse=True,
            pulse_rate_range=PulseRateRange.WITHIN,
            improper_position=True,
        ),
    )


def test_nordic_some_fields_in_kpa() -> None:
    record = decode_measurement(NORDIC_SOME)
    assert record.unit is PressureUnit.KPA
    assert (record.systolic, record.diastolic, record.mean_arterial_pressure) == (
        Nfloat(189, -1),
        Nfloat(11, 0),
        Nfloat(159, -1),
    )
    assert record.pulse_rate == Nfloat(60, 0)
    assert record.user_id is None and record.timestamp is None
    assert record.status == MeasurementStatus(
        cuff_too_loose=True, pulse_rate_range=PulseRateRange.BELOW_LOWER_LIMIT
    )


def test_nordic_minimal() -> None:
    record = decode_measurement(NORDIC_MINIMAL)
    assert record == BloodPressureRecord(
        PressureUnit.MMHG, Nfloat(189, -1), Nfloat(11, 0), Nfloat(159, -1)
    )


@pytest.mark.parametrize("capture", [NORDIC_FULL, NORDIC_SOME, NORDIC_MINIMAL])
def test_captures_encode_back_to_the_same_bytes(capture: bytes) -> None:
    assert encode_measurement(decode_measurement(capture)) == capture


@pytest.mark.parametrize("capture", [NORDIC_FULL, NORDIC_SOME, NORDIC_MINIMAL])
def test_every_truncation_fails_cleanly(capture: bytes) -> None:
    for n in range(len(capture)):
        with pytest.raises(BpsCodecError) as err:
            decode_measurement(capture[:n])
        assert err.value.raw == capture[:n]


def test_nordic_invalid_examples() -> None:
    # Nordic's onInvalidDataReceived_toShort and _noTimestamp.
    for raw in (bytes([1, 2, 3, 4, 5, 6]), bytes([3, 2, 3, 4, 5, 6, 7])):
        with pytest.raises(BpsCodecError):
            decode_measurement(raw)


def test_intermediate_cuff_pressure_uses_the_same_layout() -> None:
    # Cuff at 40 mmHg, diastolic and MAP unused (NaN), as ICP values are sent.
    raw = bytes([0x00, 0x28, 0x00, 0xFF, 0x07, 0xFF, 0x07])
    record = decode_intermediate_cuff_pressure(raw)
    assert record.systolic == Nfloat(40, 0)
    assert record.diastolic.special is Special.NAN
    assert record.mean_arterial_pressure.special is Special.NAN


def test_feature() -> None:
    feature = decode_feature(b"\x27\x00")
    assert feature == BloodPressureFeature(
        body_movement_detection=True,
        cuff_fit_detection=True,
        irregular_pulse_detection=True,
        pulse_rate_range_detection=False,
        measurement_position_detection=False,
        multiple_bond=True,
    )
    assert encode_feature(feature) == b"\x27\x00"
    with pytest.raises(BpsCodecError):
        decode_feature(b"\x27")


def test_invalid_time_stamp_is_a_bps_error() -> None:
    raw = bytearray(NORDIC_FULL)
    raw[9] = 13  # month 13
    with pytest.raises(BpsCodecError):
        decode_measurement(bytes(raw))


@given(bp_records)
def test_round_trip(record: BloodPressureRecord) -> None:
    assert decode_measurement(encode_measurement(record)) == record


@given(st.binary(max_size=24))
def test_arbitrary_bytes_raise_only_bps_error(raw: bytes) -> None:
    try:
        decode_measurement(raw)
    except BpsCodecError as err:
        assert err.raw == raw
    try:
        decode_feature(raw)
    except BpsCodecError as err:
        assert err.raw == raw
