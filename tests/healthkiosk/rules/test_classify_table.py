"""docs/clinical.md as a table: every boundary on both sides, under each profile."""

from __future__ import annotations

import pytest

from healthkiosk.errors import ImplausibleValueError
from healthkiosk.readings import MG_PER_DL_PER_MMOL_PER_L, mg_per_dl_to_mmol_per_l
from healthkiosk.rules import (
    average_blood_pressure,
    classify_blood_pressure,
    classify_glucose,
    classify_glucose_out_of_range,
    load_rules,
    needs_third_measurement,
)

CN = load_rules().blood_pressure
HOME = load_rules({"blood_pressure": {"profile": "cn2018_home"}}).blood_pressure
AHA = load_rules({"blood_pressure": {"profile": "aha2017"}}).blood_pressure
GLU = load_rules().glucose

# (systolic, diastolic, category, isolated_systolic, urgent)
CN_CASES = [
    (119, 79, "normal", False, False),
    (120, 79, "high_normal", False, False),  # systolic 120 both sides
    (119, 80, "high_normal", False, False),  # diastolic 80 both sides
    (139, 89, "high_normal", False, False),
    (140, 89, "grade_1", True, False),  # 140 → grade 1, isolated systolic (dia < 90)
    (139, 90, "grade_1", False, False),
    (140, 90, "grade_1", False, False),  # isolated needs dia < 90
    (159, 99, "grade_1", False, False),
    (160, 99, "grade_2", False, False),
    (159, 100, "grade_2", False, False),
    (179, 109, "grade_2", False, False),
    (180, 109, "grade_3", False, True),
    (179, 110, "grade_3", False, True),
    (180, 89, "grade_3", True, True),
    (130, 110, "grade_3", False, True),  # higher category wins across sys/dia
    (90, 60, "normal", False, False),  # low both sides
    (89, 60, "low", False, False),
    (90, 59, "low", False, False),
]


@pytest.mark.parametrize(("sys_", "dia", "category", "isolated", "urgent"), CN_CASES)
def test_cn2018_bands(sys_: int, dia: int, category: str, isolated: bool, urgent: bool) -> None:
    c = classify_blood_pressure(sys_, dia, CN)
    assert (c.category, c.isolated_systolic, c.urgent) == (category, isolated, urgent)
    assert c.rule.startswith("bp.")
    assert c.threshold


def test_rule_names_the_deciding_threshold() -> None:
    c = classify_blood_pressure(165, 85, CN)
    assert c.rule == "bp.grade_2.systolic" and c.threshold == "systolic >= 160 mmHg"
    c = classify_blood_pressure(150, 112, CN)
    assert c.rule == "bp.grade_3.diastolic" and "110" in c.threshold


HOME_CASES = [
    (134, 84, "high_normal"),
    (135, 84, "grade_1"),
    (134, 85, "grade_1"),
    (159, 99, "grade_1"),
    (160, 80, "grade_2"),
]


@pytest.mark.parametrize(("sys_", "dia", "category"), HOME_CASES)
def test_home_profile_135_85(sys_: int, dia: int, category: str) -> None:
    assert classify_blood_pressure(sys_, dia, HOME).category == category


AHA_CASES = [
    (119, 79, "normal", False),
    (120, 79, "high_normal", False),  # elevated
    (129, 79, "high_normal", False),
    (130, 79, "grade_1", False),  # stage 1
    (129, 80, "grade_1", False),
    (139, 89, "grade_1", False),
    (140, 89, "grade_2", False),  # stage 2
    (139, 90, "grade_2", False),
    (180, 100, "grade_2", True),  # AHA crisis is > 180, but 规范's ≥ 180 is urgent
    (181, 100, "grade_3", True),
    (150, 120, "grade_2", True),
    (150, 121, "grade_3", True),
]


@pytest.mark.parametrize(("sys_", "dia", "category", "urgent"), AHA_CASES)
def test_aha2017_profile(sys_: int, dia: int, category: str, urgent: bool) -> None:
    c = classify_blood_pressure(sys_, dia, AHA)
    assert (c.category, c.urgent) == (category, urgent)


def test_averaging_rounds_half_up_before_classifying() -> None:
    avg = average_blood_pressure([(139, 80, 70), (140, 81, 71)])
    assert avg == (140, 81, 71)  # 139.5 → 140, 80.5 → 81, 70.5 → 71
    assert classify_blood_pressure(avg[0], avg[1], CN).category == "grade_1"
    avg = average_blood_pressure([(139, 80, None), (139, 79, None)])
    assert avg == (139, 80, None)  # 79.5 → 80
    assert classify_blood_pressure(avg[0], avg[1], CN).category == "high_normal"


