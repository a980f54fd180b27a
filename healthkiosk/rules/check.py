"""Checking a rule set: every problem, each naming its key (docs/clinical.md,
"Checking the rules").

:func:`check_rules` is what :func:`healthkiosk.rules.load_rules` runs at every
start and what ``healthkiosk rules check FILE`` prints. It reports all the
problems it finds, not the first: the types and ranges of each key (pydantic),
then, for every section that has valid types, that the numbers agree with each
other and with the plausibility ranges:

- blood pressure bands strictly increasing, inside the plausible ranges;
- the plausible ranges not reversed and within what the wire carries;
- low pressure below the first band, the isolated-systolic and control
  thresholds reachable (inside the plausible ranges);
- every glucose threshold inside 1.1–33.3 mmol/L (a threshold typed in mg/dL
  is named as such) and inside the plausible range, the bands increasing;
- the urgent thresholds within :data:`URGENT_NEIGHBOURHOOD` of the guideline's
  values unless ``rules.overrides`` names the key with a reason.

:func:`check_words` checks that the words shown for every category the rules
can produce exist in every language (the caller passes the kiosk's words).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, ValidationError

from healthkiosk.rules.config import (
    BloodPressureRules,
    FollowupRules,
    GlucoseRules,
    Problem,
    RulesConfig,
)

GLUCOSE_THRESHOLD_RANGE = (1.1, 33.3)
"""mmol/L: every glucose threshold lies inside a typical meter's range [PO]."""
MG_PER_DL_HINT = 18.016
"""To say "typed in mg/dL?" with the value it would be (healthkiosk.readings' factor)."""
WIRE_SYSTOLIC_MAX = 400
WIRE_DIASTOLIC_MAX = 300
WIRE_PULSE_MAX = 400
WIRE_GLUCOSE_MAX = 100.0
"""The largest values ``hk.reading/1`` carries (sync/schema.py): a plausible
range beyond them would accept a reading the doctor's side refuses."""
AGE_RANGE = (0, 120)

URGENT_NEIGHBOURHOOD_FRACTION = 0.10
"""An urgent threshold more than this fraction away from the guideline's value
needs ``rules.overrides`` with a reason [PROJECT]."""
GUIDELINE_URGENT: dict[str, float] = {
    "blood_pressure.urgent_systolic_min": 180,
    "blood_pressure.urgent_diastolic_min": 110,
    "glucose.very_low_max": 3.9,
    "glucose.very_high_min": 16.7,
}
"""The 规范's urgent referral criteria [GF3], the centre of each neighbourhood."""
MIN_REASON_CHARS = 10

_SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("blood_pressure", BloodPressureRules),
    ("glucose", GlucoseRules),
    ("followup", FollowupRules),
)
_BAND_ORDER = ("high_normal", "grade_1", "grade_2", "grade_3")


def _pydantic_problems(err: ValidationError, prefix: str) -> list[Problem]:
    out = []
    for e in err.errors():
        key = ".".join([prefix, *(str(p) for p in e["loc"])])
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        out.append(Problem(key, msg))
    return out


def check_rules(
    data: Mapping[str, Any] | None, *, prefix: str = "rules"
) -> tuple[RulesConfig | None, list[Problem]]:
    """The validated rules (None when they cannot be built) and every problem."""
    raw = dict(data or {})
    problems: list[Problem] = []
    rules: RulesConfig | None = None
    try:
        rules = RulesConfig.model_validate(raw)
    except ValidationError as err:
        problems += _pydantic_problems(err, prefix)
    sections: dict[str, Any] = {}
    for name, model in _SECTIONS:
        if rules is not None:
            sections[name] = getattr(rules, name)
            continue
        try:
            sections[name] = model.model_validate(raw.get(name) or {})
        except ValidationError:
            continue  # already reported above
    overrides = rules.overrides if rules is not None else _overrides(raw.get("overrides"))
    bp, glucose, followup = (sections.get(n) for n, _ in _SECTIONS)
    if isinstance(bp, BloodPressureRules):
        problems += _check_blood_pressure(bp, f"{prefix}.blood_pressure", overrides)
    if isinstance(glucose, GlucoseRules):
        problems += _check_glucose(glucose, f"{prefix}.glucose", overrides)
    if isinstance(followup, FollowupRules):
        problems += _check_followup(
            followup,
            f"{prefix}.followup",
            bp if isinstance(bp, BloodPressureRules) else None,
            glucose if isinstance(glucose, GlucoseRules) else None,
        )
    problems += _check_overrides(overrides, f"{prefix}.overrides")
    return (rules if not problems else None), problems


