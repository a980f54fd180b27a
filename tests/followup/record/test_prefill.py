"""The record's pre-fill from the kiosk's readings (pure), and its suggested classification
at each boundary of the 规范's targets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from followup.record.prefill import compute_prefill, suggested_classification
from healthkiosk.rules import load_rules

T0 = datetime(2026, 3, 2, 3, 42, tzinfo=UTC)
RULES = load_rules()


@dataclass
class R:
    """A reading as the pre-fill sees it (the ORM row has these attributes)."""

    uuid: str
    kind: str
    measured_at: datetime
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None
    pulse_bpm: int | None = None
    glucose_mmol_per_l: float | None = None
    meal_context: str | None = None
    weight_kg: float | None = None
    height_m: float | None = None
    bmi: float | None = None
    server_category: str | None = "normal"
    server_rules_digest: str | None = "d" * 64


def bp(n: int, sys: int, dia: int, pulse: int | None = 70, **kw: object) -> R:
    return R(f"bp{n}", "blood_pressure", T0 + timedelta(hours=n), sys, dia, pulse, **kw)  # type: ignore[arg-type]


def glu(n: int, value: float | None, meal: str = "fasting", **kw: object) -> R:
    return R(
        f"g{n}",
        "glucose",
        T0 + timedelta(hours=n),
        glucose_mmol_per_l=value,
        meal_context=meal,
        **kw,
    )  # type: ignore[arg-type]


def test_average_blood_pressure_and_pulse_rounded_half_up() -> None:
    p = compute_prefill([bp(2, 151, 90, 71), bp(1, 150, 91, 72)], since=None)
    # 150.5 → 151, 90.5 → 91, 71.5 → 72: half up, not Python's half to even
    assert (p.systolic_mmhg, p.diastolic_mmhg, p.heart_rate_bpm) == (151, 91, 72)
    assert p.bp_count == 2 and p.pulse_count == 2
    assert [s.uuid for s in p.sources] == ["bp1", "bp2"]  # oldest first
    assert p.first_at == T0 + timedelta(hours=1) and p.last_at == T0 + timedelta(hours=2)


def test_pulse_averages_only_the_readings_that_have_one() -> None:
    p = compute_prefill([bp(1, 140, 80, None), bp(2, 130, 80, 90)], since=None)
    assert p.heart_rate_bpm == 90 and p.pulse_count == 1 and p.bp_count == 2


def test_latest_fasting_glucose_not_a_random_one_nor_an_earlier_one() -> None:
    p = compute_prefill(
        [glu(1, 8.4), glu(3, 6.2), glu(4, 11.5, meal="random"), glu(2, 9.9)], since=None
    )
    assert p.fasting_glucose_mmol_per_l == 6.2
    assert p.fasting_glucose_at == T0 + timedelta(hours=3)
    assert [s.uuid for s in p.sources] == ["g3"]
    assert p.systolic_mmhg is None and p.bp_count == 0


def test_what_is_not_a_measurement_is_left_out() -> None:
    p = compute_prefill(
        [
            bp(1, 120, 80),
            bp(2, 250, 40, server_category=None),  # the doctor's side's rules: implausible
            R("ev", "device_event", T0),
            glu(3, None),  # the meter showed LO/HI only
            glu(4, 5.0, server_category=None),
        ],
        since=None,
    )
    assert (p.systolic_mmhg, p.diastolic_mmhg, p.bp_count) == (120, 80, 1)
    assert p.fasting_glucose_mmol_per_l is None
    # a reading from a kiosk older than the doctor's side's rules (no digest) still counts
    old = compute_prefill(
        [bp(1, 130, 85, server_category=None, server_rules_digest=None)], since=None
    )
    assert old.systolic_mmhg == 130


def test_nothing_measured_is_an_empty_prefill() -> None:
    p = compute_prefill([], since=T0)
    assert p.sources == () and p.systolic_mmhg is None and p.since == T0
    assert p.as_dict()["readings"] == []
    assert (
        suggested_classification(
            "hypertension", p, birth_date=None, today=date(2026, 3, 2), rules=RULES
        )
        is None
    )


@pytest.mark.parametrize(
    ("birth", "sys", "dia", "expected"),
    [
        (date(1970, 1, 1), 139, 89, "satisfactory"),
        (date(1970, 1, 1), 140, 89, "unsatisfactory"),
        (date(1970, 1, 1), 139, 90, "unsatisfactory"),
        # 65 on the day: below 150/90
        (date(1961, 3, 2), 149, 89, "satisfactory"),
        (date(1961, 3, 2), 150, 89, "unsatisfactory"),
        (date(1961, 3, 2), 149, 90, "unsatisfactory"),
        # 64 (65 tomorrow): below 140/90
        (date(1961, 3, 3), 145, 80, "unsatisfactory"),
    ],
)
def test_hypertension_suggestion_at_the_boundaries(
    birth: date, sys: int, dia: int, expected: str
) -> None:
    p = compute_prefill([bp(1, sys, dia)], since=None)
    got = suggested_classification(
        "hypertension", p, birth_date=birth, today=date(2026, 3, 2), rules=RULES
    )
    assert got == expected


@pytest.mark.parametrize(("value", "expected"), [(6.9, "satisfactory"), (7.0, "unsatisfactory")])
def test_diabetes_suggestion_at_the_boundary(value: float, expected: str) -> None:
    p = compute_prefill([glu(1, value)], since=None)
    got = suggested_classification(
        "diabetes", p, birth_date=None, today=date(2026, 3, 2), rules=RULES
    )
    assert got == expected


def test_the_latest_weight_with_its_height_and_bmi() -> None:
    """The station's scale (issue 17): the newest weight of the period fills weight,
    height (cm, halves up) and BMI; an older one does not."""
    old = R("w1", "weight", T0, weight_kg=71.0, height_m=1.62, bmi=27.1)
    new = R("w2", "weight", T0 + timedelta(hours=5), weight_kg=70.2, height_m=1.625, bmi=26.6)
    p = compute_prefill([new, bp(1, 150, 90), old], since=None)
    assert (p.weight_kg, p.height_cm, p.bmi) == (70.2, 163.0, 26.6)
    assert [s.uuid for s in p.sources] == ["bp1", "w2"]
    assert p.as_dict()["weight_kg"] == 70.2
    assert compute_prefill([bp(1, 150, 90)], since=None).weight_kg is None
