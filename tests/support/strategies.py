"""Hypothesis strategies for every value the BLE codecs encode."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hypothesis import strategies as st

from drivers.ble.bps_codec import BloodPressureRecord, MeasurementStatus, PulseRateRange
from drivers.ble.gatt_time import AdjustReason, CurrentTime, DateTime
from drivers.ble.glucose_codec import (
    ConcentrationUnit,
    GlucoseContext,
    GlucoseRecord,
    Meal,
    SensorStatus,
)
from drivers.ble.hts_codec import TemperatureRecord
from drivers.ble.ieee11073 import FLOAT, SFLOAT, Nfloat, Special
from drivers.ble.plx_codec import FEATURE_NAMES as PLX_FEATURE_NAMES
from drivers.ble.plx_codec import ContinuousRecord, PlxFeatures, SpO2PR, SpotCheckRecord
from drivers.ble.plx_codec import DeviceStatus as PlxDeviceStatus
from drivers.ble.plx_codec import MeasurementStatus as PlxMeasurementStatus
from drivers.ble.racp import (
    FilterType,
    OpCode,
    Operator,
    RacpRequest,
    RacpResponse,
    ResponseCode,
)
from drivers.ble.weight_codec import (
    BODY_FIELDS,
    HEIGHT_STEP,
    MASS_STEP,
    BodyCompositionRecord,
    WeightRecord,
)
from healthkiosk.readings import PressureUnit, TemperatureUnit, WeightUnit


def numbers(fmt=SFLOAT) -> st.SearchStrategy[Nfloat]:
    lo, hi = fmt.exponent_range
    return st.builds(
        Nfloat,
        mantissa=st.integers(-fmt.max_mantissa, fmt.max_mantissa),
        exponent=st.integers(lo, hi),
    )


def nfloats(fmt=SFLOAT) -> st.SearchStrategy[Nfloat]:
    specials = st.sampled_from(list(Special)).map(
        lambda s: Nfloat(mantissa={v: k for k, v in fmt.specials.items()}[s], exponent=0, special=s)
    )
    return st.one_of(numbers(fmt), specials)


def sfloat_values() -> st.SearchStrategy[Nfloat]:
    return nfloats(SFLOAT)


def float_values() -> st.SearchStrategy[Nfloat]:
    return nfloats(FLOAT)


known_dates = st.datetimes(min_value=datetime(1582, 10, 15), max_value=datetime(9999, 12, 31)).map(
    lambda d: DateTime(d.year, d.month, d.day, d.hour, d.minute, d.second)
)
unknown_dates = st.builds(
    DateTime,
    year=st.just(0),
    month=st.integers(0, 12),
    day=st.integers(0, 31),
    hours=st.integers(0, 23),
    minutes=st.integers(0, 59),
    seconds=st.integers(0, 59),
)
date_times = st.one_of(known_dates, unknown_dates)

current_times = st.builds(
    CurrentTime,
    date_time=date_times,
    day_of_week=st.integers(0, 7),
    fractions256=st.integers(0, 255),
    adjust_reason=st.builds(
        AdjustReason, st.booleans(), st.booleans(), st.booleans(), st.booleans()
    ),
)

statuses = st.builds(
    MeasurementStatus,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from(list(PulseRateRange)),
    st.booleans(),
)

bp_records = st.builds(
    BloodPressureRecord,
    unit=st.sampled_from(list(PressureUnit)),
    systolic=sfloat_values(),
    diastolic=sfloat_values(),
    mean_arterial_pressure=sfloat_values(),
    timestamp=st.none() | date_times,
    pulse_rate=st.none() | sfloat_values(),
    user_id=st.none() | st.integers(0, 255),
    status=st.none() | statuses,
)


@st.composite
def glucose_records(draw: st.DrawFn) -> GlucoseRecord:
    with_conc = draw(st.booleans())
    return GlucoseRecord(
        sequence_number=draw(st.integers(0, 0xFFFF)),
        base_time=draw(date_times),
        time_offset_minutes=draw(st.none() | st.integers(-32768, 32767)),
        concentration=draw(sfloat_values()) if with_conc else None,
        unit=draw(st.sampled_from(list(ConcentrationUnit))) if with_conc else None,
        sample_type=draw(st.integers(0, 15)) if with_conc else None,
        sample_location=draw(st.integers(0, 15)) if with_conc else None,
        sensor_status=draw(st.none() | st.integers(0, 0x0FFF).map(SensorStatus.from_bits)),
        context_follows=draw(st.booleans()),
    )


@st.composite
def glucose_contexts(draw: st.DrawFn) -> GlucoseContext:
    carb = draw(st.booleans())
    tester = draw(st.booleans())
    exercise = draw(st.booleans())
    medication = draw(st.booleans())
    return GlucoseContext(
        sequence_number=draw(st.integers(0, 0xFFFF)),
        extended_flags=draw(st.none() | st.integers(0, 255)),
        carbohydrate_id=draw(st.integers(0, 255)) if carb else None,
        carbohydrate_kg=draw(sfloat_values()) if carb else None,
        meal=draw(st.none() | st.sampled_from(list(Meal))),
        tester=draw(st.integers(0, 15)) if tester else None,
        health=draw(st.integers(0, 15)) if tester else None,
        exercise_duration_s=draw(st.integers(0, 0xFFFF)) if exercise else None,
        exercise_intensity_percent=draw(st.integers(0, 255)) if exercise else None,
        medication_id=draw(st.integers(0, 255)) if medication else None,
        medication=draw(sfloat_values()) if medication else None,
        medication_in_litres=draw(st.booleans()),
        hba1c_percent=draw(st.none() | sfloat_values()),
    )


seqs = st.integers(0, 0xFFFF)


@st.composite
def racp_values(draw: st.DrawFn) -> RacpRequest | RacpResponse:
    kind = draw(st.sampled_from(["request", "abort", "number", "code"]))
    if kind == "abort":
        return RacpRequest(OpCode.ABORT_OPERATION)
    if kind == "number":
        return RacpResponse(OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, number_of_records=draw(seqs))
    if kind == "code":
        return RacpResponse(
            OpCode.RESPONSE_CODE,
            request_op_code=draw(st.sampled_from(list(OpCode))),
            response_code=draw(st.sampled_from(list(ResponseCode))),
        )
    op = draw(
        st.sampled_from(
            [
                OpCode.REPORT_STORED_RECORDS,
                OpCode.DELETE_STORED_RECORDS,
                OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
            ]
        )
    )
    operator = draw(st.sampled_from([o for o in Operator if o is not Operator.NULL]))
    if operator in (Operator.ALL_RECORDS, Operator.FIRST_RECORD, Operator.LAST_RECORD):
        return RacpRequest(op, operator)
    if operator is Operator.WITHIN_RANGE:
        a, b = sorted((draw(seqs), draw(seqs)))
        return RacpRequest(op, operator, FilterType.SEQUENCE_NUMBER, (a, b))
    return RacpRequest(op, operator, FilterType.SEQUENCE_NUMBER, (draw(seqs),))


# --- issue 17: weight, body composition, pulse oximetry, temperature ----------------


def _steps(step: str, top: int = 0xFFFE) -> st.SearchStrategy[Decimal]:
    return st.integers(0, top).map(lambda n: n * Decimal(step))


@st.composite
def weight_records(draw: st.DrawFn) -> WeightRecord:
    unit = draw(st.sampled_from(list(WeightUnit)))
    with_bmi = draw(st.booleans())
    return WeightRecord(
        unit=unit,
        weight=draw(st.none() | _steps(str(MASS_STEP[unit]))),
        timestamp=draw(st.none() | date_times),
        user_id=draw(st.none() | st.integers(0, 255)),
        bmi=draw(_steps("0.1")) if with_bmi else None,
        height=draw(_steps(str(HEIGHT_STEP[unit]))) if with_bmi else None,
    )


@st.composite
def body_composition_records(draw: st.DrawFn) -> BodyCompositionRecord:
    unit = draw(st.sampled_from(list(WeightUnit)))
    values: dict[str, Decimal | None] = {}
    unavailable: set[str] = set()
    steps = {"percent": "0.1", "kj": "1", "ohm": "0.1"}
    for _bit, name, kind in (
        (0, "body_fat_percent", "percent"),
        *BODY_FIELDS,
    ):
        state = draw(st.sampled_from(["absent", "value", "unavailable"]))
        if name == "body_fat_percent" and state == "absent":
            state = "value"
        if state == "unavailable":
            unavailable.add(name)
            values[name] = None
        elif state == "value":
            step = steps.get(kind) or str(MASS_STEP[unit] if kind == "mass" else HEIGHT_STEP[unit])
            values[name] = draw(_steps(step))
        else:
            values[name] = None
    return BodyCompositionRecord(
        unit=unit,
        timestamp=draw(st.none() | date_times),
        user_id=draw(st.none() | st.integers(0, 255)),
        multiple_packet=draw(st.booleans()),
        unavailable=frozenset(unavailable),
        **values,  # type: ignore[arg-type]
    )


plx_statuses = st.integers(0, 0xFFFF).map(PlxMeasurementStatus.from_bits)
plx_device_statuses = st.integers(0, 0xFFFFFF).map(PlxDeviceStatus.from_bits)

spot_check_records = st.builds(
    SpotCheckRecord,
    spo2=sfloat_values(),
    pulse_rate=sfloat_values(),
    timestamp=st.none() | date_times,
    measurement_status=st.none() | plx_statuses,
    device_status=st.none() | plx_device_statuses,
    pulse_amplitude_index=st.none() | sfloat_values(),
    device_clock_not_set=st.booleans(),
)

continuous_records = st.builds(
    ContinuousRecord,
    spo2=sfloat_values(),
    pulse_rate=sfloat_values(),
    fast=st.none() | st.builds(SpO2PR, sfloat_values(), sfloat_values()),
    slow=st.none() | st.builds(SpO2PR, sfloat_values(), sfloat_values()),
    measurement_status=st.none() | plx_statuses,
    device_status=st.none() | plx_device_statuses,
    pulse_amplitude_index=st.none() | sfloat_values(),
)


@st.composite
def plx_features(draw: st.DrawFn) -> PlxFeatures:
    supported = draw(st.frozensets(st.sampled_from(PLX_FEATURE_NAMES)))
    return PlxFeatures(
        supported=supported,
        measurement_status_support=(
            draw(plx_statuses) if "measurement_status_support" in supported else None
        ),
        device_status_support=(
            draw(plx_device_statuses) if "device_and_sensor_status_support" in supported else None
        ),
    )


temperature_records = st.builds(
    TemperatureRecord,
    unit=st.sampled_from(list(TemperatureUnit)),
    temperature=float_values(),
    timestamp=st.none() | date_times,
    temperature_type=st.none() | st.integers(0, 255),
)
