"""Follow-up records as a table for the district's system: CSV and XLSX, one row per record
(its current version; a corrected record says who corrected it last, and when).

Headers and choices in the page's language (Chinese first: the forms' own words);
the ID number masked unless the doctor asked to reveal it (the caller audits that).
Cells a spreadsheet would run as a formula are made inert.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from followup.messages import N_
from followup.record.fields import (
    ADHERENCE,
    CLASSIFICATIONS,
    FOOT_PULSE,
    GRADES,
    HYPOGLYCAEMIA,
    KINDS,
    MEDICINE_ROWS,
    REFERRAL_RESULTS,
    SALT,
    SIDES,
    SYMPTOMS,
    WAYS,
    RecordContent,
)


class Words(Protocol):
    """The page's language, as the export needs it (the web layer's
    :class:`followup.web.i18n.Lang` is one): the record package gives message ids
    and times, the caller's words translate and label them."""

    def gettext(self, message: str, **params: Any) -> str: ...

    def format_datetime(self, at: datetime | None) -> str: ...


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One saved record with who it is about and who made it."""

    record_id: int
    content: RecordContent
    name: str | None
    id_number: str
    """Masked, or whole for a doctor who revealed (the caller decides)."""
    sex: str
    """In the page's words (the caller translates it)."""
    birth_date: date | None
    doctor: str
    saved_at: datetime
    corrected_at: datetime | None = None
    """When the current version was saved, if the record was corrected."""
    corrected_by: str = ""


Getter = Callable[[ExportRow, Words], Any]


def _choice(words: dict[str, str], attr: str) -> Getter:
    def get(r: ExportRow, lang: Words) -> Any:
        v = getattr(r.content, attr)
        return lang.gettext(words[v]) if v is not None else ""

    return get


def _value(attr: str) -> Getter:
    return lambda r, _lang: getattr(r.content, attr)


def _symptoms(r: ExportRow, lang: Words) -> str:
    names = list(SYMPTOMS[r.content.kind])
    return "、".join(
        f"{names.index(s) + 1}{lang.gettext(SYMPTOMS[r.content.kind][s])}"
        for s in r.content.symptoms
    )


def _foot(r: ExportRow, lang: Words) -> str:
    c = r.content
    if c.foot_pulse is None:
        return ""
    text = lang.gettext(FOOT_PULSE[c.foot_pulse])
    return f"{text}（{lang.gettext(SIDES[c.foot_pulse_side])}）" if c.foot_pulse_side else text


def _medicine(i: int, what: str) -> Getter:
    def get(r: ExportRow, _lang: Words) -> Any:
        meds = r.content.medicines
        if i >= len(meds):
            return ""
        m = meds[i]
        return {"name": m.name, "times": m.times_per_day, "mg": m.mg_per_time}[what]

    return get


