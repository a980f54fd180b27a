"""Result sentences keyed by the rule that decided, with the rule's numbers.

The numbers come from the same :class:`~healthkiosk.rules.RulesConfig` the
classification used, so the words on screen and the thresholds never
disagree. No clinical number is written here.
"""

from __future__ import annotations

from healthkiosk.rules import (
    BloodPressureRules,
    BmiRules,
    Classification,
    GlucoseRules,
    Spo2Rules,
    TemperatureRules,
)
from kiosk.flow.state import Explanation


def _mmol(value: float) -> str:
    return f"{value:.1f}"


def explain_blood_pressure(c: Classification, rules: BloodPressureRules) -> Explanation:
    sys_v = str(c.values["systolic"])
    dia_v = str(c.values["diastolic"])
    parts = c.rule.split(".")  # bp.<category|urgent|low>.<systolic|diastolic>
    which = parts[2] if len(parts) > 2 else ""
    value = sys_v if which == "systolic" else dia_v
    if c.rule == "bp.normal":
        first = rules.active_bands[0]
        return Explanation(
            "explain.bp.normal",
            (("sys", str(first.systolic_min)), ("dia", str(first.diastolic_min or "-"))),
        )
    if parts[1] == "low":
        bound = rules.low_systolic_below if which == "systolic" else rules.low_diastolic_below
        return Explanation(f"explain.bp.low_{which}", (("value", value), ("threshold", str(bound))))
    if parts[1] == "urgent":
        bound = rules.urgent_systolic_min if which == "systolic" else rules.urgent_diastolic_min
    else:
        band = next(b for b in rules.active_bands if b.category == parts[1])
        got = band.systolic_min if which == "systolic" else band.diastolic_min
        bound = int(got) if got is not None else 0
    return Explanation(f"explain.bp.{which}_min", (("value", value), ("threshold", str(bound))))


def advice_blood_pressure(c: Classification) -> str:
    if c.urgent:
        return "advice.bp.urgent"
    return f"advice.bp.{c.category}"


def explain_glucose(c: Classification, rules: GlucoseRules) -> Explanation:
    if c.rule == "glucose.meter_lo":
        return Explanation("explain.glucose.meter_lo", (("threshold", _mmol(rules.plausible[0])),))
    if c.rule == "glucose.meter_hi":
        return Explanation("explain.glucose.meter_hi", (("threshold", _mmol(rules.plausible[1])),))
    value = float(c.values["mmol_per_l"])
    fasting = c.values.get("meal") == "fasting"
    if c.category == "very_low":
        return Explanation(
            "explain.glucose.very_low",
            (("value", _mmol(value)), ("threshold", _mmol(rules.very_low_max))),
        )
    if c.category == "normal":
        high = rules.fasting_impaired_min if fasting else rules.random_above_normal_min
        return Explanation(
            "explain.glucose.normal",
            (("value", _mmol(value)), ("low", _mmol(rules.very_low_max)), ("high", _mmol(high))),
        )
    bounds = {
        "impaired_fasting": rules.fasting_impaired_min,
        "above_normal": rules.random_above_normal_min,
        "high": rules.fasting_high_min if fasting else rules.random_high_min,
        "very_high": rules.very_high_min,
    }
    return Explanation(
        "explain.glucose.at_least",
        (("value", _mmol(value)), ("threshold", _mmol(bounds[c.category]))),
    )


def advice_glucose(c: Classification) -> str:
    return f"advice.glucose.{c.category}"


def explain_bmi(c: Classification, rules: BmiRules) -> Explanation:
    """``BMI 25.1: 24.0 or more.`` (the band's edge from the rules)."""
    bmi = _mmol(float(c.values["bmi"]))
    if c.category == "underweight":
        return Explanation(
            "explain.bmi.below", (("bmi", bmi), ("threshold", _mmol(rules.normal_min)))
        )
    if c.category == "normal":
        return Explanation(
            "explain.bmi.between",
            (("bmi", bmi), ("low", _mmol(rules.normal_min)), ("high", _mmol(rules.overweight_min))),
        )
    edge = rules.overweight_min if c.category == "overweight" else rules.obese_min
    return Explanation("explain.bmi.at_least", (("bmi", bmi), ("threshold", _mmol(edge))))


def height_note(height_m: float) -> Explanation:
    """The height the BMI used, in whole cm."""
    return Explanation("result.height", (("height", str(round(height_m * 100))),))


def pulse_note(pulse: int) -> Explanation:
    return Explanation("result.pulse", (("pulse", str(pulse)),))


def explain_spo2(c: Classification, rules: Spo2Rules) -> Explanation:
    """``93 %: below 95 %.``"""
    value = str(c.values["spo2_percent"])
    if c.category == "normal":
        return Explanation(
            "explain.spo2.at_least", (("value", value), ("threshold", str(rules.normal_min)))
        )
    edge = rules.urgent_below if c.category == "very_low" else rules.normal_min
    return Explanation("explain.spo2.below", (("value", value), ("threshold", str(edge))))


def explain_temperature(c: Classification, rules: TemperatureRules) -> Explanation:
    """``37.5 °C: 37.3 °C or more.``"""
    value = _mmol(float(c.values["celsius"]))
    if c.category == "normal":
        return Explanation(
            "explain.temperature.below",
            (("value", value), ("threshold", _mmol(rules.low_fever_min))),
        )
    edge = {
        "low_fever": rules.low_fever_min,
        "fever": rules.fever_min,
        "high_fever": rules.high_fever_min,
    }[c.category]
    return Explanation(
        "explain.temperature.at_least", (("value", value), ("threshold", _mmol(edge)))
    )
