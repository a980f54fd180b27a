"""A resident's follow-up status: urgent, abnormal, overdue or fine.

国家基本公共卫生服务规范(第三版) (高血压 / 2型糖尿病患者健康管理服务规范) as
summarised in docs/clinical.md, "Urgency and follow-up":

- **urgent** (contact today): an unreviewed reading meeting the urgent
  criterion (BP ≥ 180 and/or ≥ 110; glucose ≤ 3.9 or ≥ 16.7; a meter's LO/HI;
  SpO2 below 90 %; a high fever in an elder or someone of unknown age);
- **abnormal** (review within ``followup.abnormal_review_days``): an
  unreviewed reading that is uncontrolled for a resident managed for that
  condition (BP ≥ 140/90, or ≥ 150/90 from ``elderly_age``; fasting glucose
  ≥ 7.0; a random glucose in the diabetes cut-off band), or abnormal under the
  profile for anyone else (BP grade 1 and above or low; glucose above normal);
  a first raised BP (≥ 140/90) in a resident aged ≥ ``screening_age`` is
  flagged for a confirmatory measurement on another day; a blood pressure
  with an irregular pulse is at least abnormal, with "rhythm check" as its
  reason (``followup.rhythm_check``); a device event (a value the rules
  refused, "could not measure") is abnormal (``device_event.<event>``); a low
  SpO2 and any fever are abnormal; a BMI is never on the list by itself (it
  is recorded for the follow-up forms);
- **overdue**: a doctor's next follow-up date has passed with no contact
  since, or a resident enrolled in hypertension or diabetes management has had
  no reading and no follow-up for ``overdue_days``; more than
  ``long_overdue_days`` overdue is its own section;
- **fine** otherwise.

Pure functions over frozen dataclasses: no database, no clock (``today`` is
an argument).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal

from healthkiosk.errors import ImplausibleValueError
from healthkiosk.rules.classify import (
    Classification,
    classify_blood_pressure,
    classify_glucose,
    classify_glucose_out_of_range,
)
from healthkiosk.rules.config import RulesConfig
from healthkiosk.rules.vitals import classify_spo2, classify_temperature, classify_weight

Level = Literal["urgent", "abnormal", "fine"]
Status = Literal["urgent", "abnormal", "overdue", "fine"]
STATUS_ORDER: tuple[Status, ...] = ("urgent", "abnormal", "overdue", "fine")
_LEVEL_RANK = {"urgent": 2, "abnormal": 1, "fine": 0}


@dataclass(frozen=True, slots=True)
class ReadingFacts:
    """What the status needs to know about one reading (values in stored units)."""

    uuid: str
    kind: Literal["blood_pressure", "glucose", "device_event", "weight", "spo2", "temperature"]
    measured_at: datetime
    systolic: int | None = None
    diastolic: int | None = None
    glucose_mmol_per_l: float | None = None
    meal: str | None = None
    out_of_range: str | None = None
    first_of_kind: bool = False
    """No earlier reading of this kind for the resident (screening flag)."""
    irregular_pulse: bool = False
    """The monitor reported an irregular pulse (blood pressure)."""
    event: DeviceEventFacts | None = None
    """For ``kind`` ``device_event``: what the device reported."""
    weight_kg: float | None = None
    height_m: float | None = None
    spo2_percent: int | None = None
    pulse_bpm: int | None = None
    """The oximeter's pulse (``spo2``)."""
    celsius: float | None = None
    age: int | None = None
    """The resident's age when measured, where known (a high fever's urgency)."""


@dataclass(frozen=True, slots=True)
class DeviceEventFacts:
    """A value the rules refused (``hk.reading/1`` ``device_event``), as reported."""

    event: str
    measurement: str
    reason: str
    systolic: int | None = None
    diastolic: int | None = None
    mmol_per_l: float | None = None


RHYTHM_CHECK = "心律检查 / rhythm check"
COULD_NOT_MEASURE = "无法测量 / could not measure"


def reported_value(e: DeviceEventFacts) -> str:
    """What the device reported, in a few words ("0.9 mmol/L", "320/90 mmHg")."""
    if e.measurement == "glucose":
        return "?" if e.mmol_per_l is None else f"{e.mmol_per_l:g} mmol/L"
    return f"{e.systolic}/{e.diastolic} mmHg"


def could_not_measure(e: DeviceEventFacts) -> str:
    """The list's reason for a device event: ``无法测量 / could not measure: 0.9
    mmol/L reported (glucose out of range)``."""
    return f"{COULD_NOT_MEASURE}: {reported_value(e)} reported ({e.reason.replace('_', ' ')})"


@dataclass(frozen=True, slots=True)
class ResidentFacts:
    age: int | None
    hypertension_programme: bool = False
    diabetes_programme: bool = False


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """The last contacts: readings and the doctor's latest review."""

    last_reading_at: datetime | None = None
    last_review_at: datetime | None = None
    next_follow_up_on: date | None = None
    """From the latest review; None when it scheduled nothing."""
    removed: bool = False
    """The latest review removed the resident from the overdue list."""