COLUMNS: list[tuple[str, Getter]] = [
    (N_("Record"), lambda r, _l: r.record_id),
    (N_("Form"), lambda r, lang: lang.gettext(KINDS[r.content.kind])),
    (N_("Name"), lambda r, _l: r.name or ""),
    (N_("ID number"), lambda r, _l: r.id_number),
    (N_("Sex"), lambda r, _l: r.sex),
    (N_("Birth date"), lambda r, _l: r.birth_date),
    (N_("Visit date"), _value("visit_date")),
    (N_("Way of follow-up"), _choice(WAYS, "way")),
    (N_("Symptoms"), _symptoms),
    (N_("Other symptoms"), _value("symptoms_other")),
    (N_("Systolic (mmHg)"), _value("systolic_mmhg")),
    (N_("Diastolic (mmHg)"), _value("diastolic_mmhg")),
    (N_("Height (cm)"), _value("height_cm")),
    (N_("Weight (kg)"), _value("weight_kg")),
    (N_("Target weight (kg)"), _value("weight_target_kg")),
    (N_("BMI (kg/m²)"), lambda r, _l: r.content.bmi_shown),
    (N_("Target BMI (kg/m²)"), lambda r, _l: r.content.bmi_target_shown),
    (N_("Heart rate (beats/min)"), _value("heart_rate_bpm")),
    (N_("Dorsalis pedis pulse"), _foot),
    (N_("Other signs"), _value("signs_other")),
    (N_("Cigarettes per day"), _value("smoking_per_day")),
    (N_("Target cigarettes per day"), _value("smoking_target")),
    (N_("Alcohol per day (liang)"), _value("drinking_liang_per_day")),
    (N_("Target alcohol per day (liang)"), _value("drinking_target")),
    (N_("Exercise (times/week)"), _value("exercise_times_per_week")),
    (N_("Exercise (minutes/time)"), _value("exercise_minutes")),
    (N_("Target exercise (times/week)"), _value("exercise_target_times_per_week")),
    (N_("Target exercise (minutes/time)"), _value("exercise_target_minutes")),
    (N_("Salt intake"), _choice(SALT, "salt")),
    (N_("Target salt intake"), _choice(SALT, "salt_target")),
    (N_("Staple food (g/day)"), _value("staple_g_per_day")),
    (N_("Target staple food (g/day)"), _value("staple_target_g_per_day")),
    (N_("Psychological adjustment"), _choice(GRADES, "psychological")),
    (N_("Compliance with advice"), _choice(GRADES, "compliance")),
    (N_("Fasting glucose (mmol/L)"), _value("fasting_glucose_mmol_per_l")),
    (N_("HbA1c (%)"), _value("hba1c_percent")),
    (N_("HbA1c date"), _value("hba1c_date")),
    (N_("Other examinations"), _value("auxiliary_other")),
    (N_("Medication adherence"), _choice(ADHERENCE, "adherence")),
    (
        N_("Adverse drug reactions"),
        lambda r, lang: lang.gettext(N_("Yes") if r.content.adverse_reactions else N_("No")),
    ),
    (N_("Adverse reactions: which"), _value("adverse_reactions_text")),
    (N_("Hypoglycaemia"), _choice(HYPOGLYCAEMIA, "hypoglycaemia")),
    (N_("This visit's classification"), _choice(CLASSIFICATIONS, "classification")),
    *[
        col
        for i in range(MEDICINE_ROWS)
        for col in (
            (f"medicine:{i + 1}:name", _medicine(i, "name")),
            (f"medicine:{i + 1}:times", _medicine(i, "times")),
            (f"medicine:{i + 1}:mg", _medicine(i, "mg")),
        )
    ],
    (N_("Other medicines"), _value("other_medicines")),
    (N_("Insulin type"), _value("insulin_type")),
    (N_("Insulin use and dose"), _value("insulin_usage")),
    (N_("Medication adjustment"), _value("medication_adjustment")),
    (N_("Referral reason"), _value("referral_reason")),
    (N_("Referral institution and department"), _value("referral_institution")),
    (N_("Referral contact and phone"), _value("referral_contact")),
    (N_("Referral result"), _choice(REFERRAL_RESULTS, "referral_result")),
    (N_("Next visit date"), _value("next_visit_on")),
    (N_("Doctor's signature"), _value("doctor_signature")),
    (N_("Remarks"), _value("remarks")),
    (N_("Saved by"), lambda r, _l: r.doctor),
    (N_("Saved at"), lambda r, lang: lang.format_datetime(r.saved_at)),
    (N_("Corrected by"), lambda r, _l: r.corrected_by),
    (N_("Corrected at"), lambda r, lang: lang.format_datetime(r.corrected_at)),
]
_MEDICINE_HEADERS = {
    "name": N_("Medicine %(n)s: name"),
    "times": N_("Medicine %(n)s: times a day"),
    "mg": N_("Medicine %(n)s: mg each time"),
}


def headers(lang: Words) -> list[str]:
    out = []
    for key, _get in COLUMNS:
        if key.startswith("medicine:"):
            _m, n, what = key.split(":")
            out.append(lang.gettext(_MEDICINE_HEADERS[what], n=n))
        else:
            out.append(lang.gettext(key))
    return out


def _plain(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, date):
        return v.isoformat()
    return v


def inert(value: object) -> str:
    """A CSV cell a spreadsheet would run as a formula, made inert (a leading ')."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def table(rows: Iterable[ExportRow], lang: Words) -> tuple[list[str], list[list[Any]]]:
    """The headers and one list of values per record (None as "")."""
    return headers(lang), [[_plain(get(r, lang)) for _k, get in COLUMNS] for r in rows]


def to_csv(head: Sequence[str], body: Iterable[Sequence[Any]]) -> str:
    """UTF-8 CSV with a byte-order mark (Excel opens Chinese text right)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([inert(h) for h in head])
    for row in body:
        w.writerow([inert(v) for v in row])
    return "\ufeff" + out.getvalue()


def to_xlsx(head: Sequence[str], body: Iterable[Sequence[Any]], *, title: str) -> bytes:
    """An XLSX workbook of one sheet; every text cell is stored as text (never a formula)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.worksheets[0]
    ws.title = title[:31]
    for r, row in enumerate([list(head), *body], start=1):
        for c, v in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c, value=v)
            if isinstance(v, str):
                cell.data_type = "s"
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
