"""The rules' configuration: defaults and their sources as in docs/clinical.md.

Blood pressure categories are an ordered list of lower bounds (whole mmHg):
a reading falls in the highest category whose systolic *or* diastolic lower
bound it reaches ("the higher category applies"). That one shape expresses
the Chinese 2018/2024 guideline (default), its home-measurement variant
(135/85) and the AHA/ACC 2017 profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from healthkiosk.errors import ConfigError
from healthkiosk.rules.vitals_config import BmiRules, Spo2Rules, TemperatureRules

BpCategory = Literal["normal", "high_normal", "grade_1", "grade_2", "grade_3"]


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BpBand(_Rules):
    """A category reached when systolic ≥ ``systolic_min`` or diastolic ≥ ``diastolic_min``."""

    category: BpCategory
    systolic_min: int | None = None
    diastolic_min: int | None = None
    label: str = ""


# 中国高血压防治指南 2018年修订版 (kept by the 2024 revision), office thresholds.
CN_2018_BANDS = (
    BpBand(category="high_normal", systolic_min=120, diastolic_min=80, label="正常高值"),
    BpBand(category="grade_1", systolic_min=140, diastolic_min=90, label="1级高血压"),
    BpBand(category="grade_2", systolic_min=160, diastolic_min=100, label="2级高血压"),
    BpBand(category="grade_3", systolic_min=180, diastolic_min=110, label="3级高血压"),
)
# The guideline's home (self-measured) hypertension criterion: 135/85.
CN_HOME_BANDS = (
    BpBand(category="high_normal", systolic_min=120, diastolic_min=80, label="正常高值"),
    BpBand(category="grade_1", systolic_min=135, diastolic_min=85, label="1级高血压"),
    BpBand(category="grade_2", systolic_min=160, diastolic_min=100, label="2级高血压"),
    BpBand(category="grade_3", systolic_min=180, diastolic_min=110, label="3级高血压"),
)
# AHA/ACC 2017: elevated 120-129 and < 80 (a diastolic ≥ 80 reaches stage 1
# anyway); stage 1 130-139 or 80-89; stage 2 ≥ 140 or ≥ 90; severe > 180 and/or > 120.
AHA_2017_BANDS = (
    BpBand(category="high_normal", systolic_min=120, label="elevated"),
    BpBand(category="grade_1", systolic_min=130, diastolic_min=80, label="stage 1"),
    BpBand(category="grade_2", systolic_min=140, diastolic_min=90, label="stage 2"),
    BpBand(category="grade_3", systolic_min=181, diastolic_min=121, label="severe"),
)
PROFILES = {"cn2018": CN_2018_BANDS, "cn2018_home": CN_HOME_BANDS, "aha2017": AHA_2017_BANDS}


class MeasurementProtocol(_Rules):
    """How the kiosk measures blood pressure (2024 revision by default)."""

    readings: int = Field(default=2, ge=1, le=3)
    pause_s: float = Field(default=45.0, ge=0)
    """Between readings: the guideline says 30–60 s (2018 revision: 1–2 min)."""
    third_if_differ_mmhg: int = Field(default=10, ge=1)
    """A third reading when the two systolic or two diastolic differ by more
    than this (2018 revision: 5)."""
    rest_s: float = Field(default=300.0, ge=0)
    """Sit quietly this long before the first reading (≥ 5 minutes)."""


class BloodPressureRules(_Rules):
    profile: Literal["cn2018", "cn2018_home", "aha2017", "custom"] = "cn2018"
    bands: tuple[BpBand, ...] | None = None
    """Only with profile = "custom": ascending categories."""
    low_systolic_below: int = 90
    low_diastolic_below: int = 60
    isolated_systolic_min: int = 140
    isolated_diastolic_below: int = 90
    urgent_systolic_min: int = 180
    urgent_diastolic_min: int = 110
    """国家基本公共卫生服务规范: refer the same day at ≥ 180 and/or ≥ 110."""
    plausible_systolic: tuple[int, int] = (70, 300)
    plausible_diastolic: tuple[int, int] = (40, 180)
    plausible_pulse: tuple[int, int] = (30, 220)
    protocol: MeasurementProtocol = Field(default_factory=MeasurementProtocol)

    @property
    def active_bands(self) -> tuple[BpBand, ...]:
        if self.profile == "custom":
            return self.bands or ()
        return PROFILES[self.profile]


class GlucoseRules(_Rules):
    """Capillary glucose, mmol/L; bands "≥ a and < b" (docs/clinical.md, "Blood glucose")."""

    very_low_max: float = 3.9
    """≤ this is very low and urgent (规范 referral criterion)."""
    very_high_min: float = 16.7
    """≥ this is very high and urgent."""
    fasting_impaired_min: float = 6.1
    fasting_high_min: float = 7.0
    random_above_normal_min: float = 7.8
    random_high_min: float = 11.1
    plausible: tuple[float, float] = (1.1, 33.3)
    meter_margin_fraction: float = Field(default=0.15, ge=0, le=0.5)
    """ISO 15197 allows ±15 %: a value this close to a boundary is "close to the limit"."""


class FollowupRules(_Rules):
    """Follow-up intervals (国家基本公共卫生服务规范, Simple.org practice)."""

    abnormal_review_days: int = Field(default=14, ge=1)
    overdue_days: int = Field(default=90, ge=1)
    next_follow_up_days: int = Field(default=28, ge=1)
    long_overdue_days: int = Field(default=365, ge=1)
    elderly_age: int = 65
    elderly_controlled_systolic_below: int = 150
    controlled_systolic_below: int = 140
    controlled_diastolic_below: int = 90
    controlled_fasting_glucose_below: float = 7.0
    """The dashboard's fasting glucose control: the last fasting reading below this
    (规范: 空腹血糖 < 7.0 mmol/L counts as controlled)."""
    screening_age: int = 35
    followups_per_year: int = Field(default=4, ge=1, le=12)
    """At least this many follow-ups a year for each enrolled resident (规范: 4); the
    year is split into this many equal periods, the k-th follow-up due by the end of
    the k-th (a divisor of 12)."""
    lost_to_followup_days: int = Field(default=365, ge=1)
    """An enrolled resident with no reading and no follow-up for this long is lost to
    follow-up (the dashboard)."""


class RulesConfig(_Rules):
    """The ``[rules]`` table. Build it with :func:`load_rules`, which also checks
    that the numbers are consistent (:mod:`healthkiosk.rules.check`)."""

    name: str | None = Field(default=None, min_length=1, max_length=60)
    """The rule set's label for people (shown beside its digest); default: the
    blood pressure profile. Not part of the digest."""
    blood_pressure: BloodPressureRules = Field(default_factory=BloodPressureRules)
    glucose: GlucoseRules = Field(default_factory=GlucoseRules)
    followup: FollowupRules = Field(default_factory=FollowupRules)
    bmi: BmiRules = Field(default_factory=BmiRules)
    spo2: Spo2Rules = Field(default_factory=Spo2Rules)
    temperature: TemperatureRules = Field(default_factory=TemperatureRules)
    overrides: dict[str, str] = Field(default_factory=dict)
    """Urgent thresholds set outside the guideline's neighbourhood on purpose:
    the key (``blood_pressure.urgent_systolic_min``) and the reason."""


def load_rules(data: Mapping[str, Any] | None = None, *, prefix: str = "rules") -> RulesConfig:
    """Validate and check a ``[rules]`` table; raises :class:`RulesError` listing
    every problem, each naming its key (``rules.glucose.very_low_max: ...``)."""
    from healthkiosk.rules.check import check_rules

    rules, problems = check_rules(data, prefix=prefix)
    if problems or rules is None:
        raise RulesError(problems)
    return rules


class RulesError(ConfigError):
    """A rule set with problems: ``problems`` has them all (the message the first)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        first = problems[0] if problems else Problem("rules", "invalid")
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first.message}{more}", key=first.key)
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of a rule set: the dotted key and what is wrong."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"
