"""IEEE 11073-20601 SFLOAT/FLOAT.

Special values: IEEE 11073-20601 §F.8 as the Bluetooth SIG GATT Specification
Supplement (GSS, "medfloat16"/"medfloat32") lists them — NaN 0x07FF, NRes
0x0800, +INF 0x07FE, -INF 0x0802, reserved 0x0801 (FLOAT: 0x007FFFFF,
0x00800000, 0x007FFFFE, 0x00800002, 0x00800001).
Number bytes: Nordic Semiconductor, Android-BLE-Common-Library,
BloodPressureMeasurementDataCallbackTest (8A 00 = 138, BD F0 = 18.9).
Fuzz/round trips: Hypothesis; a failure prints ``--hypothesis-seed=N`` to rerun it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ble.ieee11073 import (
    FLOAT,
    SFLOAT,
    Nfloat,
    NfloatError,
    Special,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
    sfloat_from_decimal,
)
from tests.support.strategies import float_values, sfloat_values


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (b"\xff\x07", Special.NAN),
        (b"\x00\x08", Special.NRES),
        (b"\xfe\x07", Special.PLUS_INF),
        (b"\x02\x08", Special.MINUS_INF),
        (b"\x01\x08", Special.RESERVED),
    ],
)
def test_sfloat_special_values_are_no_value(raw: bytes, special: Special) -> None:
    value = decode_sfloat(raw)
    assert value.special is special
    assert value.value is None and value.decimal is None and not value.is_number
    assert encode_sfloat(value) == raw


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (b"\xff\xff\x7f\x00", Special.NAN),
        (b"\x00\x00\x80\x00", Special.NRES),
        (b"\xfe\xff\x7f\x00", Special.PLUS_INF),
        (b"\x02\x00\x80\x00", Special.MINUS_INF),
        (b"\x01\x00\x80\x00", Special.RESERVED),
    ],
)
def test_float_special_values_are_no_value(raw: bytes, special: Special) -> None:
    value = decode_float(raw)
    assert value.special is special and value.value is None
    assert encode_float(value) == raw


def test_special_mantissa_with_an_exponent_is_reserved() -> None:
    # 0x17FF: exponent 1, mantissa 0x7FF — not a number, not NaN either.
    assert decode_sfloat(b"\xff\x17").special is Special.RESERVED


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x8a\x00", Decimal(138)),  # Nordic BPM test: systolic 138 mmHg
        (b"\xbd\xf0", Decimal("18.9")),  # Nordic BPM test: 189e-1 kPa
        (b"\x0b\x00", Decimal(11)),
        (b"\x6e\xb0", Decimal("0.00110")),  # 110e-5 kg/L = 110 mg/dL
        (b"\x00\xf0", Decimal("0E-1")),
    ],
)
def test_sfloat_numbers(raw: bytes, expected: Decimal) -> None:
    assert decode_sfloat(raw).decimal == expected


def test_negative_mantissa_and_exponent() -> None:
    # 0xFFFE: exponent -1, mantissa -2 → -0.2
    assert decode_sfloat(b"\xfe\xff").decimal == Decimal("-0.2")


@pytest.mark.parametrize("length", [0, 1, 3, 4])
def test_sfloat_wrong_length(length: int) -> None:
    with pytest.raises(NfloatError) as err:
        decode_sfloat(bytes(length))
    assert err.value.raw == bytes(length)


def test_encode_out_of_range_raises_own_error() -> None:
    with pytest.raises(NfloatError):
        encode_sfloat(Nfloat(2046, 0))
    with pytest.raises(NfloatError):
        encode_sfloat(Nfloat(1, 8))
    with pytest.raises(NfloatError):
        sfloat_from_decimal("123.45")


def test_from_decimal_picks_a_fitting_representation() -> None:
    assert sfloat_from_decimal(120) == Nfloat(120, 0)
    assert sfloat_from_decimal("18.9") == Nfloat(189, -1)
    assert sfloat_from_decimal(2500) == Nfloat(250, 1)


@given(sfloat_values())
def test_sfloat_round_trip(value: Nfloat) -> None:
    assert decode_sfloat(encode_sfloat(value)) == value


@given(float_values())
def test_float_round_trip(value: Nfloat) -> None:
    assert decode_float(encode_float(value)) == value


@given(st.binary(min_size=2, max_size=2))
def test_any_two_bytes_decode_to_a_number_or_a_special(raw: bytes) -> None:
    value = decode_sfloat(raw)
    assert (value.special is None) == (value.value is not None)
    if value.special is None:
        assert abs(value.mantissa) <= SFLOAT.max_mantissa
        assert encode_sfloat(value) == raw


@given(st.binary(max_size=8))
def test_arbitrary_bytes_raise_only_nfloat_error(raw: bytes) -> None:
    for decode in (decode_sfloat, decode_float):
        try:
            decode(raw)
        except NfloatError as err:
            assert err.raw == raw


def test_float_number() -> None:
    # 0xFD0001C8: exponent -3, mantissa 456 → 0.456
    assert decode_float(bytes.fromhex("c80100fd")).decimal == Decimal("0.456")
    assert FLOAT.max_mantissa == 0x7FFFFD
