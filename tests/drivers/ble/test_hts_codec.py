"""Health Thermometer codecs (0x2A1C, 0x2A1E, 0x2A1D) and the FLOAT exponent.

Public bytes:
- NordicSemiconductor/Android-BLE-Common-Library@c078e25,
  ble-common/src/test/java/no/nordicsemi/android/ble/common/callback/ht/
  TemperatureMeasurementDataCallbackTest.java: ``onTemperatureMeasurementReceived``
  (37.60 °C, 2012-12-05 11:50:27, finger) and ``onInvalidDataReceived`` (the
  same bytes without the type byte its flags promise).
- zephyrproject-rtos/zephyr@0183d02, samples/bluetooth/peripheral_ht/src/hts.c:
  the sample's encoder sends flags 0 and the FLOAT with exponent 0 (21 °C here).
- ``01 DA 03 00 FF`` (98.6 °F) is built from the field layout for the
  Fahrenheit path: no public capture of a °F thermometer was found.
- RonanB96/bluetooth-sig-python@27bdb3d reads the FLOAT exponent with a bias
  of 128 instead of two's complement: its "37.0 °C" bytes ``20 75 38 7B`` are
  3.7 × 10^129 to a correct decoder, which is asserted below so the mistake is
  not copied.
Field layout: oesmith/gatt-xml@4fd2ede, temperature_measurement.xml,
intermediate_temperature.xml, temperature_type.xml.
Fuzz: Hypothesis (a failure prints ``--hypothesis-seed=N``).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ble.gatt_time import DateTime
from drivers.ble.hts_codec import (
    HtsCodecError,
    TemperatureRecord,
    decode_intermediate,
    decode_measurement,
    decode_temperature_type,
    encode_measurement,
    encode_temperature_type,
    site_of,
    type_name,
)
from drivers.ble.ieee11073 import Nfloat, Special, decode_float
from healthkiosk.readings import TemperatureSite, TemperatureUnit
from tests.support.strategies import temperature_records

NORDIC = bytes([0x06, 0xB0, 0x0E, 0x00, 0xFE, 0xDC, 0x07, 0x0C, 0x05, 0x0B, 0x32, 0x1B, 0x04])
NORDIC_INVALID = NORDIC[:-1]
ZEPHYR_21C = bytes([0x00, 0x15, 0x00, 0x00, 0x00])
BUILT_98_6F = bytes([0x01, 0xDA, 0x03, 0x00, 0xFF])


def test_nordic_measurement() -> None:
    record = decode_measurement(NORDIC)
    assert record == TemperatureRecord(
        unit=TemperatureUnit.CELSIUS,
        temperature=Nfloat(3760, -2),
        timestamp=DateTime(2012, 12, 5, 11, 50, 27),
        temperature_type=4,
    )
    assert record.temperature.value == 37.6
    assert record.site is TemperatureSite.FINGER
    assert encode_measurement(record) == NORDIC


def test_nordic_invalid_measurement() -> None:
    with pytest.raises(HtsCodecError) as err:
        decode_measurement(NORDIC_INVALID)
    assert err.value.raw == NORDIC_INVALID


def test_zephyr_sample_and_fahrenheit() -> None:
    assert decode_measurement(ZEPHYR_21C) == TemperatureRecord(
        TemperatureUnit.CELSIUS, Nfloat(21, 0)
    )
    f = decode_intermediate(BUILT_98_6F)
    assert f.unit is TemperatureUnit.FAHRENHEIT and f.temperature.value == 98.6
    assert f.site is None and f.timestamp is None


def test_float_exponent_is_twos_complement_not_biased() -> None:
    # bluetooth-sig-python@27bdb3d's "37.0 °C": a biased exponent, not IEEE 11073.
    assert decode_float(bytes.fromhex("2075387B")).value == 3.7e129
    assert decode_float(bytes.fromhex("B00E00FE")).value == 37.6  # Nordic: exponent -2


def test_special_float_is_no_number() -> None:
    record = decode_measurement(bytes([0x00, 0xFF, 0xFF, 0x7F, 0x00]))
    assert record.temperature.special is Special.NAN and record.temperature.value is None


@pytest.mark.parametrize(
    ("code", "name", "site"),
    [
        (1, "armpit", TemperatureSite.ARMPIT),
        (2, "body", TemperatureSite.BODY),
        (3, "ear", TemperatureSite.EAR),
        (6, "mouth", TemperatureSite.MOUTH),
        (9, "tympanum", TemperatureSite.TYMPANUM),
        (0, "reserved_0", None),
        (10, "reserved_10", None),
        (None, None, None),
    ],
)
def test_temperature_types(code: int | None, name: str | None, site: TemperatureSite) -> None:
    assert type_name(code) == name and site_of(code) is site


def test_temperature_type_characteristic() -> None:
    assert decode_temperature_type(b"\x01") == 1
    assert encode_temperature_type(9) == b"\x09"
    for bad in (b"", b"\x01\x02"):
        with pytest.raises(HtsCodecError):
            decode_temperature_type(bad)


def test_every_truncation_fails_cleanly() -> None:
    for n in range(len(NORDIC)):
        with pytest.raises(HtsCodecError) as err:
            decode_measurement(NORDIC[:n])
        assert err.value.raw == NORDIC[:n]


@given(temperature_records)
def test_measurement_round_trip(record: TemperatureRecord) -> None:
    assert decode_measurement(encode_measurement(record)) == record


@given(st.binary(max_size=20))
def test_arbitrary_bytes_raise_only_hts_error(raw: bytes) -> None:
    for decode in (decode_measurement, decode_temperature_type):
        try:
            decode(raw)
        except HtsCodecError as err:
            assert err.raw == raw
