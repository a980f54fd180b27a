"""``healthkiosk devices reading KIND HEX`` for blood pressure, glucose and the
serial line formats (issue 14): what the kiosk would record from these bytes,
through the drivers' own conversion and the configured rules: one JSON object
(``recorded``, ``reason``, the values in the kiosk's units, ``meter_hi``,
``meter_lo``, ``irregular_pulse``) and exit 0, or one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import struct
from datetime import datetime
from decimal import Decimal

import pytest

from drivers.ble.bps_codec import BloodPressureRecord, MeasurementStatus, encode_measurement
from drivers.ble.gatt_time import DateTime
from drivers.ble.glucose_codec import (
    ConcentrationUnit,
    GlucoseContext,
    GlucoseRecord,
    Meal,
    SensorStatus,
    encode_context,
)
from drivers.ble.glucose_codec import encode_measurement as encode_glucose
from drivers.ble.ieee11073 import decode_sfloat, sfloat_from_decimal
from drivers.serial import lineformat as lf
from healthkiosk.readings import PressureUnit
from tests.support.cli import run

FIELDS = {
    "recorded",
    "reason",
    "systolic",
    "diastolic",
    "pulse",
    "mmol_per_l",
    "meter_hi",
    "meter_lo",
    "irregular_pulse",
}
WHEN = DateTime(2026, 3, 2, 8, 30, 0)


def reading(*args: str) -> dict[str, object]:
    result = run("devices", "reading", *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out: dict[str, object] = json.loads(result.stdout)
    assert set(out) == FIELDS
    return out


def refused(*args: str) -> str:
    result = run("devices", "reading", *args)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    return result.stderr


def bpm(
    systolic: str,
    diastolic: str,
    pulse: str | None,
    unit: PressureUnit = PressureUnit.MMHG,
    **st: bool,
) -> str:
    record = BloodPressureRecord(
        unit=unit,
        systolic=sfloat_from_decimal(systolic),
        diastolic=sfloat_from_decimal(diastolic),
        mean_arterial_pressure=sfloat_from_decimal("0"),
        timestamp=WHEN,
        pulse_rate=None if pulse is None else sfloat_from_decimal(pulse),
        status=MeasurementStatus(**st) if st else None,
    )
    return encode_measurement(record).hex(" ")


def glucose(concentration: str | None, status: SensorStatus | None = None, seq: int = 7) -> str:
    value = None
    if concentration == "+INF":
        value = decode_sfloat(struct.pack("<H", 0x07FE))
    elif concentration is not None:
        value = sfloat_from_decimal(Decimal(concentration) / 1000)  # mmol/L → mol/L
    record = GlucoseRecord(
        sequence_number=seq,
        base_time=WHEN,
        concentration=value,
        unit=None if value is None else ConcentrationUnit.MOL_PER_L,
        sample_type=None if value is None else 1,
        sample_location=None if value is None else 1,
        sensor_status=status,
        context_follows=True,
    )
    return encode_glucose(record).hex(" ")


def test_a_blood_pressure_is_recorded_in_whole_mmhg_with_its_pulse() -> None:
    assert reading("bpm", bpm("138", "86", "72")) == {
        "recorded": True, "reason": None, "systolic": 138, "diastolic": 86, "pulse": 72,
        "mmol_per_l": None, "meter_hi": False, "meter_lo": False, "irregular_pulse": False,
    }  # fmt: skip


def test_kpa_is_converted_halves_up() -> None:
    out = reading("bpm", bpm("18.4", "11.5", "70", unit=PressureUnit.KPA))
    assert (out["systolic"], out["diastolic"]) == (138, 86)  # 138.01, 86.26


def test_an_irregular_pulse_is_recorded_and_flagged() -> None:
    out = reading("bpm", bpm("118", "76", "64", irregular_pulse=True))
    assert out["recorded"] is True and out["irregular_pulse"] is True


def test_a_monitor_flag_is_not_recorded_with_its_reason() -> None:
    out = reading("bpm", bpm("150", "90", "80", body_movement=True))
    assert out["recorded"] is False and out["reason"] == "body_movement"


def test_an_implausible_pressure_is_not_recorded() -> None:
    out = reading("bpm", bpm("40", "20", "70"))
    assert out["recorded"] is False and out["reason"] == "systolic_out_of_range"
    assert out["systolic"] == 40


def test_a_glucose_at_one_decimal_halves_up() -> None:
    out = reading("glucose", glucose("6.05"))
    assert out["recorded"] is True and out["mmol_per_l"] == 6.1


def test_a_glucose_with_its_context_as_a_second_hex() -> None:
    ctx = encode_context(GlucoseContext(sequence_number=7, meal=Meal.FASTING)).hex(" ")
    assert reading("glucose", glucose("5.2"), ctx)["mmol_per_l"] == 5.2
    other = encode_context(GlucoseContext(sequence_number=8, meal=Meal.FASTING)).hex(" ")
    assert "context is for record 8" in refused("glucose", glucose("5.2"), other)


def test_hi_and_lo_are_recorded_as_such() -> None:
    hi = reading("glucose", glucose("+INF", SensorStatus(result_too_high=True)))
    assert hi["recorded"] is True and hi["meter_hi"] is True and hi["mmol_per_l"] is None
    lo = reading("glucose", glucose(None, SensorStatus(result_too_low=True)))
    assert lo["recorded"] is True and lo["meter_lo"] is True and lo["meter_hi"] is False


def test_an_implausible_glucose_is_not_recorded() -> None:
    out = reading("glucose", glucose("0.9"))
    assert out == {**out, "recorded": False, "reason": "glucose_out_of_range", "mmol_per_l": 0.9}


def test_a_strip_error_is_not_recorded() -> None:
    out = reading("glucose", glucose("5.0", SensorStatus(strip_insertion_error=True)))
    assert out["recorded"] is False and out["reason"] == "strip_error"


def _glucose_line(value: str) -> str:
    fmt = lf.load_format("glucose-seq-crc16")
    line = lf.LineCodec(fmt).encode(
        {"sequence": 1, "datetime": datetime(2026, 3, 2, 9, 30), "glucose": value}
    )
    return line.decode(fmt.encoding).removesuffix("\r\n")


@pytest.mark.parametrize(
    ("word", "flag"), [("HI", "meter_hi"), ("LO", "meter_lo")]
)  # fmt: skip
def test_a_serial_meters_hi_and_lo(word: str, flag: str) -> None:
    out = reading("line:glucose-seq-crc16", _glucose_line(word))
    assert out["recorded"] is True and out[flag] is True and out["mmol_per_l"] is None


def test_a_serial_glucose_line_halves_up() -> None:
    out = reading("line:glucose-seq-crc16", _glucose_line("06.1"))
    assert out["recorded"] is True and out["mmol_per_l"] == 6.1


def test_a_serial_device_error_line_is_not_recorded() -> None:
    out = reading("line:glucose-seq-crc16", "ERR,E-1")
    assert out["recorded"] is False and out["reason"] == "strip_error"


@pytest.mark.parametrize(
    "args",
    [
        ("bpm", "zz"),
        ("bpm", "1E 8A"),
        ("glucose", "02 07"),
        ("line:glucose-seq-crc16", "G,0001,garbage"),
        ("line:no-such-format", "x"),
        ("no-such-kind", "00"),
    ],
)
def test_bytes_that_cannot_be_decoded_are_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    assert refused(*args).startswith("healthkiosk: ")