def _overrides(value: object) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items() if isinstance(v, str)}
    return {}


def _within(value: float, lo: float, hi: float) -> bool:
    """Strictly above the lowest plausible value and at most the highest: a
    threshold there splits the plausible values (both sides reachable)."""
    return lo < value <= hi


def _range(key: str, pair: tuple[float, float], floor: float, ceiling: float) -> list[Problem]:
    lo, hi = pair
    if lo >= hi:
        return [Problem(key, f"reversed: the lowest ({lo:g}) must be below the highest ({hi:g})")]
    if lo <= floor or hi > ceiling:
        return [Problem(key, f"must lie above {floor:g} and at most {ceiling:g}")]
    return []


def _urgent(key: str, short: str, value: float, overrides: Mapping[str, str]) -> list[Problem]:
    centre = GUIDELINE_URGENT[short]
    margin = URGENT_NEIGHBOURHOOD_FRACTION * centre
    if abs(value - centre) <= margin + 1e-9 or short in overrides:
        return []
    return [
        Problem(
            key,
            f"{value:g} is more than {URGENT_NEIGHBOURHOOD_FRACTION:.0%} away from the "
            f"guideline's {centre:g} ({centre - margin:.4g} to {centre + margin:.4g}); "
            f'to mean it, add rules.overrides."{short}" = "<the reason>"',
        )
    ]


