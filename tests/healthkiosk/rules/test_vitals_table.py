"""docs/clinical.md's BMI, oxygen saturation and body temperature bands as a
table: every boundary on both sides, the rounding before classifying, the
plausibility ranges, and the configurations the validation refuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from healthkiosk.errors import ConfigError, ImplausibleValueError
from healthkiosk.readings import body_mass_index
from healthkiosk.rules import (
    classify_bmi,
    classify_spo2,
    classify_temperature,
    classify_weight,
    load_rules,
    round_tenth,
)

ROOT = Path(__file__).resolve().parents[3]
RULES = load_rules()
BMI, SPO2, TEMP = RULES.bmi, RULES.spo2, RULES.temperature


@pytest.mark.parametrize(
    ("bmi", "category"),
    [
        (18.4, "underweight"),
        (18.5, "normal"),
        (23.9, "normal"),
        (24.0, "overweight"),
        (27.9, "overweight"),
        (28.0, "obese"),
        (18.45, "normal"),  # rounds to 18.5 (halves up) before classifying
        (23.94, "normal"),  # 23.9
        (23.95, "overweight"),  # 24.0
        (10.0, "underweight"),
        (80.0, "obese"),
    ],
)
def test_bmi_bands(bmi: float, category: str) -> None:
    c = classify_bmi(bmi, BMI)
    assert c.category == category and c.kind == "bmi"
    assert not c.urgent
    assert c.rule == f"bmi.{category}" and c.threshold


@pytest.mark.parametrize("bmi", [9.9, 80.1, 0.0])
def test_implausible_bmi(bmi: float) -> None:
    with pytest.raises(ImplausibleValueError) as err:
        classify_bmi(bmi, BMI)
    assert err.value.reason == "bmi_out_of_range"


def test_weight_and_height_to_bmi() -> None:
    c = classify_weight(68.4, 1.65, BMI)
    assert c.values == {"bmi": 25.1, "weight_kg": 68.4, "height_m": 1.65}
    assert c.category == "overweight"
    assert classify_weight(55.0, 1.73, BMI).values["bmi"] == 18.4  # 18.377
    assert classify_weight(55.0, 1.73, BMI).category == "underweight"
    for weight, height, reason in (
        (19.9, 1.6, "weight_out_of_range"),
        (300.1, 1.8, "weight_out_of_range"),
        (60.0, 0.99, "height_out_of_range"),
        (60.0, 165, "height_out_of_range"),  # centimetres typed for metres
    ):
        with pytest.raises(ImplausibleValueError) as err:
            classify_weight(weight, height, BMI)
        assert err.value.reason == reason


def test_bmi_formula_rounds_half_up() -> None:
    assert body_mass_index(weight_kg=72.0, height_m=1.7) == 24.9  # 24.913
    assert body_mass_index(weight_kg=64.8, height_m=1.8) == 20.0  # 20.0 exactly
    assert body_mass_index(weight_kg=58.9, height_m=1.6) == 23.0  # 23.0078
    assert body_mass_index(weight_kg=61.2, height_m=1.6) == 23.9  # 23.906
    assert body_mass_index(weight_kg=61.056, height_m=1.6) == 23.9  # 23.85 exactly: halves up
    assert body_mass_index(weight_kg=61.312, height_m=1.6) == 24.0  # 23.95 exactly
    with pytest.raises(ValueError):
        body_mass_index(weight_kg=60, height_m=0)


@pytest.mark.parametrize(
    ("spo2", "category", "urgent"),
    [
        (100, "normal", False),
        (95, "normal", False),
        (94, "low", False),
        (90, "low", False),
        (89, "very_low", True),
        (50, "very_low", True),
        (94.5, "normal", False),  # whole percent, halves up
        (89.5, "low", False),
        (89.4, "very_low", True),
    ],
)
def test_spo2_bands(spo2: float, category: str, urgent: bool) -> None:
    c = classify_spo2(spo2, SPO2, pulse_bpm=72)
    assert (c.category, c.urgent) == (category, urgent)
    assert c.rule == f"spo2.{category}" and c.values["pulse_bpm"] == 72


@pytest.mark.parametrize(
    ("spo2", "pulse", "reason"),
    [
        (49, None, "spo2_out_of_range"),
        (101, None, "spo2_out_of_range"),
        (97, 29, "pulse_out_of_range"),
        (97, 221, "pulse_out_of_range"),
    ],
)
def test_implausible_oximetry(spo2: int, pulse: int | None, reason: str) -> None:
    with pytest.raises(ImplausibleValueError) as err:
        classify_spo2(spo2, SPO2, pulse_bpm=pulse)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    ("celsius", "category", "urgent"),
    [
        (36.5, "normal", False),
        (37.2, "normal", False),
        (37.3, "low_fever", False),
        (38.0, "low_fever", False),
        (38.1, "fever", False),
        (39.0, "fever", False),
        (39.1, "high_fever", True),
        (41.5, "high_fever", True),
        (37.25, "low_fever", False),  # 37.3 after rounding half up
        (37.24, "normal", False),
        (39.05, "high_fever", True),  # 39.1
        (34.0, "normal", False),
        (43.0, "high_fever", True),
    ],
)
def test_temperature_bands(celsius: float, category: str, urgent: bool) -> None:
    c = classify_temperature(celsius, TEMP)  # age unknown: a high fever is urgent
    assert (c.category, c.urgent) == (category, urgent)
    assert c.rule == f"temperature.{category}" and c.values["celsius"] == round_tenth(celsius)


@pytest.mark.parametrize(("age", "urgent"), [(59, False), (60, True), (85, True), (None, True)])
def test_high_fever_is_urgent_for_an_elder(age: int | None, urgent: bool) -> None:
    assert classify_temperature(39.4, TEMP, age=age).urgent is urgent
    assert classify_temperature(39.0, TEMP, age=age).urgent is False


@pytest.mark.parametrize("celsius", [33.9, 43.1, 98.6])
def test_implausible_temperature(celsius: float) -> None:
    with pytest.raises(ImplausibleValueError) as err:
        classify_temperature(celsius, TEMP)
    assert err.value.reason == "temperature_out_of_range"


def test_thresholds_follow_the_configuration() -> None:
    rules = load_rules(
        {"spo2": {"normal_min": 94, "urgent_below": 88}, "temperature": {"low_fever_min": 37.0}}
    )
    assert classify_spo2(94, rules.spo2).category == "normal"
    assert classify_spo2(88, rules.spo2).category == "low"
    assert classify_temperature(37.0, rules.temperature).category == "low_fever"
    aged = load_rules({"temperature": {"high_fever_urgent_from_age": 65}}).temperature
    assert classify_temperature(39.5, aged, age=64).urgent is False


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ({"bmi": {"overweight_min": 18.0}}, "rules.bmi", "bmi.overweight_min (18.0) must be above"),
        ({"bmi": {"obese_min": 90}}, "rules.bmi", "outside bmi.plausible"),
        ({"bmi": {"plausible": [80, 10]}}, "rules.bmi", "lowest accepted"),
        ({"bmi": {"plausible_height_m": [100, 250]}}, "rules.bmi", "in metres"),
        ({"spo2": {"urgent_below": 95}}, "rules.spo2", "spo2.normal_min (95) must be above"),
        ({"spo2": {"normal_min": 0.95}}, "rules.spo2.normal_min", "integer"),
        ({"spo2": {"plausible": [50, 110]}}, "rules.spo2", "percent"),
        ({"temperature": {"fever_min": 37.0}}, "rules.temperature", "must be above"),
        ({"temperature": {"low_fever_min": 99.1}}, "rules.temperature", "must be above"),
        ({"temperature": {"plausible": [93, 110]}}, "rules.temperature", "not °F"),
        ({"temperature": {"high_fever_urgent_from_age": -1}}, "rules.temperature", "0"),
        ({"spo2": {"urgent": 90}}, "rules.spo2.urgent", "unknown key"),
    ],
)
def test_broken_rules_are_refused_naming_the_key(
    table: dict[str, object], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_rules(table)
    assert err.value.key is not None and err.value.key.startswith(key)
    assert words in str(err.value)


def _cli(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    pre = ["--config", str(config)] if config else []
    return subprocess.run(
        [sys.executable, "-m", "healthkiosk", *pre, "rules", "classify", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_classify_the_new_kinds(tmp_path: Path) -> None:
    bmi = json.loads(_cli("bmi", "--weight", "68.4", "--height", "1.65").stdout)
    assert (bmi["kind"], bmi["category"], bmi["values"]["bmi"]) == ("bmi", "overweight", 25.1)
    spo2 = json.loads(_cli("spo2", "89", "--pulse", "80").stdout)
    assert (spo2["category"], spo2["urgent"], spo2["rule"]) == ("very_low", True, "spo2.very_low")
    temp = json.loads(_cli("temperature", "39.4", "--age", "59").stdout)
    assert (temp["category"], temp["urgent"]) == ("high_fever", False)
    cfg = tmp_path / "hk.toml"
    cfg.write_text("[rules.temperature]\nhigh_fever_urgent_from_age = 55\n")
    temp = json.loads(_cli("temperature", "39.4", "--age", "59", config=cfg).stdout)
    assert temp["urgent"] is True


def test_cli_implausible_is_one_line_exit_2() -> None:
    for args in (("temperature", "99.5"), ("spo2", "30"), ("bmi", "--weight", "60")):
        out = _cli(*args)
        assert out.returncode == 2 and out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
