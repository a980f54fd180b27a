"""Classifying weight (BMI), oxygen saturation and body temperature under the
configured rules (docs/clinical.md, "Body mass index", "Oxygen saturation",
"Body temperature").

Each value is rounded as the kiosk shows it (BMI and °C to 0.1, SpO2 to a
whole percent, halves up) and checked for plausibility before it is
classified: an implausible value raises :class:`ImplausibleValueError` (its
``reason`` names the quantity), never a category.
"""

from __future__ import annotations

from healthkiosk.errors import ImplausibleValueError
from healthkiosk.readings import body_mass_index, round_tenth
from healthkiosk.rules.classify import Classification, round_half_up
from healthkiosk.rules.vitals_config import BmiRules, Spo2Rules, TemperatureRules


def _check(value: float, bounds: tuple[float, float], what: str, unit: str, reason: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ImplausibleValueError(f"{what} {value}{unit} is outside {low}-{high}", reason=reason)


# --- weight and BMI --------------------------------------------------------------


def check_weight_plausible(weight_kg: float, rules: BmiRules) -> None:
    _check(weight_kg, rules.plausible_weight_kg, "weight", " kg", "weight_out_of_range")


def check_height_plausible(height_m: float, rules: BmiRules) -> None:
    _check(height_m, rules.plausible_height_m, "height", " m", "height_out_of_range")


def check_bmi_plausible(bmi: float, rules: BmiRules) -> None:
    _check(bmi, rules.plausible, "BMI", "", "bmi_out_of_range")


def classify_bmi(bmi: float, rules: BmiRules) -> Classification:
    """WS/T 428-2013: underweight, normal, overweight, obese (never urgent)."""
    value = round_tenth(bmi)
    check_bmi_plausible(value, rules)
    if value < rules.normal_min:
        category, threshold = "underweight", f"BMI < {rules.normal_min}"
    elif value < rules.overweight_min:
        category = "normal"
        threshold = f"{rules.normal_min} <= BMI < {rules.overweight_min}"
    elif value < rules.obese_min:
        category = "overweight"
        threshold = f"{rules.overweight_min} <= BMI < {rules.obese_min}"
    else:
        category, threshold = "obese", f"BMI >= {rules.obese_min}"
    return Classification(
        kind="bmi",
        category=category,
        urgent=False,
        rule=f"bmi.{category}",
        threshold=threshold,
        values={"bmi": value},
    )


def classify_weight(weight_kg: float, height_m: float, rules: BmiRules) -> Classification:
    """The BMI of a weight and a height (each checked for plausibility), classified."""
    weight = round_tenth(weight_kg)
    check_weight_plausible(weight, rules)
    check_height_plausible(height_m, rules)
    result = classify_bmi(body_mass_index(weight_kg=weight, height_m=height_m), rules)
    values = {**result.values, "weight_kg": weight, "height_m": height_m}
    return Classification(
        kind=result.kind,
        category=result.category,
        urgent=result.urgent,
        rule=result.rule,
        threshold=result.threshold,
        values=values,
    )


# --- oxygen saturation -----------------------------------------------------------


def check_spo2_plausible(spo2_percent: int, pulse_bpm: int | None, rules: Spo2Rules) -> None:
    _check(spo2_percent, rules.plausible, "SpO2", " %", "spo2_out_of_range")
    if pulse_bpm is not None:
        _check(pulse_bpm, rules.plausible_pulse, "pulse", " bpm", "pulse_out_of_range")


def classify_spo2(
    spo2_percent: float, rules: Spo2Rules, *, pulse_bpm: int | None = None
) -> Classification:
    """Whole percent: normal from 95, low (see the doctor) from 90, urgent below 90."""
    value = round_half_up(spo2_percent)
    check_spo2_plausible(value, pulse_bpm, rules)
    if value < rules.urgent_below:
        category, threshold = "very_low", f"SpO2 < {rules.urgent_below} %"
    elif value < rules.normal_min:
        category = "low"
        threshold = f"{rules.urgent_below} % <= SpO2 < {rules.normal_min} %"
    else:
        category, threshold = "normal", f"SpO2 >= {rules.normal_min} %"
    values: dict[str, float | int | str] = {"spo2_percent": value}
    if pulse_bpm is not None:
        values["pulse_bpm"] = pulse_bpm
    return Classification(
        kind="spo2",
        category=category,
        urgent=category == "very_low",
        rule=f"spo2.{category}",
        threshold=threshold,
        values=values,
    )


# --- body temperature ------------------------------------------------------------


def check_temperature_plausible(celsius: float, rules: TemperatureRules) -> None:
    _check(celsius, rules.plausible, "temperature", " °C", "temperature_out_of_range")


def classify_temperature(
    celsius: float, rules: TemperatureRules, *, age: int | None = None
) -> Classification:
    """°C at 0.1: normal, low fever, fever, high fever (urgent for an elder, or
    when the age is not known)."""
    value = round_tenth(celsius)
    check_temperature_plausible(value, rules)
    if value < rules.low_fever_min:
        category, threshold = "normal", f"temperature < {rules.low_fever_min} °C"
    elif value < rules.fever_min:
        category = "low_fever"
        threshold = f"{rules.low_fever_min} °C <= temperature < {rules.fever_min} °C"
    elif value < rules.high_fever_min:
        category = "fever"
        threshold = f"{rules.fever_min} °C <= temperature < {rules.high_fever_min} °C"
    else:
        category, threshold = "high_fever", f"temperature >= {rules.high_fever_min} °C"
    urgent = category == "high_fever" and (age is None or age >= rules.high_fever_urgent_from_age)
    values: dict[str, float | int | str] = {"celsius": value}
    if age is not None:
        values["age"] = age
    return Classification(
        kind="temperature",
        category=category,
        urgent=urgent,
        rule=f"temperature.{category}",
        threshold=threshold,
        values=values,
    )
