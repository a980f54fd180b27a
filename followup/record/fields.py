"""The fields of the 高血压患者随访服务记录表 and the 2型糖尿病患者随访服务记录表.

Every choice is a stable code (stored, exported) with its English message id; the
Chinese words are the forms' own (the zh_CN catalog, docs/forms.md). A record's
content is :class:`RecordContent`, validated with pydantic on the way in
(:func:`parse_form`) and kept as a JSON document beside the columns the lists and
exports query.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from followup.messages import N_
from healthkiosk.readings import body_mass_index

KINDS: dict[str, str] = {
    "hypertension": N_("Hypertension follow-up record"),
    "diabetes": N_("Type 2 diabetes follow-up record"),
}
Kind = Literal["hypertension", "diabetes"]

WAYS: dict[str, str] = {"clinic": N_("Clinic"), "home": N_("Home"), "phone": N_("Phone")}
"""随访方式: 1门诊 2家庭 3电话."""

SYMPTOMS: dict[str, dict[str, str]] = {
    "hypertension": {
        "none": N_("No symptoms"),
        "headache_dizziness": N_("Headache, dizziness"),
        "nausea_vomiting": N_("Nausea, vomiting"),
        "blurred_vision_tinnitus": N_("Blurred vision, tinnitus"),
        "dyspnoea": N_("Difficulty breathing"),
        "palpitation_chest_tightness": N_("Palpitations, chest tightness"),
        "nosebleed": N_("Nosebleed that will not stop"),
        "numb_limbs": N_("Numb limbs"),
        "leg_oedema": N_("Swelling of the lower limbs"),
    },
    "diabetes": {
        "none": N_("No symptoms"),
        "polydipsia": N_("Drinking much"),
        "polyphagia": N_("Eating much"),
        "polyuria": N_("Passing much urine"),
        "blurred_vision": N_("Blurred vision"),
        "infection": N_("Infection"),
        "numb_hands_feet": N_("Numb hands and feet"),
        "leg_oedema_dm": N_("Swelling of the lower limbs (oedema)"),
        "weight_loss": N_("Marked weight loss"),
    },
}
"""症状, numbered as on each form (1无症状 ... 9)."""

FOOT_PULSE: dict[str, str] = {
    "normal": N_("Felt, normal"),
    "weakened": N_("Weakened"),
    "absent": N_("Absent"),
}
"""足背动脉搏动: 1触及正常 2减弱 3消失 (the last two: both sides, left or right)."""
SIDES: dict[str, str] = {"both": N_("both sides"), "left": N_("left"), "right": N_("right")}
SALT: dict[str, str] = {"light": N_("light"), "moderate": N_("moderate"), "heavy": N_("heavy")}
"""摄盐情况(咸淡): 轻 中 重."""
GRADES: dict[str, str] = {"good": N_("Good"), "fair": N_("Fair"), "poor": N_("Poor")}
"""心理调整 and 遵医行为: 1良好 2一般 3差."""
ADHERENCE: dict[str, str] = {
    "regular": N_("Regular"),
    "intermittent": N_("Intermittent"),
    "none": N_("Not taking"),
}
"""服药依从性: 1规律 2间断 3不服药."""
HYPOGLYCAEMIA: dict[str, str] = {
    "none": N_("None"),
    "occasional": N_("Occasional"),
    "frequent": N_("Frequent"),
}
"""低血糖反应: 1无 2偶尔 3频繁."""
CLASSIFICATIONS: dict[str, str] = {
    "satisfactory": N_("Controlled satisfactorily"),
    "unsatisfactory": N_("Not controlled satisfactorily"),
    "adverse_reaction": N_("Adverse reaction"),
    "complication": N_("Complication"),
}
"""此次随访分类: 1控制满意 2控制不满意 3不良反应 4并发症."""
REFERRAL_RESULTS: dict[str, str] = {"arrived": N_("Arrived"), "not_arrived": N_("Did not arrive")}
"""转诊结果: 1到位 2不到位."""
MEDICINE_ROWS = 3
"""药物名称1-3 (and 其他药物, a free text)."""

# The record's own checks (message ids, translated where shown).
UNKNOWN_SYMPTOM = N_("a symptom this form does not list")
NONE_AND_SYMPTOM = N_("“no symptoms” together with a symptom")
BP_BOTH = N_("blood pressure: both values or neither")
BP_ORDER = N_("blood pressure: the diastolic must be below the systolic")
NEXT_BEFORE_VISIT = N_("next visit: must not be before the visit")
DM_ON_HTN = N_("a diabetes field on a hypertension record")
HTN_ON_DM = N_("salt: a hypertension field on a diabetes record")
FOOT_SIDE = N_("foot pulse: say which side")
HBA1C_DATE_ONLY = N_("HbA1c: a date without a value")
PROBLEMS = {
    "required": N_("required"),
    "number": N_("not a number"),
    "date": N_("not a date (YYYY-MM-DD)"),
    "min": N_("at least %(n)s"),
    "max": N_("at most %(n)s"),
    "choice": N_("choose one of the list"),
    "long": N_("too long"),
    "invalid": N_("not valid"),
}

Way = Literal["clinic", "home", "phone"]
Grade = Literal["good", "fair", "poor"]
Salt = Literal["light", "moderate", "heavy"]


class Medicine(BaseModel):
    """One row of 用药情况: 药物名称, 用法用量 每日 N 次 每次 N mg."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    times_per_day: int | None = Field(default=None, ge=1, le=24)
    mg_per_time: float | None = Field(default=None, gt=0, le=10_000)


