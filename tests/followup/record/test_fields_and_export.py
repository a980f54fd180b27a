"""The record form's validation, and the export's table, CSV and XLSX (pure)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from followup.record.export import COLUMNS, ExportRow, headers, table, to_csv, to_xlsx
from followup.record.fields import RecordContent, RecordFormError, bmi_of, parse_form
from followup.web.i18n import Lang


def _form(**extra: str) -> dict[str, str]:
    base = {
        "visit_date": "2026-03-02",
        "way": "phone",
        "classification": "satisfactory",
        "next_visit_on": "2026-06-02",
        "doctor_signature": "王医生",
    }
    base.update(extra)
    return base


def test_a_minimal_record_and_every_choice_kept_as_its_code() -> None:
    c = parse_form("hypertension", _form(salt="moderate", adherence="none"), ["none"])
    assert c.way == "phone" and c.salt == "moderate" and c.adherence == "none"
    assert c.symptoms == ("none",) and c.medicines == () and c.adverse_reactions is False


@pytest.mark.parametrize(
    ("kind", "extra", "symptoms", "field", "problem"),
    [
        ("hypertension", {"systolic_mmhg": "14o"}, [], "systolic_mmhg", "not a number"),
        (
            "hypertension",
            {"systolic_mmhg": "400", "diastolic_mmhg": "90"},
            [],
            "systolic_mmhg",
            "at most %(n)s",
        ),
        ("hypertension", {"way": "letter"}, [], "way", "choose one of the list"),
        ("hypertension", {"visit_date": "2026-02-30"}, [], "visit_date", "not a date (YYYY-MM-DD)"),
        ("hypertension", {"doctor_signature": ""}, [], "doctor_signature", "required"),
        ("hypertension", {"medicine_2_mg": "5"}, [], "medicine_2_name", "required"),
        (
            "hypertension",
            {"systolic_mmhg": "150"},
            [],
            "",
            "blood pressure: both values or neither",
        ),
        (
            "hypertension",
            {"next_visit_on": "2026-03-01"},
            [],
            "",
            "next visit: must not be before the visit",
        ),
        (
            "hypertension",
            {"staple_g_per_day": "300"},
            [],
            "",
            "a diabetes field on a hypertension record",
        ),
        ("diabetes", {"salt": "heavy"}, [], "", "salt: a hypertension field on a diabetes record"),
        ("diabetes", {"foot_pulse": "absent"}, [], "", "foot pulse: say which side"),
        ("diabetes", {"hba1c_date": "2026-02-01"}, [], "", "HbA1c: a date without a value"),
        ("diabetes", {}, ["headache_dizziness"], "", "a symptom this form does not list"),
        ("diabetes", {}, ["none", "polyuria"], "", "“no symptoms” together with a symptom"),
    ],
)
def test_bad_input_is_named_field_by_field(
    kind: str, extra: dict[str, str], symptoms: list[str], field: str, problem: str
) -> None:
    with pytest.raises(RecordFormError) as err:
        parse_form(kind, _form(**extra), symptoms)
    assert (field, problem) in [(f, m) for f, m, _p in err.value.problems]


def test_bmi_from_weight_and_height_half_up() -> None:
    assert bmi_of(72.5, 168) == 25.7  # 25.687
    assert bmi_of(64, 160) == 25.0
    assert bmi_of(None, 160) is None
    c = parse_form("hypertension", _form(weight_kg="64", height_cm="160", bmi_target="23"), [])
    assert (c.bmi_shown, c.bmi_target_shown) == (25.0, 23.0)


def _row(**content: Any) -> ExportRow:
    c = RecordContent.model_validate(
        {
            "kind": "diabetes",
            "visit_date": date(2026, 3, 2),
            "way": "home",
            "classification": "complication",
            "next_visit_on": date(2026, 3, 16),
            "doctor_signature": '=HYPERLINK("x")',
            "symptoms": ("polyuria", "weight_loss"),
            "foot_pulse": "absent",
            "foot_pulse_side": "both",
            "fasting_glucose_mmol_per_l": 9.1,
            "medicines": [{"name": "二甲双胍", "times_per_day": 2, "mg_per_time": 500}],
            **content,
        }
    )
    return ExportRow(
        record_id=7,
        content=c,
        name="李芳",
        id_number="110101195809090134",
        sex="female",
        birth_date=date(1958, 9, 9),
        doctor="王医生",
        saved_at=datetime(2026, 3, 2, 3, 42, tzinfo=UTC),
    )


def test_one_row_per_record_in_the_forms_words() -> None:
    zh = Lang("zh_CN")
    head, body = table([_row(), _row(way="clinic")], zh)
    assert len(head) == len(COLUMNS) == len(body[0]) and len(body) == 2
    row = dict(zip(head, body[0], strict=True))
    assert row["随访方式"] == "家庭" and dict(zip(head, body[1], strict=True))["随访方式"] == "门诊"
    assert row["症状"] == "4多尿、9体重明显下降"
    assert row["足背动脉搏动"] == "消失（双侧）"
    assert row["此次随访分类"] == "并发症"
    assert row["空腹血糖值(mmol/L)"] == 9.1
    assert row["药物名称1"] == "二甲双胍" and row["药物1每日次数"] == 2 and row["药物名称2"] == ""
    assert row["随访日期"] == "2026-03-02"
    assert row["保存时间"] == "2026年3月2日 11:42（北京时间）"
    assert row["身份证号"] == "110101195809090134"  # as given: the caller masks or reveals
    assert headers(Lang("en"))[:3] == ["Record", "Form", "Name"]


def test_csv_and_xlsx_keep_text_as_text() -> None:
    head, body = table([_row()], Lang("zh_CN"))
    text = to_csv(head, body)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["随访医生签名"] == '\'=HYPERLINK("x")'  # inert in a spreadsheet
    assert row["身份证号"] == "110101195809090134"
    ws = load_workbook(io.BytesIO(to_xlsx(head, body, title="随访记录"))).worksheets[0]
    assert ws.title == "随访记录"
    values = [[c for c in r] for r in ws.iter_rows()]
    cells = dict(zip([c.value for c in values[0]], values[1], strict=True))
    assert cells["随访医生签名"].data_type == "s"
    assert cells["随访医生签名"].value == '=HYPERLINK("x")'
    assert cells["身份证号"].data_type == "s"  # never a number that loses its digits
    assert cells["空腹血糖值(mmol/L)"].value == 9.1