def _check_blood_pressure(
    b: BloodPressureRules, key: str, overrides: Mapping[str, str]
) -> list[Problem]:
    out: list[Problem] = []
    sys_r, dia_r = b.plausible_systolic, b.plausible_diastolic
    out += _range(f"{key}.plausible_systolic", sys_r, 0, WIRE_SYSTOLIC_MAX)
    out += _range(f"{key}.plausible_diastolic", dia_r, 0, WIRE_DIASTOLIC_MAX)
    out += _range(f"{key}.plausible_pulse", b.plausible_pulse, 0, WIRE_PULSE_MAX)
    ranges_ok = not out
    custom = b.profile == "custom"
    if custom and not b.bands:
        out.append(Problem(f"{key}.bands", "profile 'custom' needs bands"))
    if not custom and b.bands:
        out.append(Problem(f"{key}.bands", "bands are only given with profile 'custom'"))
    bands = b.active_bands
    if [x.category for x in bands] != list(_BAND_ORDER[: len(bands)]):
        out.append(
            Problem(f"{key}.bands", "must be high_normal, grade_1, grade_2, grade_3 in order")
        )

    def band_key(i: int, field: str) -> str:
        # a profile's bands are fixed: what makes one wrong is the range it is checked against
        return f"{key}.bands.{i}.{field}" if custom else f"{key}.plausible_{field[:-4]}"

    for field, plausible in (("systolic_min", sys_r), ("diastolic_min", dia_r)):
        previous: tuple[int, int] | None = None
        for i, band in enumerate(bands):
            value = getattr(band, field)
            if value is None:
                continue
            if previous is not None and value <= previous[1]:
                out.append(
                    Problem(
                        band_key(i, field),
                        f"{value} must be above the band before ({bands[previous[0]].category}: "
                        f"{previous[1]}): bands increase strictly",
                    )
                )
            if ranges_ok and not _within(value, *plausible):
                out.append(
                    Problem(
                        band_key(i, field),
                        f"{band.category} from {value} mmHg is outside the plausible range "
                        f"{plausible[0]}-{plausible[1]}",
                    )
                )
            previous = (i, value)
    for i, band in enumerate(bands):
        if band.systolic_min is None and band.diastolic_min is None:
            out.append(Problem(f"{key}.bands.{i}", "a band needs systolic_min or diastolic_min"))
    first = bands[0] if bands else None
    if first is not None and first.systolic_min is None:
        out.append(Problem(f"{key}.bands.0.systolic_min", "the first band needs a systolic bound"))
    for name in ("urgent_systolic_min", "urgent_diastolic_min"):
        out += _urgent(f"{key}.{name}", f"blood_pressure.{name}", getattr(b, name), overrides)
    if not ranges_ok:
        return out
    # low pressure: reachable, and below the first band (else "low" would hide a raised reading)
    first_sys = first.systolic_min if first is not None else None
    first_dia = min((x.diastolic_min for x in bands if x.diastolic_min is not None), default=None)
    for name, value, plausible, bound in (
        ("low_systolic_below", b.low_systolic_below, sys_r, first_sys),
        ("low_diastolic_below", b.low_diastolic_below, dia_r, first_dia),
    ):
        if not _within(value, *plausible):
            out.append(
                Problem(
                    f"{key}.{name}",
                    f"{value} is outside the plausible range {plausible[0]}-{plausible[1]}: "
                    "low pressure could never be shown",
                )
            )
        elif bound is not None and value > bound:
            out.append(
                Problem(f"{key}.{name}", f"{value} must not be above the first band's {bound}")
            )
    for name, value, plausible in (
        ("isolated_systolic_min", b.isolated_systolic_min, sys_r),
        ("isolated_diastolic_below", b.isolated_diastolic_below, dia_r),
        ("urgent_systolic_min", b.urgent_systolic_min, sys_r),
        ("urgent_diastolic_min", b.urgent_diastolic_min, dia_r),
    ):
        if not _within(value, *plausible):
            out.append(
                Problem(
                    f"{key}.{name}",
                    f"{value} is outside the plausible range {plausible[0]}-{plausible[1]}: "
                    "never reached",
                )
            )
    return out


def _glucose_value(key: str, value: float, plausible: tuple[float, float] | None) -> list[Problem]:
    lo, hi = GLUCOSE_THRESHOLD_RANGE
    if not lo <= value <= hi:
        as_mmol = value / MG_PER_DL_HINT
        hint = (
            f" (typed in mg/dL? {value:g} mg/dL is {as_mmol:.1f} mmol/L)"
            if lo <= as_mmol <= hi
            else ""
        )
        return [Problem(key, f"{value:g} mmol/L is outside {lo:g}-{hi:g} mmol/L{hint}")]
    if plausible is not None and not plausible[0] < value < plausible[1]:
        return [
            Problem(
                key,
                f"{value:g} mmol/L is outside the plausible range "
                f"{plausible[0]:g}-{plausible[1]:g}: never reached",
            )
        ]
    return []


def _check_glucose(g: GlucoseRules, key: str, overrides: Mapping[str, str]) -> list[Problem]:
    out = _range(f"{key}.plausible", g.plausible, 0.0, WIRE_GLUCOSE_MAX)
    plausible = g.plausible if not out else None
    names = (
        "very_low_max",
        "fasting_impaired_min",
        "fasting_high_min",
        "random_above_normal_min",
        "random_high_min",
        "very_high_min",
    )
    bad = set()
    for name in names:
        found = _glucose_value(f"{key}.{name}", getattr(g, name), plausible)
        out += found
        if found:
            bad.add(name)
    reported = set()
    for chain in (
        ("very_low_max", "fasting_impaired_min", "fasting_high_min", "very_high_min"),
        ("very_low_max", "random_above_normal_min", "random_high_min", "very_high_min"),
    ):
        for before, name in pairwise(chain):
            if name in reported or name in bad or before in bad:
                continue
            if getattr(g, name) <= getattr(g, before):
                reported.add(name)
                out.append(
                    Problem(
                        f"{key}.{name}",
                        f"{getattr(g, name):g} must be above {before} ({getattr(g, before):g}): "
                        "the glucose bands increase strictly",
                    )
                )
    if "very_low_max" not in bad:
        out += _urgent(f"{key}.very_low_max", "glucose.very_low_max", g.very_low_max, overrides)
    if "very_high_min" not in bad:
        out += _urgent(f"{key}.very_high_min", "glucose.very_high_min", g.very_high_min, overrides)
    return out