class RecordContent(BaseModel):
    """Every field of one 随访服务记录表 (both kinds; ``kind`` says which rows apply)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    visit_date: date
    way: Way
    symptoms: tuple[str, ...] = ()
    symptoms_other: str = Field(default="", max_length=300)
    # 体征
    systolic_mmhg: int | None = Field(default=None, ge=40, le=300)
    diastolic_mmhg: int | None = Field(default=None, ge=20, le=200)
    height_cm: float | None = Field(default=None, ge=80, le=230)
    weight_kg: float | None = Field(default=None, ge=20, le=300)
    weight_target_kg: float | None = Field(default=None, ge=20, le=300)
    bmi: float | None = Field(default=None, ge=8, le=80)
    bmi_target: float | None = Field(default=None, ge=8, le=80)
    heart_rate_bpm: int | None = Field(default=None, ge=20, le=250)
    foot_pulse: Literal["normal", "weakened", "absent"] | None = None
    foot_pulse_side: Literal["both", "left", "right"] | None = None
    signs_other: str = Field(default="", max_length=300)
    # 生活方式指导 (now / the goal for the next visit)
    smoking_per_day: int | None = Field(default=None, ge=0, le=200)
    smoking_target: int | None = Field(default=None, ge=0, le=200)
    drinking_liang_per_day: float | None = Field(default=None, ge=0, le=100)
    drinking_target: float | None = Field(default=None, ge=0, le=100)
    exercise_times_per_week: int | None = Field(default=None, ge=0, le=50)
    exercise_minutes: int | None = Field(default=None, ge=0, le=600)
    exercise_target_times_per_week: int | None = Field(default=None, ge=0, le=50)
    exercise_target_minutes: int | None = Field(default=None, ge=0, le=600)
    salt: Salt | None = None
    salt_target: Salt | None = None
    staple_g_per_day: int | None = Field(default=None, ge=0, le=3000)
    staple_target_g_per_day: int | None = Field(default=None, ge=0, le=3000)
    psychological: Grade | None = None
    compliance: Grade | None = None
    # 辅助检查
    fasting_glucose_mmol_per_l: float | None = Field(default=None, ge=1.0, le=40.0)
    hba1c_percent: float | None = Field(default=None, ge=3.0, le=20.0)
    hba1c_date: date | None = None
    auxiliary_other: str = Field(default="", max_length=500)
    # 服药, 反应, 分类
    adherence: Literal["regular", "intermittent", "none"] | None = None
    adverse_reactions: bool = False
    adverse_reactions_text: str = Field(default="", max_length=300)
    hypoglycaemia: Literal["none", "occasional", "frequent"] | None = None
    classification: Literal["satisfactory", "unsatisfactory", "adverse_reaction", "complication"]
    medicines: tuple[Medicine, ...] = Field(default=(), max_length=MEDICINE_ROWS)
    other_medicines: str = Field(default="", max_length=300)
    insulin_type: str = Field(default="", max_length=100)
    insulin_usage: str = Field(default="", max_length=200)
    medication_adjustment: str = Field(default="", max_length=500)
    # 转诊
    referral_reason: str = Field(default="", max_length=300)
    referral_institution: str = Field(default="", max_length=200)
    referral_contact: str = Field(default="", max_length=100)
    referral_result: Literal["arrived", "not_arrived"] | None = None
    next_visit_on: date
    doctor_signature: str = Field(min_length=1, max_length=100)
    remarks: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _consistent(self) -> RecordContent:
        allowed = SYMPTOMS[self.kind]
        unknown = [s for s in self.symptoms if s not in allowed]
        if unknown:
            raise ValueError(UNKNOWN_SYMPTOM)
        if "none" in self.symptoms and len(self.symptoms) > 1:
            raise ValueError(NONE_AND_SYMPTOM)
        if (self.systolic_mmhg is None) != (self.diastolic_mmhg is None):
            raise ValueError(BP_BOTH)
        if (
            self.systolic_mmhg is not None
            and self.diastolic_mmhg is not None
            and self.diastolic_mmhg >= self.systolic_mmhg
        ):
            raise ValueError(BP_ORDER)
        if self.next_visit_on < self.visit_date:
            raise ValueError(NEXT_BEFORE_VISIT)
        if self.kind == "hypertension":
            dm_only = (
                self.foot_pulse,
                self.staple_g_per_day,
                self.staple_target_g_per_day,
                self.fasting_glucose_mmol_per_l,
                self.hba1c_percent,
                self.hypoglycaemia,
            )
            if any(v is not None for v in dm_only) or self.insulin_type or self.insulin_usage:
                raise ValueError(DM_ON_HTN)
        elif self.salt is not None or self.salt_target is not None:
            raise ValueError(HTN_ON_DM)
        if self.foot_pulse in ("weakened", "absent") and self.foot_pulse_side is None:
            raise ValueError(FOOT_SIDE)
        if self.hba1c_date is not None and self.hba1c_percent is None:
            raise ValueError(HBA1C_DATE_ONLY)
        return self

    @property
    def bmi_shown(self) -> float | None:
        """The BMI as written on the form: as entered, else from weight and height."""
        return self.bmi if self.bmi is not None else bmi_of(self.weight_kg, self.height_cm)

    @property
    def bmi_target_shown(self) -> float | None:
        if self.bmi_target is not None:
            return self.bmi_target
        return bmi_of(self.weight_target_kg, self.height_cm)


def bmi_of(weight_kg: float | None, height_cm: float | None) -> float | None:
    """体质指数 = 体重(kg) / 身高(m)², to 0.1, halves up (the one BMI of the house)."""
    if weight_kg is None or height_cm is None:
        return None
    return body_mass_index(
        weight_kg=Decimal(str(weight_kg)), height_m=Decimal(str(height_cm)) / 100
    )


class RecordFormError(ValueError):
    """The record form did not validate: ``problems`` holds each (field, message id,
    params); the field is "" for a check across fields."""

    def __init__(self, problems: list[tuple[str, str, dict[str, Any]]]) -> None:
        super().__init__("; ".join(f"{f}: {m % p if p else m}" for f, m, p in problems))
        self.problems = problems


_SCALARS = [
    name
    for name in RecordContent.model_fields
    if name not in ("kind", "symptoms", "medicines", "adverse_reactions")
]


def parse_form(kind: str, form: Mapping[str, Any], symptoms: list[str]) -> RecordContent:
    """A submitted record form (``symptoms``: the checked boxes) as a :class:`RecordContent`;
    raises :class:`RecordFormError` naming each bad field."""
    if kind not in KINDS:
        raise RecordFormError([("kind", PROBLEMS["choice"], {})])
    data: dict[str, Any] = {"kind": kind, "symptoms": tuple(symptoms)}
    for name in _SCALARS:
        raw = str(form.get(name) or "").strip()
        if raw:
            data[name] = raw
    data["adverse_reactions"] = form.get("adverse_reactions") == "yes"
    medicines = []
    rows_used = []  # the form's row number of each medicine kept
    for i in range(1, MEDICINE_ROWS + 1):
        name = str(form.get(f"medicine_{i}_name") or "").strip()
        times = str(form.get(f"medicine_{i}_times") or "").strip()
        mg = str(form.get(f"medicine_{i}_mg") or "").strip()
        if name or times or mg:
            rows_used.append(i)
            medicines.append(
                {"name": name, "times_per_day": times or None, "mg_per_time": mg or None}
            )
    data["medicines"] = medicines
    try:
        return RecordContent.model_validate(data)
    except ValidationError as err:
        problems = [_problem(e, rows_used) for e in err.errors()]
        raise RecordFormError(problems) from None


_MEDICINE_COLUMNS = {"name": "name", "times_per_day": "times", "mg_per_time": "mg"}


def _problem(e: Any, medicine_rows: list[int]) -> tuple[str, str, dict[str, Any]]:
    loc: tuple[Any, ...] = tuple(e.get("loc") or ())
    field = str(loc[0]) if loc else ""
    if field == "medicines" and len(loc) >= 3:
        column = _MEDICINE_COLUMNS.get(str(loc[2]), "name")
        field = f"medicine_{medicine_rows[int(loc[1])]}_{column}"
    t = e.get("type", "")
    ctx = e.get("ctx") or {}
    if t == "value_error":
        msg = str(ctx.get("error", ""))
        return "", msg if msg else PROBLEMS["invalid"], {}
    if t in ("missing", "string_too_short"):
        return field, PROBLEMS["required"], {}
    if t in ("int_parsing", "float_parsing", "int_from_float"):
        return field, PROBLEMS["number"], {}
    if t in ("date_parsing", "date_from_datetime_parsing"):
        return field, PROBLEMS["date"], {}
    if t in ("greater_than_equal", "greater_than"):
        return field, PROBLEMS["min"], {"n": ctx.get("ge", ctx.get("gt"))}
    if t in ("less_than_equal", "less_than"):
        return field, PROBLEMS["max"], {"n": ctx.get("le", ctx.get("lt"))}
    if t == "literal_error":
        return field, PROBLEMS["choice"], {}
    if t in ("string_too_long", "too_long"):
        return field, PROBLEMS["long"], {}
    return field, PROBLEMS["invalid"], {}


LABELS: dict[str, str] = {
    "visit_date": N_("Visit date"),
    "way": N_("Way of follow-up"),
    "symptoms": N_("Symptoms"),
    "symptoms_other": N_("Other"),
    "systolic_mmhg": N_("Systolic (mmHg)"),
    "diastolic_mmhg": N_("Diastolic (mmHg)"),
    "height_cm": N_("Height (cm)"),
    "weight_kg": N_("Weight (kg)"),
    "weight_target_kg": N_("Target weight (kg)"),
    "bmi": N_("BMI (kg/m²)"),
    "bmi_target": N_("Target BMI (kg/m²)"),
    "heart_rate_bpm": N_("Heart rate (beats/min)"),
    "foot_pulse": N_("Dorsalis pedis pulse"),
    "foot_pulse_side": N_("Side"),
    "signs_other": N_("Other signs"),
    "smoking_per_day": N_("Cigarettes per day"),
    "smoking_target": N_("Target cigarettes per day"),
    "drinking_liang_per_day": N_("Alcohol per day (liang)"),
    "drinking_target": N_("Target alcohol per day (liang)"),
    "exercise_times_per_week": N_("Exercise (times/week)"),
    "exercise_minutes": N_("Exercise (minutes/time)"),
    "exercise_target_times_per_week": N_("Target exercise (times/week)"),
    "exercise_target_minutes": N_("Target exercise (minutes/time)"),
    "salt": N_("Salt intake"),
    "salt_target": N_("Target salt intake"),
    "staple_g_per_day": N_("Staple food (g/day)"),
    "staple_target_g_per_day": N_("Target staple food (g/day)"),
    "psychological": N_("Psychological adjustment"),
    "compliance": N_("Compliance with advice"),
    "fasting_glucose_mmol_per_l": N_("Fasting glucose (mmol/L)"),
    "hba1c_percent": N_("HbA1c"),
    "hba1c_date": N_("HbA1c date"),
    "auxiliary_other": N_("Other examinations"),
    "adherence": N_("Medication adherence"),
    "adverse_reactions": N_("Adverse drug reactions"),
    "adverse_reactions_text": N_("Adverse reactions: which"),
    "hypoglycaemia": N_("Hypoglycaemia"),
    "classification": N_("This visit's classification"),
    "other_medicines": N_("Other medicines"),
    "insulin_type": N_("Insulin type"),
    "insulin_usage": N_("Insulin use and dose"),
    "medication_adjustment": N_("Medication adjustment"),
    "referral_reason": N_("Referral reason"),
    "referral_institution": N_("Referral institution and department"),
    "referral_contact": N_("Referral contact and phone"),
    "referral_result": N_("Referral result"),
    "next_visit_on": N_("Next visit date"),
    "doctor_signature": N_("Doctor's signature"),
    "remarks": N_("Remarks"),
    "medicine_1_name": N_("Medicine 1"),
    "medicine_2_name": N_("Medicine 2"),
    "medicine_3_name": N_("Medicine 3"),
    "medicine_1_times": N_("Medicine 1: times a day"),
    "medicine_2_times": N_("Medicine 2: times a day"),
    "medicine_3_times": N_("Medicine 3: times a day"),
    "medicine_1_mg": N_("Medicine 1: mg each time"),
    "medicine_2_mg": N_("Medicine 2: mg each time"),
    "medicine_3_mg": N_("Medicine 3: mg each time"),
}
"""Each field's name on the form (message ids; the Chinese are the forms' words)."""


def changed_fields(before: RecordContent, after: RecordContent) -> list[str]:
    """The fields ``after`` changes from ``before``, in the form's order, by their names
    in :data:`LABELS` (a medicine's row and column: ``medicine_2_mg``). The symptoms
    are one field, compared as a set (the boxes' order is not a change)."""
    changed: list[str] = []
    for name in RecordContent.model_fields:
        if name == "kind":
            continue
        if name == "medicines":
            changed.extend(_medicine_changes(before.medicines, after.medicines))
            continue
        old, new = getattr(before, name), getattr(after, name)
        if name == "symptoms":
            old, new = set(old), set(new)
        if old != new:
            changed.append(name)
    return changed


def _medicine_changes(before: tuple[Medicine, ...], after: tuple[Medicine, ...]) -> list[str]:
    out = []
    for i in range(MEDICINE_ROWS):
        old = before[i] if i < len(before) else None
        new = after[i] if i < len(after) else None
        for attr, column in _MEDICINE_COLUMNS.items():
            if getattr(old, attr, None) != getattr(new, attr, None):
                out.append(f"medicine_{i + 1}_{column}")
    return out
