"""Weight Scale (0x2A9D, 0x2A9E) and Body Composition (0x2A9C, 0x2A9B) codecs.

Public bytes, each with its expected values as the source's own test asserts them:
- RonanB96/bluetooth-sig-python@27bdb3d,
  tests/gatt/characteristics/test_weight_measurement.py (tests 1-6),
  test_weight_scale_feature.py (``8F 00 00 00``),
  test_body_composition_measurement.py (tests 1-6) and
  test_body_composition_feature.py (``00 20 01 00``). Only that library's
  integer vectors are used: its FLOAT/SFLOAT ones are not IEEE 11073 (see
  test_hts_codec.py). An older version of the same tests
  (@1eb9973) put "height present" at the reserved bit 4 and muscle mass before
  muscle percentage: the layout here follows the SIG's field definitions
  (oesmith/gatt-xml@4fd2ede, org.bluetooth.characteristic.weight_measurement.xml and
  body_composition_measurement.xml), which the newer tests agree with.
- ``00 FF FF`` (measurement unsuccessful): the initial value of Espressif's
  weight scale GATT server demo, as docs/protocols/weight-scale.md cites it.
- The field scale is fixed by the specification (0.005 kg, 0.01 lb): StanfordSpezi/
  SpeziBluetooth@c52a637 (WeightScaleTests.swift) multiplies by the Feature's
  resolution instead; the vector ``00 78 00`` shows the difference.
Fuzz: Hypothesis (a failure prints ``--hypothesis-seed=N``).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ble.gatt_time import DateTime
from drivers.ble.weight_codec import (
    BodyCompositionFeature,
    BodyCompositionRecord,
    WeightCodecError,
    WeightRecord,
    WeightScaleFeature,
    decode_body_composition,
    decode_body_composition_feature,
    decode_weight_measurement,
    decode_weight_scale_feature,
    encode_body_composition,
    encode_body_composition_feature,
    encode_weight_measurement,
    encode_weight_scale_feature,
    merge_packets,
)
from healthkiosk.readings import HeightUnit, WeightUnit
from tests.support.strategies import body_composition_records, weight_records

XMAS = DateTime(2023, 12, 25, 14, 30, 45)

# (bytes, expected) from RonanB96/bluetooth-sig-python@27bdb3d test_weight_measurement.py
WEIGHT_VECTORS = [
    ("00 B0 36", WeightRecord(WeightUnit.KG, Decimal("70.0"))),
    ("01 54 3D", WeightRecord(WeightUnit.LB, Decimal("157.00"))),
    ("02 B0 36 E7 07 0C 19 0E 1E 2D", WeightRecord(WeightUnit.KG, Decimal("70"), XMAS)),
    (
        "0C B0 36 05 F5 00 D6 06",
        WeightRecord(
            WeightUnit.KG, Decimal("70"), user_id=5, bmi=Decimal("24.5"), height=Decimal("1.75")
        ),
    ),
    (
        "08 B0 36 F5 00 D6 06",
        WeightRecord(WeightUnit.KG, Decimal("70"), bmi=Decimal("24.5"), height=Decimal("1.75")),
    ),
    (
        "0F 54 3D E7 07 0C 19 0E 1E 2D 03 F5 00 A8 02",
        WeightRecord(
            WeightUnit.LB,
            Decimal("157"),
            XMAS,
            user_id=3,
            bmi=Decimal("24.5"),
            height=Decimal("68.0"),
        ),
    ),
    ("00 FF FF", WeightRecord(WeightUnit.KG, None)),  # Espressif demo: unsuccessful
]


@pytest.mark.parametrize(("hex_text", "expected"), WEIGHT_VECTORS)
def test_public_weight_vectors(hex_text: str, expected: WeightRecord) -> None:
    raw = bytes.fromhex(hex_text)
    assert decode_weight_measurement(raw) == expected
    assert encode_weight_measurement(expected) == raw


def test_height_unit_follows_the_weight_unit() -> None:
    assert decode_weight_measurement(bytes.fromhex("08B036F500D606")).height_unit is HeightUnit.M
    lb = decode_weight_measurement(bytes.fromhex("0F543DE7070C190E1E2D03F500A802"))
    assert lb.height_unit is HeightUnit.IN


def test_unsuccessful_is_none_not_a_number() -> None:
    r = decode_weight_measurement(bytes.fromhex("01FFFF"))
    assert r.weight is None and r.unsuccessful and r.unit is WeightUnit.LB
    # 0xFFFE is the largest number: 327.67 kg
    assert decode_weight_measurement(bytes.fromhex("00FEFF")).weight == Decimal("327.670")


def test_the_field_scale_does_not_depend_on_the_feature_resolution() -> None:
    # Raw 120: 0.6 kg, whatever the scale's precision (Spezi would say 1.2 kg at "10 g").
    assert decode_weight_measurement(bytes.fromhex("007800")).weight == Decimal("0.6")
    assert decode_weight_measurement(bytes.fromhex("017800")).weight == Decimal("1.2")


def test_an_old_public_layout_is_refused_not_misread() -> None:
    # bluetooth-sig-python@1eb9973 sent "height present" as bit 4 (reserved).
    raw = bytes.fromhex("10B036D606")
    with pytest.raises(WeightCodecError) as err:
        decode_weight_measurement(raw)
    assert err.value.raw == raw


def test_every_truncation_of_a_full_weight_fails_cleanly() -> None:
    full = bytes.fromhex(WEIGHT_VECTORS[5][0])
    for n in range(len(full)):
        with pytest.raises(WeightCodecError) as err:
            decode_weight_measurement(full[:n])
        assert err.value.raw == full[:n]


def test_bad_time_stamp_is_a_weight_error_with_the_whole_value() -> None:
    raw = bytes.fromhex("02B036E7070D190E1E2D")  # month 13
    with pytest.raises(WeightCodecError) as err:
        decode_weight_measurement(raw)
    assert err.value.raw == raw and "month 13" in str(err.value)


def test_encoder_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(WeightCodecError):  # not a multiple of 5 g
        encode_weight_measurement(WeightRecord(WeightUnit.KG, Decimal("70.001")))
    with pytest.raises(WeightCodecError):  # BMI without height
        encode_weight_measurement(WeightRecord(WeightUnit.KG, Decimal("70"), bmi=Decimal("22")))
    with pytest.raises(WeightCodecError):  # beyond the field
        encode_weight_measurement(WeightRecord(WeightUnit.KG, Decimal("400")))


def test_weight_scale_feature() -> None:
    # bluetooth-sig-python@27bdb3d test_weight_scale_feature.py: 0x8F
    feature = decode_weight_scale_feature(bytes.fromhex("8F000000"))
    assert feature == WeightScaleFeature(True, True, True, weight_resolution=1, height_resolution=1)
    assert feature.weight_resolution_in(WeightUnit.KG) == Decimal("0.5")
    assert feature.weight_resolution_in(WeightUnit.LB) == Decimal("1")
    assert feature.height_resolution_in(HeightUnit.M) == Decimal("0.01")
    assert encode_weight_scale_feature(feature) == bytes.fromhex("8F000000")
    assert decode_weight_scale_feature(bytes(4)).as_dict()["weight_resolution_kg"] is None
    finest = WeightScaleFeature(weight_resolution=7, height_resolution=3)
    assert decode_weight_scale_feature(encode_weight_scale_feature(finest)) == finest
    with pytest.raises(WeightCodecError):
        decode_weight_scale_feature(b"\x8f\x00\x00")


BODY_VECTORS = [
    ("00 00 32 00", BodyCompositionRecord(WeightUnit.KG, Decimal("5.0"))),
    (
        "03 00 96 00 E8 07 06 14 0A 1E 00",
        BodyCompositionRecord(WeightUnit.LB, Decimal("15.0"), DateTime(2024, 6, 20, 10, 30, 0)),
    ),
    (
        "0C 00 78 00 05 40 06",
        BodyCompositionRecord(
            WeightUnit.KG, Decimal("12.0"), user_id=5, basal_metabolism_kj=Decimal(1600)
        ),
    ),
    (
        "30 00 64 00 C8 00 B8 0B",
        BodyCompositionRecord(
            WeightUnit.KG,
            Decimal("10.0"),
            muscle_percent=Decimal("20.0"),
            muscle_mass=Decimal("15.0"),
        ),
    ),
    (
        "C0 01 50 00 E0 2E 10 27 40 1F",
        BodyCompositionRecord(
            WeightUnit.KG,
            Decimal("8.0"),
            fat_free_mass=Decimal("60"),
            soft_lean_mass=Decimal("50"),
            body_water_mass=Decimal("40"),
        ),
    ),
    (
        "00 0E 46 00 40 1F B0 36 E8 03",
        BodyCompositionRecord(
            WeightUnit.KG,
            Decimal("7.0"),
            impedance_ohm=Decimal("800.0"),
            weight=Decimal("70"),
            height=Decimal("1.000"),
        ),
    ),
]


@pytest.mark.parametrize(("hex_text", "expected"), BODY_VECTORS)
def test_public_body_composition_vectors(hex_text: str, expected: BodyCompositionRecord) -> None:
    raw = bytes.fromhex(hex_text)
    assert decode_body_composition(raw) == expected
    assert encode_body_composition(expected) == raw


def test_body_composition_unavailable_fields() -> None:
    # Body fat 0xFFFF, weight present 70 kg, impedance 0xFFFF (built from the field table).
    raw = bytes.fromhex("0006FFFFFFFFB036")
    r = decode_body_composition(raw)
    assert r.body_fat_percent is None and r.impedance_ohm is None
    assert r.weight == Decimal("70")
    assert r.unavailable == {"body_fat_percent", "impedance_ohm"}
    assert encode_body_composition(r) == raw


def test_body_composition_multiple_packets_merge() -> None:
    first = decode_body_composition(bytes.fromhex("1210A000E80706140A1E002C01"))
    assert first.multiple_packet and first.muscle_percent == Decimal("30.0")
    rest = decode_body_composition(bytes.fromhex("0004FFFFB036"))
    merged = merge_packets(first, rest)
    assert merged.body_fat_percent == Decimal("16.0")  # the first packet's
    assert merged.weight == Decimal("70") and merged.muscle_percent == Decimal("30.0")
    assert merged.timestamp == DateTime(2024, 6, 20, 10, 30, 0)
    assert not merged.multiple_packet and merged.unavailable == frozenset()
    with pytest.raises(WeightCodecError):
        merge_packets(first, decode_body_composition(bytes.fromhex("01003200")))


def test_every_truncation_of_a_body_composition_fails_cleanly() -> None:
    full = bytes.fromhex(BODY_VECTORS[5][0])
    for n in range(len(full)):
        with pytest.raises(WeightCodecError):
            decode_body_composition(full[:n])


def test_body_composition_feature() -> None:
    # bluetooth-sig-python@27bdb3d test_body_composition_feature.py
    f = decode_body_composition_feature(bytes.fromhex("00200100"))
    assert f == BodyCompositionFeature(frozenset(), mass_resolution=4, height_resolution=2)
    assert f.as_dict()["mass_resolution_kg"] == 0.05
    assert f.as_dict()["height_resolution_m"] == 0.005
    everything = decode_body_composition_feature(bytes.fromhex("FF0F0000"))
    assert len(everything.supported) == 11 and everything.mass_resolution == 1
    assert encode_body_composition_feature(everything) == bytes.fromhex("FF0F0000")


@given(weight_records())
def test_weight_round_trip(record: WeightRecord) -> None:
    assert decode_weight_measurement(encode_weight_measurement(record)) == record


@given(body_composition_records())
def test_body_composition_round_trip(record: BodyCompositionRecord) -> None:
    assert decode_body_composition(encode_body_composition(record)) == record


@given(st.binary(max_size=40))
def test_arbitrary_bytes_raise_only_weight_error(raw: bytes) -> None:
    for decode in (
        decode_weight_measurement,
        decode_weight_scale_feature,
        decode_body_composition,
        decode_body_composition_feature,
    ):
        try:
            decode(raw)
        except WeightCodecError as err:
            assert err.raw == raw
