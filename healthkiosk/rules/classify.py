"""Classifying one reading under the configured rules.

Every result names the rule and the threshold that decided it, so a doctor
can see why a reading was flagged, and the kiosk's explanation can
interpolate the very numbers that were used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from healthkiosk.errors import ImplausibleValueError
from healthkiosk.readings import round_tenth
from healthkiosk.rules.config import BloodPressureRules, GlucoseRules

Meal = Literal["fasting", "after_meal", "random"]


@dataclass(frozen=True, slots=True)
class Classification:
    """The result of the rules for one reading (docs/clinical.md, "Category keys")."""

    kind: Literal["blood_pressure", "glucose", "bmi", "spo2", "temperature"]
    category: str
    urgent: bool
    rule: str
    """Which rule decided, e.g. ``bp.grade_2.systolic`` or ``glucose.fasting.high``."""
    threshold: str
    """The deciding threshold in words, e.g. ``systolic >= 160 mmHg``."""
    isolated_systolic: bool | None = None
    close_to_limit: bool = False
    values: dict[str, float | int | str] = field(default_factory=dict)
    """The values classified (rounded as shown) and the thresholds used."""

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": self.kind,
            "category": self.category,
            "urgent": self.urgent,
            "rule": self.rule,
            "threshold": self.threshold,
            "close_to_limit": self.close_to_limit,
            "values": dict(self.values),
        }
        if self.kind == "blood_pressure":
            out["isolated_systolic"] = self.isolated_systolic
        return out


def round_half_up(value: float | Decimal) -> int:
    """Whole mmHg, halves up (139.5 → 140): docs/clinical.md, "Blood pressure"."""
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def average_blood_pressure(
    readings: Sequence[tuple[int, int, int | None]],
) -> tuple[int, int, int | None]:
    """Average (systolic, diastolic, pulse) readings, each rounded half up."""
    if not readings:
        raise ValueError("no readings to average")
    n = Decimal(len(readings))
    sys_avg = round_half_up(sum(Decimal(r[0]) for r in readings) / n)
    dia_avg = round_half_up(sum(Decimal(r[1]) for r in readings) / n)
    pulses = [r[2] for r in readings if r[2] is not None]
    pulse = round_half_up(sum(Decimal(p) for p in pulses) / len(pulses)) if pulses else None
    return sys_avg, dia_avg, pulse


def needs_third_measurement(
    first: tuple[int, int], second: tuple[int, int], rules: BloodPressureRules
) -> bool:
    """Two readings whose systolic or diastolic differ by more than the configured amount."""
    limit = rules.protocol.third_if_differ_mmhg
    return abs(first[0] - second[0]) > limit or abs(first[1] - second[1]) > limit


def check_blood_pressure_plausible(
    systolic: int, diastolic: int, pulse: int | None, rules: BloodPressureRules
) -> None:
    """Raise :class:`ImplausibleValueError` (reason says which) before classifying."""
    lo, hi = rules.plausible_systolic
    if not lo <= systolic <= hi:
        raise ImplausibleValueError(
            f"systolic {systolic} mmHg is outside {lo}-{hi}", reason="systolic_out_of_range"
        )
    lo, hi = rules.plausible_diastolic
    if not lo <= diastolic <= hi:
        raise ImplausibleValueError(
            f"diastolic {diastolic} mmHg is outside {lo}-{hi}", reason="diastolic_out_of_range"
        )
    if systolic <= diastolic:
        raise ImplausibleValueError(
            f"systolic {systolic} is not above diastolic {diastolic}",
            reason="systolic_not_above_diastolic",
        )
    if pulse is not None:
        lo, hi = rules.plausible_pulse
        if not lo <= pulse <= hi:
            raise ImplausibleValueError(
                f"pulse {pulse} bpm is outside {lo}-{hi}", reason="pulse_out_of_range"
            )


def classify_blood_pressure(
    systolic: int, diastolic: int, rules: BloodPressureRules, *, pulse: int | None = None
) -> Classification:
    """Classify whole-mmHg values (average first with :func:`average_blood_pressure`)."""
    check_blood_pressure_plausible(systolic, diastolic, pulse, rules)
    category, rule, threshold = (
        "normal",
        "bp.normal",
        (
            f"systolic < {rules.active_bands[0].systolic_min} mmHg and diastolic < "
            f"{rules.active_bands[0].diastolic_min or '-'} mmHg"
        ),
    )
    for band in rules.active_bands:
        if band.systolic_min is not None and systolic >= band.systolic_min:
            category, rule = band.category, f"bp.{band.category}.systolic"
            threshold = f"systolic >= {band.systolic_min} mmHg"
        elif band.diastolic_min is not None and diastolic >= band.diastolic_min:
            category, rule = band.category, f"bp.{band.category}.diastolic"
            threshold = f"diastolic >= {band.diastolic_min} mmHg"
    if category in ("normal", "high_normal"):
        if systolic < rules.low_systolic_below:
            category, rule = "low", "bp.low.systolic"
            threshold = f"systolic < {rules.low_systolic_below} mmHg"
        elif diastolic < rules.low_diastolic_below:
            category, rule = "low", "bp.low.diastolic"
            threshold = f"diastolic < {rules.low_diastolic_below} mmHg"
    urgent = systolic >= rules.urgent_systolic_min or diastolic >= rules.urgent_diastolic_min
    if urgent and category != "grade_3":
        # The urgent criterion is its own rule (规范); it may be stricter than a profile's bands.
        rule = (
            "bp.urgent.systolic" if systolic >= rules.urgent_systolic_min else "bp.urgent.diastolic"
        )
        threshold = (
            f"systolic >= {rules.urgent_systolic_min} mmHg"
            if systolic >= rules.urgent_systolic_min
            else f"diastolic >= {rules.urgent_diastolic_min} mmHg"
        )
    isolated = (
        systolic >= rules.isolated_systolic_min and diastolic < rules.isolated_diastolic_below
    )
    return Classification(
        kind="blood_pressure",
        category=category,
        urgent=urgent,
        rule=rule,
        threshold=threshold,
        isolated_systolic=isolated,
        values={"systolic": systolic, "diastolic": diastolic, "profile": rules.profile},
    )


def check_glucose_plausible(mmol_per_l: float, rules: GlucoseRules) -> None:
    lo, hi = rules.plausible
    if not lo <= mmol_per_l <= hi:
        raise ImplausibleValueError(
            f"glucose {mmol_per_l} mmol/L is outside {lo}-{hi}", reason="glucose_out_of_range"
        )


def classify_glucose(mmol_per_l: float, meal: Meal, rules: GlucoseRules) -> Classification:
    """Classify at the meter's resolution (0.1 mmol/L, halves up); no answer
    about meals is random. An urgent result is never "close to the limit":
    it carries only the urgent instruction (docs/clinical.md, "Wording on the kiosk")."""
    value = round_tenth(mmol_per_l)
    check_glucose_plausible(value, rules)
    context = "fasting" if meal == "fasting" else "random"
    if context == "fasting":
        bounds = [
            ("normal", rules.very_low_max),
            ("impaired_fasting", rules.fasting_impaired_min),
            ("high", rules.fasting_high_min),
            ("very_high", rules.very_high_min),
        ]
    else:
        bounds = [
            ("normal", rules.very_low_max),
            ("above_normal", rules.random_above_normal_min),
            ("high", rules.random_high_min),
            ("very_high", rules.very_high_min),
        ]
    lower: float | None
    upper: float | None
    if value <= rules.very_low_max:
        category, rule = "very_low", f"glucose.{context}.very_low"
        threshold = f"glucose <= {rules.very_low_max} mmol/L"
        lower, upper = None, rules.very_low_max
    else:
        category, rule, threshold = "normal", f"glucose.{context}.normal", ""
        lower, upper = rules.very_low_max, bounds[1][1]
        threshold = f"{rules.very_low_max} < glucose < {upper} mmol/L"
        for i, (name, bound) in enumerate(bounds[1:], start=1):
            if value >= bound:
                category, rule = name, f"glucose.{context}.{name}"
                threshold = f"glucose >= {bound} mmol/L"
                lower = bound
                upper = bounds[i + 1][1] if i + 1 < len(bounds) else None
    margin = rules.meter_margin_fraction
    urgent = category in ("very_low", "very_high")
    close = not urgent and any(
        b is not None and abs(value - b) <= margin * b for b in (lower, upper)
    )
    return Classification(
        kind="glucose",
        category=category,
        urgent=urgent,
        rule=rule,
        threshold=threshold,
        close_to_limit=close,
        values={"mmol_per_l": value, "meal": meal},
    )


def classify_glucose_out_of_range(
    shown: Literal["LO", "HI"], rules: GlucoseRules
) -> Classification:
    """A meter showing LO or HI: shown as such, urgent, never a number."""
    if shown == "LO":
        return Classification(
            kind="glucose", category="very_low", urgent=True, rule="glucose.meter_lo",
            threshold=f"meter shows LO (below {rules.plausible[0]} mmol/L)",
            values={"shown": "LO"},
        )  # fmt: skip
    return Classification(
        kind="glucose", category="very_high", urgent=True, rule="glucose.meter_hi",
        threshold=f"meter shows HI (above {rules.plausible[1]} mmol/L)",
        values={"shown": "HI"},
    )  # fmt: skip
