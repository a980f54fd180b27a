"""Pulse Oximeter Service codecs (0x2A5E, 0x2A5F, 0x2A60).

Public bytes: StanfordSpezi/SpeziBluetooth@c52a637,
Tests/SpeziBluetoothServicesTests/PLXTests.swift — the continuous ``[0, 232,
243, 132, 243]`` and its exponent-0 twin ``[0, 100, 0, 90, 0]``, the
"Simple" and "Full" continuous measurements, the spot-check measurement and
the PLX Features value; the expected values are those the Swift tests assert.
Field layout: the SIG's XML (oesmith/gatt-xml@4fd2ede,
org.bluetooth.characteristic.plx_spot_check_measurement.xml,
plx_continuous_measurement.xml, plx_features.xml).
Fuzz: Hypothesis (a failure prints ``--hypothesis-seed=N``).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ble.gatt_time import DateTime
from drivers.ble.ieee11073 import Nfloat, Special
from drivers.ble.plx_codec import (
    ContinuousRecord,
    DeviceStatus,
    MeasurementStatus,
    PlxCodecError,
    PlxFeatures,
    SpO2PR,
    SpotCheckRecord,
    decode_continuous,
    decode_features,
    decode_spot_check,
    encode_continuous,
    encode_features,
    encode_spot_check,
)
from tests.support.strategies import continuous_records, plx_features, spot_check_records

SPEZI_SIMPLE_CONTINUOUS = bytes([0, 232, 243, 132, 243])
SPEZI_SIMPLE_CONTINUOUS_EXP0 = bytes([0, 100, 0, 90, 0])
SPEZI_CONTINUOUS = bytes([28, 95, 0, 90, 0, 32, 0, 0, 0, 0, 87, 240])
SPEZI_CONTINUOUS_FULL = bytes(
    [31, 222, 243, 202, 243, 202, 243, 90, 245, 212, 243, 178, 242, 32, 1, 0, 0, 0, 122, 227]
)
SPEZI_SPOT_CHECK = bytes(
    [15, 172, 243, 190, 245, 232, 7, 11, 29, 23, 8, 57, 32, 64, 34, 0, 0, 102, 227]
)
SPEZI_FEATURES = bytes([163, 0, 64, 16, 128, 1, 0])


def test_spezi_simple_continuous_two_encodings_one_value() -> None:
    a = decode_continuous(SPEZI_SIMPLE_CONTINUOUS)
    b = decode_continuous(SPEZI_SIMPLE_CONTINUOUS_EXP0)
    assert a == ContinuousRecord(spo2=Nfloat(1000, -1), pulse_rate=Nfloat(900, -1))
    assert (a.spo2.value, a.pulse_rate.value) == (b.spo2.value, b.pulse_rate.value) == (100, 90)
    assert encode_continuous(a) == SPEZI_SIMPLE_CONTINUOUS


def test_spezi_continuous_with_status_and_pai() -> None:
    record = decode_continuous(SPEZI_CONTINUOUS)
    assert record == ContinuousRecord(
        spo2=Nfloat(95, 0),
        pulse_rate=Nfloat(90, 0),
        measurement_status=MeasurementStatus(measurement_ongoing=True),
        device_status=DeviceStatus(),
        pulse_amplitude_index=Nfloat(87, -1),
    )
    assert encode_continuous(record) == SPEZI_CONTINUOUS


def test_spezi_continuous_full() -> None:
    record = decode_continuous(SPEZI_CONTINUOUS_FULL)
    assert record == ContinuousRecord(
        spo2=Nfloat(990, -1),
        pulse_rate=Nfloat(970, -1),
        fast=SpO2PR(Nfloat(970, -1), Nfloat(1370, -1)),
        slow=SpO2PR(Nfloat(980, -1), Nfloat(690, -1)),
        measurement_status=MeasurementStatus(measurement_ongoing=True, fully_qualified_data=True),
        device_status=DeviceStatus(),
        pulse_amplitude_index=Nfloat(890, -2),
    )
    assert record.measurement_status is not None
    assert record.measurement_status.bits == 0x0120
    assert encode_continuous(record) == SPEZI_CONTINUOUS_FULL


def test_spezi_spot_check() -> None:
    record = decode_spot_check(SPEZI_SPOT_CHECK)
    assert record == SpotCheckRecord(
        spo2=Nfloat(940, -1),
        pulse_rate=Nfloat(1470, -1),
        timestamp=DateTime(2024, 11, 29, 23, 8, 57),
        measurement_status=MeasurementStatus(
            measurement_ongoing=True, questionable_measurement_detected=True
        ),
        device_status=DeviceStatus(
            equipment_malfunction_detected=True, low_perfusion_detected=True
        ),
        pulse_amplitude_index=Nfloat(870, -2),
    )
    assert record.pulse_amplitude_index is not None
    assert record.pulse_amplitude_index.value == 8.7
    assert encode_spot_check(record) == SPEZI_SPOT_CHECK


def test_spezi_features() -> None:
    features = decode_features(SPEZI_FEATURES)
    assert features == PlxFeatures(
        supported=frozenset(
            {
                "measurement_status_support",
                "device_and_sensor_status_support",
                "spo2pr_slow",
                "multiple_bonds",
            }
        ),
        measurement_status_support=MeasurementStatus(
            early_estimated_data=True, calibration_ongoing=True
        ),
        device_status_support=DeviceStatus(
            nonpulsatile_signal_detected=True, questionable_pulse_detected=True
        ),
    )
    assert encode_features(features) == SPEZI_FEATURES
    assert decode_features(b"\x04\x00") == PlxFeatures(
        frozenset({"spot_check_measurement_storage"})
    )


def test_clock_not_set_flag() -> None:
    raw = bytes([0x11, 0x61, 0x00, 0x48, 0x00, 0xE8, 0x07, 1, 1, 0, 0, 0])  # 97 %, 72 bpm
    record = decode_spot_check(raw)
    assert record.device_clock_not_set and record.timestamp == DateTime(2024, 1, 1, 0, 0, 0)
    assert encode_spot_check(record) == raw


def test_special_values_stay_special() -> None:
    record = decode_spot_check(bytes([0, 0xFF, 0x07, 0x00, 0x08]))
    assert record.spo2.special is Special.NAN and record.pulse_rate.special is Special.NRES
    assert record.spo2.value is None


def test_reserved_status_bits_are_ignored() -> None:
    record = decode_continuous(bytes([0x0C, 95, 0, 90, 0, 0x1F, 0x00, 0, 0, 0xFF]))
    assert record.measurement_status == MeasurementStatus()
    assert record.device_status == DeviceStatus()


@pytest.mark.parametrize(
    ("decode", "capture"),
    [
        (decode_spot_check, SPEZI_SPOT_CHECK),
        (decode_continuous, SPEZI_CONTINUOUS_FULL),
        (decode_features, SPEZI_FEATURES),
    ],
)
def test_every_truncation_fails_cleanly(decode: object, capture: bytes) -> None:
    assert callable(decode)
    for n in range(len(capture)):
        with pytest.raises(PlxCodecError) as err:
            decode(capture[:n])
        assert err.value.raw == capture[:n]


def test_one_byte_too_many_is_refused() -> None:
    with pytest.raises(PlxCodecError):
        decode_spot_check(SPEZI_SPOT_CHECK + b"\x00")


def test_bad_time_stamp_is_a_plx_error() -> None:
    raw = bytearray(SPEZI_SPOT_CHECK)
    raw[7] = 13  # month
    with pytest.raises(PlxCodecError) as err:
        decode_spot_check(bytes(raw))
    assert err.value.raw == bytes(raw)


def test_features_status_support_goes_with_its_bit() -> None:
    with pytest.raises(PlxCodecError):
        encode_features(PlxFeatures(frozenset({"measurement_status_support"})))


@given(spot_check_records)
def test_spot_check_round_trip(record: SpotCheckRecord) -> None:
    assert decode_spot_check(encode_spot_check(record)) == record


@given(continuous_records)
def test_continuous_round_trip(record: ContinuousRecord) -> None:
    assert decode_continuous(encode_continuous(record)) == record


@given(plx_features())
def test_features_round_trip(features: PlxFeatures) -> None:
    assert decode_features(encode_features(features)) == features


@given(st.binary(max_size=32))
def test_arbitrary_bytes_raise_only_plx_error(raw: bytes) -> None:
    for decode in (decode_spot_check, decode_continuous, decode_features):
        try:
            decode(raw)
        except PlxCodecError as err:
            assert err.raw == raw