@dataclass(frozen=True, slots=True)
class ReadingAssessment:
    uuid: str
    level: Level
    rule: str
    reason: str
    classification: Classification | None
    screening: bool = False
    """A first raised BP at screening age: confirm on another day."""


@dataclass(frozen=True, slots=True)
class ResidentStatus:
    status: Status
    trigger: ReadingAssessment | None
    """The most urgent unreviewed reading (latest on ties); None when overdue/fine."""
    trigger_measured_at: datetime | None
    review_due_on: date | None
    """For an abnormal reading: measured date + abnormal_review_days."""
    due_on: date | None
    """When the resident becomes (or became) overdue without new contact."""
    days_overdue: int | None
    long_overdue: bool


def _age_is_elderly(resident: ResidentFacts, rules: RulesConfig) -> bool:
    return resident.age is not None and resident.age >= rules.followup.elderly_age


def classify_reading(reading: ReadingFacts, rules: RulesConfig) -> Classification:
    """Classify a stored reading under the configured rules (raises if implausible)."""
    if reading.kind == "weight":
        if reading.weight_kg is None or reading.height_m is None:
            raise ImplausibleValueError("weight without weight and height", reason="missing_values")
        return classify_weight(reading.weight_kg, reading.height_m, rules.bmi)
    if reading.kind == "spo2":
        if reading.spo2_percent is None:
            raise ImplausibleValueError("SpO2 without a value", reason="missing_values")
        return classify_spo2(reading.spo2_percent, rules.spo2, pulse_bpm=reading.pulse_bpm)
    if reading.kind == "temperature":
        if reading.celsius is None:
            raise ImplausibleValueError("temperature without a value", reason="missing_values")
        return classify_temperature(reading.celsius, rules.temperature, age=reading.age)
    if reading.kind == "blood_pressure":
        if reading.systolic is None or reading.diastolic is None:
            raise ImplausibleValueError("blood pressure without values", reason="missing_values")
        return classify_blood_pressure(reading.systolic, reading.diastolic, rules.blood_pressure)
    if reading.out_of_range in ("LO", "HI"):
        return classify_glucose_out_of_range(
            "LO" if reading.out_of_range == "LO" else "HI", rules.glucose
        )
    if reading.glucose_mmol_per_l is None:
        raise ImplausibleValueError("glucose without a value", reason="missing_values")
    if reading.meal == "fasting":
        return classify_glucose(reading.glucose_mmol_per_l, "fasting", rules.glucose)
    return classify_glucose(reading.glucose_mmol_per_l, "random", rules.glucose)


def assess_reading(
    reading: ReadingFacts, resident: ResidentFacts, rules: RulesConfig
) -> ReadingAssessment:
    """Urgent, abnormal or fine for *this* resident (programmes and age matter).

    A device event is abnormal ("could not measure"). An irregular pulse makes
    a fine blood pressure abnormal with the reason "rhythm check", and is
    named beside the reason of an abnormal or urgent one."""
    if reading.kind == "device_event" or reading.event is not None:
        e = reading.event or DeviceEventFacts("unknown", "unknown", "unknown")
        return ReadingAssessment(
            reading.uuid, "abnormal", f"device_event.{e.event}", could_not_measure(e), None
        )
    a = _assess_measurement(reading, resident, rules)
    if reading.kind != "blood_pressure" or not reading.irregular_pulse:
        return a
    where = f"irregular pulse at {reading.systolic}/{reading.diastolic} mmHg"
    if a.level == "fine":
        return ReadingAssessment(
            reading.uuid, "abnormal", "followup.rhythm_check", f"{RHYTHM_CHECK}: {where}",
            a.classification,
        )  # fmt: skip
    return replace(a, reason=f"{a.reason}; {RHYTHM_CHECK}: {where}")


