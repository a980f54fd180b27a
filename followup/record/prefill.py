"""What the kiosk measured since the last follow-up, as the record form's first values.

Pure: it takes the readings (anything with the :class:`ReadingLike` attributes) and
gives the form's pre-fill: the average blood pressure and pulse of the period's
blood-pressure readings (rounded half up, as a doctor would), the latest fasting
glucose, the latest weight with its height and BMI (the station's scale), and the
readings it came from (their times are shown beside the values).
A device event, a glucose the meter showed only as LO/HI and a value the doctor's
side's rules found implausible are not measurements and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from healthkiosk.rules import RulesConfig
from healthkiosk.rules.classify import round_half_up
from healthkiosk.rules.status import age_on


class ReadingLike(Protocol):
    uuid: str
    kind: str
    measured_at: datetime
    systolic_mmhg: int | None
    diastolic_mmhg: int | None
    pulse_bpm: int | None
    glucose_mmol_per_l: float | None
    meal_context: str | None
    weight_kg: float | None
    height_m: float | None
    bmi: float | None
    server_category: str | None
    server_rules_digest: str | None


@dataclass(frozen=True, slots=True)
class SourceReading:
    """A reading the pre-fill used (shown with its local time)."""

    uuid: str
    kind: str
    measured_at: datetime
    systolic: int | None = None
    diastolic: int | None = None
    pulse: int | None = None
    glucose: float | None = None
    weight_kg: float | None = None


@dataclass(frozen=True, slots=True)
class Prefill:
    since: datetime | None
    """The period's start (the last follow-up record of this kind), None: no earlier one."""
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None
    bp_count: int = 0
    heart_rate_bpm: int | None = None
    pulse_count: int = 0
    fasting_glucose_mmol_per_l: float | None = None
    fasting_glucose_at: datetime | None = None
    weight_kg: float | None = None
    """The latest weight the station's scale took, kg at 0.1, with its height and BMI."""
    height_cm: float | None = None
    bmi: float | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None
    sources: tuple[SourceReading, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        """What is stored with the record (the audit of where its first values came from)."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "systolic_mmhg": self.systolic_mmhg,
            "diastolic_mmhg": self.diastolic_mmhg,
            "bp_count": self.bp_count,
            "heart_rate_bpm": self.heart_rate_bpm,
            "pulse_count": self.pulse_count,
            "fasting_glucose_mmol_per_l": self.fasting_glucose_mmol_per_l,
            "fasting_glucose_at": (
                self.fasting_glucose_at.isoformat() if self.fasting_glucose_at else None
            ),
            "weight_kg": self.weight_kg,
            "height_cm": self.height_cm,
            "bmi": self.bmi,
            "readings": [s.uuid for s in self.sources],
        }


def _half_up(values: list[int]) -> int:
    """The mean, whole, halves up (the rules' one rounding of blood pressure)."""
    return round_half_up(Decimal(sum(values)) / Decimal(len(values)))


def _measurement(r: ReadingLike) -> bool:
    if r.kind not in ("blood_pressure", "glucose", "weight"):
        return False
    # classified by the doctor's side's rules and found implausible: not a value
    return not (r.server_rules_digest is not None and r.server_category is None)


def compute_prefill(readings: Iterable[ReadingLike], *, since: datetime | None) -> Prefill:
    """The pre-fill from ``readings`` (already those of the period, any order)."""
    used = sorted((r for r in readings if _measurement(r)), key=lambda r: r.measured_at)
    bp = [
        r
        for r in used
        if r.kind == "blood_pressure"
        and r.systolic_mmhg is not None
        and r.diastolic_mmhg is not None
    ]
    pulses = [r.pulse_bpm for r in bp if r.pulse_bpm is not None]
    fasting = [
        r
        for r in used
        if r.kind == "glucose" and r.meal_context == "fasting" and r.glucose_mmol_per_l is not None
    ]
    latest = fasting[-1] if fasting else None
    weights = [r for r in used if r.kind == "weight" and r.weight_kg is not None]
    weighed = weights[-1] if weights else None
    sources = [
        SourceReading(
            r.uuid,
            r.kind,
            r.measured_at,
            systolic=r.systolic_mmhg,
            diastolic=r.diastolic_mmhg,
            pulse=r.pulse_bpm,
        )
        for r in bp
    ]
    if latest is not None:
        sources.append(
            SourceReading(
                latest.uuid, latest.kind, latest.measured_at, glucose=latest.glucose_mmol_per_l
            )
        )
    if weighed is not None:
        sources.append(
            SourceReading(
                weighed.uuid, weighed.kind, weighed.measured_at, weight_kg=weighed.weight_kg
            )
        )
    sources.sort(key=lambda s: s.measured_at)
    return Prefill(
        since=since,
        systolic_mmhg=_half_up([r.systolic_mmhg for r in bp if r.systolic_mmhg is not None])
        if bp
        else None,
        diastolic_mmhg=_half_up([r.diastolic_mmhg for r in bp if r.diastolic_mmhg is not None])
        if bp
        else None,
        bp_count=len(bp),
        heart_rate_bpm=_half_up(pulses) if pulses else None,
        pulse_count=len(pulses),
        fasting_glucose_mmol_per_l=latest.glucose_mmol_per_l if latest else None,
        fasting_glucose_at=latest.measured_at if latest else None,
        weight_kg=weighed.weight_kg if weighed else None,
        height_cm=(
            float(round_half_up(Decimal(str(weighed.height_m)) * 100))
            if weighed and weighed.height_m
            else None
        ),
        bmi=weighed.bmi if weighed else None,
        first_at=sources[0].measured_at if sources else None,
        last_at=sources[-1].measured_at if sources else None,
        sources=tuple(sources),
    )


def suggested_classification(
    kind: str, prefill: Prefill, *, birth_date: date | None, today: date, rules: RulesConfig
) -> str | None:
    """控制满意 / 控制不满意 by the 规范's targets (rules.followup: below 140/90, below
    150/90 at 65 and over; fasting glucose below 7.0), or None without a value.
    A suggestion: the doctor chooses (an adverse reaction or complication outranks it)."""
    f = rules.followup
    if kind == "hypertension":
        if prefill.systolic_mmhg is None or prefill.diastolic_mmhg is None:
            return None
        age = age_on(birth_date, today)
        limit = (
            f.elderly_controlled_systolic_below
            if age is not None and age >= f.elderly_age
            else f.controlled_systolic_below
        )
        ok = prefill.systolic_mmhg < limit and prefill.diastolic_mmhg < f.controlled_diastolic_below
    else:
        if prefill.fasting_glucose_mmol_per_l is None:
            return None
        ok = prefill.fasting_glucose_mmol_per_l < f.controlled_fasting_glucose_below
    return "satisfactory" if ok else "unsatisfactory"
