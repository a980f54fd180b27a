"""The doctor's side's names for the rules' categories, Chinese first.

The doctor's side uses the guideline's names (正常高值, 1级高血压, ...); the
plain words the elder saw belong to the kiosk (docs/clinical.md, "Wording on
the kiosk"). Display words only: no threshold here.
"""

from __future__ import annotations

from typing import Any

from healthkiosk.rules.status import COULD_NOT_MEASURE, could_not_measure

CATEGORY_NAMES: dict[str, tuple[str, str]] = {
    "blood_pressure.low": ("低血压", "low"),
    "blood_pressure.normal": ("正常血压", "normal"),
    "blood_pressure.high_normal": ("正常高值", "high normal"),
    "blood_pressure.grade_1": ("1级高血压", "grade 1"),
    "blood_pressure.grade_2": ("2级高血压", "grade 2"),
    "blood_pressure.grade_3": ("3级高血压", "grade 3"),
    "glucose.very_low": ("血糖很低", "very low"),
    "glucose.normal": ("血糖正常", "normal"),
    "glucose.impaired_fasting": ("空腹血糖受损", "impaired fasting"),
    "glucose.above_normal": ("高于正常", "above normal"),
    "glucose.high": ("达糖尿病切点", "high"),
    "glucose.very_high": ("血糖很高", "very high"),
    "weight.underweight": ("体重过低", "underweight"),
    "weight.normal": ("体重正常", "normal"),
    "weight.overweight": ("超重", "overweight"),
    "weight.obese": ("肥胖", "obese"),
    "spo2.very_low": ("血氧很低", "very low"),
    "spo2.low": ("血氧偏低", "low"),
    "spo2.normal": ("血氧正常", "normal"),
    "temperature.normal": ("体温正常", "normal"),
    "temperature.low_fever": ("低热", "low fever"),
    "temperature.fever": ("中等度热", "fever"),
    "temperature.high_fever": ("高热", "high fever"),
}


def category_name(kind: str, category: str | None) -> str:
    """``正常高值 high normal``; an unknown key as it is."""
    if not category:
        return "—"
    zh, en = CATEGORY_NAMES.get(f"{kind}.{category}", ("", category.replace("_", " ")))
    return f"{zh} {en}".strip()


def event_text(event: dict[str, Any] | None) -> str:
    """A device event in words: ``无法测量 / could not measure: 0.9 mmol/L reported (...)``."""
    from followup.db.status_store import event_facts

    return could_not_measure(event_facts(event)) if event else COULD_NOT_MEASURE


def short_digest(digest: str | None) -> str:
    return digest[:12] if digest else "?"