def _assess_measurement(
    reading: ReadingFacts, resident: ResidentFacts, rules: RulesConfig
) -> ReadingAssessment:
    fu = rules.followup
    if reading.kind == "temperature" and reading.age is None:
        reading = replace(reading, age=resident.age)
    try:
        c = classify_reading(reading, rules)
    except ImplausibleValueError as err:
        return ReadingAssessment(
            reading.uuid, "abnormal", f"implausible.{err.reason}", str(err), None
        )
    if c.urgent:
        return ReadingAssessment(reading.uuid, "urgent", c.rule, c.threshold, c)
    if reading.kind in ("weight", "spo2", "temperature"):
        level: Level = "fine" if reading.kind == "weight" or c.category == "normal" else "abnormal"
        return ReadingAssessment(reading.uuid, level, c.rule, c.threshold, c)
    if reading.kind == "blood_pressure":
        sys_, dia = reading.systolic or 0, reading.diastolic or 0
        raised = sys_ >= fu.controlled_systolic_below or dia >= fu.controlled_diastolic_below
        if c.category == "low":
            return ReadingAssessment(reading.uuid, "abnormal", c.rule, c.threshold, c)
        if resident.hypertension_programme:
            limit = (
                fu.elderly_controlled_systolic_below
                if _age_is_elderly(resident, rules)
                else fu.controlled_systolic_below
            )
            if sys_ >= limit:
                return ReadingAssessment(
                    reading.uuid, "abnormal", "followup.uncontrolled.systolic",
                    f"systolic >= {limit} mmHg under hypertension management", c,
                )  # fmt: skip
            if dia >= fu.controlled_diastolic_below:
                return ReadingAssessment(
                    reading.uuid, "abnormal", "followup.uncontrolled.diastolic",
                    f"diastolic >= {fu.controlled_diastolic_below} mmHg under "
                    "hypertension management", c,
                )  # fmt: skip
            return ReadingAssessment(reading.uuid, "fine", "followup.controlled", "controlled", c)
        screening = (
            raised
            and reading.first_of_kind
            and resident.age is not None
            and resident.age >= fu.screening_age
        )
        if c.category in ("grade_1", "grade_2", "grade_3") or raised:
            rule = "followup.screening.confirm" if screening else "followup.first_abnormal"
            reason = (
                f"first raised BP at age >= {fu.screening_age}: confirm on another day"
                if screening
                else c.threshold
            )
            return ReadingAssessment(reading.uuid, "abnormal", rule, reason, c, screening)
        return ReadingAssessment(reading.uuid, "fine", c.rule, c.threshold, c)
    # glucose
    fasting = reading.meal == "fasting"
    if resident.diabetes_programme:
        value = reading.glucose_mmol_per_l or 0.0
        if fasting and value >= fu.controlled_fasting_glucose_below:
            return ReadingAssessment(
                reading.uuid, "abnormal", "followup.uncontrolled.fasting_glucose",
                f"fasting glucose >= {fu.controlled_fasting_glucose_below} mmol/L under "
                "diabetes management", c,
            )  # fmt: skip
        if not fasting and c.category == "high":
            return ReadingAssessment(reading.uuid, "abnormal", c.rule, c.threshold, c)
        return ReadingAssessment(reading.uuid, "fine", "followup.controlled", "controlled", c)
    if c.category in ("impaired_fasting", "above_normal", "high"):
        return ReadingAssessment(
            reading.uuid, "abnormal", "followup.first_abnormal", c.threshold, c
        )
    return ReadingAssessment(reading.uuid, "fine", c.rule, c.threshold, c)


def followup_due_on(
    resident: ResidentFacts, contacts: ContactFacts, rules: RulesConfig, *, tz: tzinfo
) -> date | None:
    """The date from which the resident is overdue if nothing happens before it (days
    are the district's, in ``tz``)."""
    reading_at = contacts.last_reading_at
    review_at = contacts.last_review_at
    review_is_last = review_at is not None and (reading_at is None or review_at >= reading_at)
    if review_is_last and contacts.removed:
        return None
    if review_is_last and contacts.next_follow_up_on is not None:
        return contacts.next_follow_up_on
    if not (resident.hypertension_programme or resident.diabetes_programme):
        return None
    last = max((t for t in (reading_at, review_at) if t is not None), default=None)
    if last is None:
        return None
    return last.astimezone(tz).date() + timedelta(days=rules.followup.overdue_days)


def _more_urgent(
    a: ReadingAssessment, a_at: datetime, b: ReadingAssessment, b_at: datetime
) -> bool:
    return (_LEVEL_RANK[a.level], a_at) > (_LEVEL_RANK[b.level], b_at)


def resident_status(
    resident: ResidentFacts,
    open_readings: Iterable[ReadingFacts],
    contacts: ContactFacts,
    *,
    today: date,
    tz: tzinfo,
    rules: RulesConfig,
) -> ResidentStatus:
    """The status from the unreviewed readings and the last contacts (the more urgent wins).

    ``today`` and every date the status holds are the district's days: a reading's day
    is its time in ``tz`` (an urgent reading at 00:30 in Beijing is reviewed by that
    day, not by the day before, which UTC would make it)."""
    best: ReadingAssessment | None = None
    best_at: datetime | None = None
    for reading in open_readings:
        a = assess_reading(reading, resident, rules)
        if a.level == "fine":
            continue
        if best is None or best_at is None or _more_urgent(a, reading.measured_at, best, best_at):
            best, best_at = a, reading.measured_at
    due = followup_due_on(resident, contacts, rules, tz=tz)
    days_overdue = (today - due).days if due is not None and today > due else None
    long_overdue = days_overdue is not None and days_overdue > rules.followup.long_overdue_days
    if best is not None and best_at is not None:
        review_due = best_at.astimezone(tz).date() + timedelta(
            days=0 if best.level == "urgent" else rules.followup.abnormal_review_days
        )
        return ResidentStatus(
            best.level, best, best_at, review_due, due, days_overdue, long_overdue
        )
    if days_overdue is not None:
        return ResidentStatus("overdue", None, None, None, due, days_overdue, long_overdue)
    return ResidentStatus("fine", None, None, None, due, None, False)


def age_on(birth_date: date | None, today: date) -> int | None:
    """Whole years of age on ``today``."""
    if birth_date is None:
        return None
    years = today.year - birth_date.year
    if (today.month, today.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years
