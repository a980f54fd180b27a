"""Glucose Service codecs (0x2A18, 0x2A34, 0x2A51) and the unit conversion.

Captured/public bytes: Nordic Semiconductor, Android-BLE-Common-Library,
ble-common/src/test/.../glucose/GlucoseMeasurementDataCallbackTest.java
(``onGlucoseMeasurementReceived`` and ``onInvalidDataReceived``, time offset
missing). Context bytes: built by hand from the GLS 1.0 field layout with the
field values of Nordic's GlucoseMeasurementContextDataCallbackTest (no public
byte capture of a full context was found). Conversion: docs/clinical.md, "Units and conversions"
(1 mmol/L = 18.016 mg/dL; 1 kg/L = 100 000 mg/dL; mol/L × 1000 = mmol/L).
Fuzz: Hypothesis (a failure prints ``--hypothesis-seed=N``).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ble.gatt_time import DateTime
from drivers.ble.glucose_codec import (
    ConcentrationUnit,
    GlucoseCodecError,
    GlucoseContext,
    GlucoseFeature,
    GlucoseRecord,
    Meal,
    SensorStatus,
    concentration_to_mmol_per_l,
    decode_context,
    decode_feature,
    decode_measurement,
    encode_context,
    encode_feature,
    encode_measurement,
    meal_context,
)
from drivers.ble.ieee11073 import Nfloat, Special
from healthkiosk.readings import MG_PER_DL_PER_MMOL_PER_L, MealContext
from tests.support.strategies import glucose_contexts, glucose_records

NORDIC_GLUCOSE = bytes(
    [0b011011, 1, 0, 0xE3, 0x07, 2, 27, 11, 10, 30, 0xFB, 0xFF, 30, 0, 0x12, 0b101, 0b1]
)
NORDIC_GLUCOSE_INVALID = bytes(
    [0b011011, 0, 0, 0xE2, 0x07, 4, 26, 11, 9, 30, 30, 0, 0x12, 0b101, 0b1]
)


def test_nordic_glucose_measurement() -> None:
    record = decode_measurement(NORDIC_GLUCOSE)
    assert record == GlucoseRecord(
        sequence_number=1,
        base_time=DateTime(2019, 2, 27, 11, 10, 30),
        time_offset_minutes=-5,
        concentration=Nfloat(30, 0),
        unit=ConcentrationUnit.KG_PER_L,
        sample_type=2,
        sample_location=1,
        sensor_status=SensorStatus(
            device_battery_low=True, sample_size_insufficient=True, temperature_too_low=True
        ),
        context_follows=True,
    )
    assert record.sensor_status is not None and record.sensor_status.bits == 261
    assert record.type_name == "capillary_plasma"
    assert record.location_name == "finger"
    assert encode_measurement(record) == NORDIC_GLUCOSE


def test_nordic_invalid_glucose_measurement() -> None:
    with pytest.raises(GlucoseCodecError) as err:
        decode_measurement(NORDIC_GLUCOSE_INVALID)
    assert err.value.raw == NORDIC_GLUCOSE_INVALID


def test_every_truncation_fails_cleanly() -> None:
    for n in range(len(NORDIC_GLUCOSE)):
        with pytest.raises(GlucoseCodecError):
            decode_measurement(NORDIC_GLUCOSE[:n])


@pytest.mark.parametrize(
    ("value", "unit", "mmol"),
    [
        (Nfloat(110, -5), ConcentrationUnit.KG_PER_L, 6.1),  # 110 mg/dL
        (Nfloat(126, -5), ConcentrationUnit.KG_PER_L, 7.0),  # 126 mg/dL: the diabetes cut-off
        (Nfloat(70, -5), ConcentrationUnit.KG_PER_L, 3.9),
        (Nfloat(56, -4), ConcentrationUnit.MOL_PER_L, 5.6),  # 0.0056 mol/L
        (Nfloat(167, -4), ConcentrationUnit.MOL_PER_L, 16.7),
        (Nfloat(555, -6), ConcentrationUnit.MOL_PER_L, 0.6),
    ],
)
def test_unit_conversion(value: Nfloat, unit: ConcentrationUnit, mmol: float) -> None:
    assert concentration_to_mmol_per_l(value, unit) == mmol


@given(st.integers(20, 600))
def test_kg_per_l_conversion_within_clinical_tolerance(mg_dl: int) -> None:
    mmol = concentration_to_mmol_per_l(Nfloat(mg_dl, -5), ConcentrationUnit.KG_PER_L)
    assert mmol is not None
    assert abs(mmol - mg_dl / MG_PER_DL_PER_MMOL_PER_L) <= 0.05
    assert round(mmol, 1) == mmol


def test_special_concentration_has_no_mmol() -> None:
    assert concentration_to_mmol_per_l(Nfloat.of(Special.NAN), ConcentrationUnit.MOL_PER_L) is None


CONTEXT_FULL = bytes(
    # flags, seq 0, extended flags, carbohydrate: dinner 100 kg, meal casual,
    # tester HCP / health minor issues, exercise 60 s at 50 %, long acting insulin
    [
        *(0xFF, 0x00, 0x00, 0xB3, 0x03, 0x64, 0x00, 0x04, 0x12, 0x3C, 0x00, 0x32, 0x04),
        *(0xD3, 0xE4),  # medication 1235e-2 (12.35, litres: flag bit 5)
        *(0x59, 0xF1),  # HbA1c 345e-1 = 34.5 %
    ]
)


def test_context_full() -> None:
    ctx = decode_context(CONTEXT_FULL)
    assert ctx.sequence_number == 0
    assert ctx.extended_flags == 0xB3
    assert ctx.carbohydrate_id == 3 and ctx.carbohydrate_kg == Nfloat(100, 0)
    assert ctx.meal is Meal.CASUAL
    assert (ctx.tester, ctx.health) == (2, 1)
    assert ctx.exercise_duration_s == 60 and ctx.exercise_intensity_percent == 50
    assert ctx.medication_id == 4 and ctx.medication_in_litres
    assert ctx.medication == Nfloat(1235, -2)
    assert ctx.hba1c_percent == Nfloat(345, -1)
    assert ctx.as_dict()["meal"] == "casual"
    assert ctx.as_dict()["tester"] == "health_care_professional"
    assert ctx.as_dict()["health"] == "minor_health_issues"
    assert encode_context(ctx) == CONTEXT_FULL


def test_context_empty_and_truncated() -> None:
    assert decode_context(bytes([0, 1, 0])) == GlucoseContext(sequence_number=1)
    for n in range(len(CONTEXT_FULL)):
        with pytest.raises(GlucoseCodecError):
            decode_context(CONTEXT_FULL[:n])


def test_meal_to_kiosk_context() -> None:
    assert meal_context(Meal.FASTING) is MealContext.FASTING
    assert meal_context(Meal.POSTPRANDIAL) is MealContext.AFTER_MEAL
    assert meal_context(Meal.PREPRANDIAL) is MealContext.RANDOM
    assert meal_context(None) is None


def test_feature() -> None:
    feature = decode_feature(b"\xff\x03")
    assert feature.as_dict()["low_battery_detection"]
    assert not feature.as_dict()["multiple_bond"]
    assert encode_feature(feature) == b"\xff\x03"
    assert decode_feature(b"\x00\x04") == GlucoseFeature(0x400)


@given(glucose_records())
def test_measurement_round_trip(record: GlucoseRecord) -> None:
    assert decode_measurement(encode_measurement(record)) == record


@given(glucose_contexts())
def test_context_round_trip(ctx: GlucoseContext) -> None:
    assert decode_context(encode_context(ctx)) == ctx


@given(st.binary(max_size=24))
def test_arbitrary_bytes_raise_only_glucose_error(raw: bytes) -> None:
    for decode in (decode_measurement, decode_context, decode_feature):
        try:
            decode(raw)
        except GlucoseCodecError as err:
            assert err.raw == raw