@pytest.mark.parametrize(
    ("first", "second", "third"),
    [
        ((130, 80), (140, 80), False),  # differ by exactly 10: no third
        ((130, 80), (141, 80), True),  # 11: third
        ((130, 80), (130, 90), False),
        ((130, 80), (130, 91), True),
        ((130, 91), (130, 80), True),
    ],
)
def test_third_measurement_trigger(
    first: tuple[int, int], second: tuple[int, int], third: bool
) -> None:
    assert needs_third_measurement(first, second, CN) is third


def test_third_measurement_2018_protocol_is_configuration() -> None:
    rules = load_rules({"blood_pressure": {"protocol": {"third_if_differ_mmhg": 5}}})
    assert needs_third_measurement((130, 80), (136, 80), rules.blood_pressure)
    assert not needs_third_measurement((130, 80), (135, 80), rules.blood_pressure)


BP_PLAUSIBILITY = [
    (70, 40, None, True),
    (69, 40, None, False),
    (300, 180, None, True),
    (301, 100, None, False),
    (120, 39, None, False),
    (200, 181, None, False),
    (120, 120, None, False),  # systolic must exceed diastolic
    (121, 120, None, True),
    (120, 80, 30, True),
    (120, 80, 29, False),
    (120, 80, 220, True),
    (120, 80, 221, False),
]


@pytest.mark.parametrize(("sys_", "dia", "pulse", "ok"), BP_PLAUSIBILITY)
def test_bp_plausibility_bounds(sys_: int, dia: int, pulse: int | None, ok: bool) -> None:
    if ok:
        classify_blood_pressure(sys_, dia, CN, pulse=pulse)
    else:
        with pytest.raises(ImplausibleValueError):
            classify_blood_pressure(sys_, dia, CN, pulse=pulse)


# (mmol/L, fasting category, random category)
GLUCOSE_CASES = [
    (3.9, "very_low", "very_low"),
    (4.0, "normal", "normal"),
    (6.0, "normal", "normal"),
    (6.1, "impaired_fasting", "normal"),
    (6.9, "impaired_fasting", "normal"),
    (7.0, "high", "normal"),
    (7.7, "high", "normal"),
    (7.8, "high", "above_normal"),
    (11.0, "high", "above_normal"),
    (11.1, "high", "high"),
    (16.6, "high", "high"),
    (16.7, "very_high", "very_high"),
]


@pytest.mark.parametrize(("value", "fasting", "random"), GLUCOSE_CASES)
def test_glucose_bands(value: float, fasting: str, random: str) -> None:
    f = classify_glucose(value, "fasting", GLU)
    r = classify_glucose(value, "random", GLU)
    assert (f.category, r.category) == (fasting, random)
    urgent = fasting in ("very_low", "very_high")
    assert f.urgent is urgent and r.urgent is urgent
    assert classify_glucose(value, "after_meal", GLU).category == random


def test_glucose_close_to_limit_within_meter_margin() -> None:
    assert classify_glucose(7.0, "fasting", GLU).close_to_limit
    assert not classify_glucose(5.0, "random", GLU).close_to_limit


@pytest.mark.parametrize(("shown", "category"), [("LO", "very_low"), ("HI", "very_high")])
def test_meter_lo_hi_urgent_not_numbers(shown: str, category: str) -> None:
    c = classify_glucose_out_of_range(shown, GLU)  # type: ignore[arg-type]
    assert c.category == category and c.urgent and "mmol_per_l" not in c.values


@pytest.mark.parametrize(("value", "ok"), [(1.1, True), (1.0, False), (33.3, True), (33.4, False)])
def test_glucose_plausibility(value: float, ok: bool) -> None:
    if ok:
        classify_glucose(value, "random", GLU)
    else:
        with pytest.raises(ImplausibleValueError):
            classify_glucose(value, "random", GLU)


@pytest.mark.parametrize(
    ("mg_dl", "band"),
    [(126, "high"), (125, "impaired_fasting"), (109, "impaired_fasting"), (108, "normal"),
     (70, "very_low"), (72, "normal"), (300, "very_high"), (299, "high")],
)  # fmt: skip
def test_mg_per_dl_conversion(mg_dl: float, band: str) -> None:
    mmol = mg_per_dl_to_mmol_per_l(mg_dl)
    assert abs(mmol - mg_dl / MG_PER_DL_PER_MMOL_PER_L) <= 0.05
    assert abs(mmol - mg_dl / 18.016) <= 0.05
    assert classify_glucose(mmol, "fasting", GLU).category == band


def test_glucose_thresholds_are_configuration() -> None:
    rules = load_rules({"glucose": {"fasting_high_min": 7.2}}).glucose
    assert classify_glucose(7.1, "fasting", rules).category == "impaired_fasting"