def _check_followup(
    f: FollowupRules, key: str, bp: BloodPressureRules | None, g: GlucoseRules | None
) -> list[Problem]:
    out: list[Problem] = []
    for name in ("elderly_age", "screening_age"):
        value = getattr(f, name)
        if not AGE_RANGE[0] <= value <= AGE_RANGE[1]:
            lo, hi = AGE_RANGE
            out.append(Problem(f"{key}.{name}", f"{value} is not an age ({lo}-{hi})"))
    if (
        bp is not None
        and not _range("", bp.plausible_systolic, 0, WIRE_SYSTOLIC_MAX)
        and not _range("", bp.plausible_diastolic, 0, WIRE_DIASTOLIC_MAX)
    ):
        for name, plausible in (
            ("controlled_systolic_below", bp.plausible_systolic),
            ("elderly_controlled_systolic_below", bp.plausible_systolic),
            ("controlled_diastolic_below", bp.plausible_diastolic),
        ):
            value = getattr(f, name)
            if not _within(value, *plausible):
                out.append(
                    Problem(
                        f"{key}.{name}",
                        f"{value} is outside the plausible range {plausible[0]}-{plausible[1]}: "
                        "control could never be judged",
                    )
                )
    if 12 % f.followups_per_year:
        out.append(
            Problem(
                f"{key}.followups_per_year",
                f"{f.followups_per_year} does not divide the year's 12 months",
            )
        )
    if f.elderly_controlled_systolic_below < f.controlled_systolic_below:
        out.append(
            Problem(
                f"{key}.elderly_controlled_systolic_below",
                f"{f.elderly_controlled_systolic_below} must not be below "
                f"controlled_systolic_below ({f.controlled_systolic_below})",
            )
        )
    glucose_range: tuple[float, float] | None = None
    if g is not None and not _range("", g.plausible, 0.0, WIRE_GLUCOSE_MAX):
        glucose_range = g.plausible
    out += _glucose_value(
        f"{key}.controlled_fasting_glucose_below", f.controlled_fasting_glucose_below, glucose_range
    )
    return out


def _check_overrides(overrides: Mapping[str, str], key: str) -> list[Problem]:
    out: list[Problem] = []
    for name, reason in overrides.items():
        if name not in GUIDELINE_URGENT:
            known = ", ".join(GUIDELINE_URGENT)
            out.append(Problem(f"{key}.{name}", f"only the urgent thresholds ({known})"))
        elif len(reason.strip()) < MIN_REASON_CHARS:
            out.append(
                Problem(
                    f"{key}.{name}",
                    f"give the reason (who decided, when; at least {MIN_REASON_CHARS} characters)",
                )
            )
    return out


def check_words(words: Mapping[str, Mapping[str, str | None]]) -> list[Problem]:
    """``words`` maps each language to the words shown for each category key
    (:data:`healthkiosk.rules.CATEGORY_KEYS`, e.g. ``blood_pressure.grade_1``);
    a key missing or empty in a language is a problem."""
    from healthkiosk.rules.categories import CATEGORY_KEYS

    out: list[Problem] = []
    for language, table in words.items():
        for category in CATEGORY_KEYS:
            word = table.get(category)
            if not word or not word.strip():
                out.append(Problem(f"words.{language}.{category}", "no words for this category"))
    return out
