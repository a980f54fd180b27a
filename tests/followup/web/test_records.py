"""The national follow-up record through the real app, on SQLite and PostgreSQL: the form
pre-filled from the kiosk, saved as the review (the resident leaves the list), printed,
exported (CSV and XLSX, the ID number only when revealed, audited)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.audit import AuditEvent
from followup.db.models import Reading, Resident
from followup.db.records import FollowUpRecord
from followup.db.reviews import RECORD_OUTCOME, Review
from tests.support.followup_data import add_reading
from tests.support.web import World, csrf


def _form(world: World, kind: str = "hypertension", **extra: str) -> dict[str, Any]:
    today = world.now.date()
    data: dict[str, Any] = {
        "visit_date": today.isoformat(),
        "way": "clinic",
        "symptoms": ["headache_dizziness", "numb_limbs"]
        if kind == "hypertension"
        else ["polyuria"],
        "systolic_mmhg": "150",
        "diastolic_mmhg": "92",
        "height_cm": "160",
        "weight_kg": "64",
        "weight_target_kg": "60",
        "heart_rate_bpm": "76",
        "smoking_per_day": "5",
        "smoking_target": "0",
        "adherence": "regular",
        "adverse_reactions": "no",
        "classification": "unsatisfactory",
        "medicine_1_name": "硝苯地平控释片" if kind == "hypertension" else "二甲双胍",
        "medicine_1_times": "1",
        "medicine_1_mg": "30",
        "next_visit_on": (today + timedelta(days=14)).isoformat(),
        "doctor_signature": "王医生",
    }
    if kind == "hypertension":
        data["salt"] = "heavy"
        data["salt_target"] = "light"
    data.update(extra)
    return data


def _post(doctor: TestClient, rid: int, kind: str, data: dict[str, Any]) -> Any:
    page = doctor.get(f"/residents/{rid}/records/{kind}/new")
    assert page.status_code == 200, page.text
    token = csrf(doctor, f"/residents/{rid}/records/{kind}/new")
    seen = page.text.split('name="seen_until" value="', 1)[1].split('"', 1)[0]
    return doctor.post(
        f"/residents/{rid}/records/{kind}",
        data={**data, "csrf": token, "seen_until": seen},
        follow_redirects=False,
    )


def test_the_form_is_prefilled_from_the_kiosk(doctor: TestClient, world: World) -> None:
    with Session(world.engine) as s, s.begin():
        res = s.get(Resident, world.urgent_id)
        assert res is not None
        add_reading(
            s, res, measured_at=world.now - timedelta(hours=3), systolic=171, diastolic=97, pulse=81
        )
    page = doctor.get(f"/residents/{world.urgent_id}/records/hypertension/new")
    assert page.status_code == 200
    # (186 + 171) / 2 = 178.5 → 179; (104 + 97) / 2 = 100.5 → 101; pulse (72 + 81) / 2 = 76.5 → 77
    assert 'name="systolic_mmhg" value="179"' in page.text
    assert 'name="diastolic_mmhg" value="101"' in page.text
    assert 'name="heart_rate_bpm" value="77"' in page.text
    assert 'value="unsatisfactory" checked' in page.text
    assert "average of 2 readings" in page.text


def test_saving_makes_the_review_and_the_resident_leaves_the_list(
    doctor: TestClient, world: World
) -> None:
    assert f'data-resident="{world.urgent_id}"' in doctor.get("/list").text
    r = _post(doctor, world.urgent_id, "hypertension", _form(world))
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/records/")
    printed = doctor.get(r.headers["location"])
    assert printed.status_code == 200
    assert "150/92" in printed.text and "硝苯地平控释片" in printed.text
    assert f'data-resident="{world.urgent_id}"' not in doctor.get("/list").text
    history = doctor.get(f"/residents/{world.urgent_id}").text
    assert f'href="{r.headers["location"]}"' in history and "Follow-up record" in history
    with Session(world.engine) as s:
        rec = s.scalars(select(FollowUpRecord)).one()
        rev = s.get(Review, rec.review_id)
        assert rev is not None and rev.outcome == RECORD_OUTCOME and rev.method == "clinic"
        assert rev.next_follow_up_on == rec.next_visit_on == world.now.date() + timedelta(days=14)
        assert rec.form.bmi_shown == 25.0  # 64 / 1.6²
        assert rec.prefill["systolic_mmhg"] == 186 and len(rec.prefill["readings"]) == 1
        open_left = s.scalars(
            select(Reading).where(
                Reading.resident_id == world.urgent_id, Reading.reviewed_at.is_(None)
            )
        ).all()
        assert open_left == []
        actions = {a.action for a in s.scalars(select(AuditEvent))}
        assert {"review", "followup_record", "print_record"} <= actions
    # the next form starts after this record and carries its goals and medicines
    again = doctor.get(f"/residents/{world.urgent_id}/records/hypertension/new")
    assert 'name="systolic_mmhg" value=""' in again.text
    assert 'value="硝苯地平控释片"' in again.text
    assert 'name="smoking_target" value="0"' in again.text


def test_a_bad_form_is_refused_field_by_field(doctor: TestClient, world: World) -> None:
    r = _post(
        doctor,
        world.urgent_id,
        "hypertension",
        _form(world, systolic_mmhg="abc", medicine_2_times="2", foot_pulse="absent"),
    )
    assert r.status_code == 400
    assert "Systolic (mmHg): not a number" in r.text
    assert "Medicine 2: required" in r.text
    r = _post(doctor, world.urgent_id, "hypertension", _form(world, diastolic_mmhg="160"))
    assert r.status_code == 400
    assert "the diastolic must be below the systolic" in r.text
    tomorrow = (world.now + timedelta(days=2)).date().isoformat()
    r = _post(
        doctor,
        world.urgent_id,
        "hypertension",
        _form(world, visit_date=tomorrow, next_visit_on=tomorrow),
    )
    assert r.status_code == 400
    assert "Visit date: must not be in the future" in r.text
    with Session(world.engine) as s:
        assert s.scalars(select(FollowUpRecord)).all() == []
        assert s.scalars(select(Review)).all() == []


def test_export_masks_the_id_number_unless_revealed(doctor: TestClient, world: World) -> None:
    assert _post(doctor, world.urgent_id, "hypertension", _form(world)).status_code == 303
    assert (
        _post(
            doctor,
            world.overdue_id,
            "diabetes",
            _form(
                world,
                "diabetes",
                fasting_glucose_mmol_per_l="8.2",
                hba1c_percent="7.4",
                hypoglycaemia="occasional",
                foot_pulse="weakened",
                foot_pulse_side="left",
                insulin_type="甘精胰岛素",
                insulin_usage="每晚 10 单位",
            ),
        ).status_code
        == 303
    )
    with Session(world.engine) as s:
        ids = {r.id: (r.id_number, r.id_masked) for r in s.scalars(select(Resident))}
    masked = doctor.get("/records.csv")
    assert masked.status_code == 200
    rows = list(csv.reader(io.StringIO(masked.text.lstrip("\ufeff"))))
    assert len(rows) == 3  # header + one row per record
    head = rows[0]
    col = head.index("ID number")
    assert {r[col] for r in rows[1:]} == {ids[world.urgent_id][1], ids[world.overdue_id][1]}
    whole = doctor.get("/records.xlsx?reveal=1&kind=diabetes")
    assert whole.status_code == 200
    ws = load_workbook(io.BytesIO(whole.content)).worksheets[0]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert len(values) == 2
    book = dict(zip(values[0], values[1], strict=True))
    assert book["ID number"] == ids[world.overdue_id][0]
    assert book["Fasting glucose (mmol/L)"] == 8.2
    assert book["Hypoglycaemia"] == "Occasional"
    assert book["Dorsalis pedis pulse"] == "Weakened（left）"
    assert book["Insulin type"] == "甘精胰岛素"
    with Session(world.engine) as s:
        exports = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "export_records").order_by(AuditEvent.id)
        ).all()
        assert [e.detail["id_numbers_revealed"] for e in exports] == [False, True]
        assert [e.detail["rows"] for e in exports] == [2, 1]


def test_chinese_pages_use_the_forms_words(world: World) -> None:
    from tests.support.web import login, make_client

    with make_client(world, accept_language="zh-CN") as c:
        login(c, "dr.wang")
        page = c.get(f"/residents/{world.overdue_id}/records/diabetes/new")
        assert "2型糖尿病患者随访服务记录表" in page.text
        assert "足背动脉搏动" in page.text and "低血糖反应" in page.text
        assert _post(c, world.overdue_id, "diabetes", _form(world, "diabetes")).status_code == 303
        head = next(csv.reader(io.StringIO(c.get("/records.csv").text.lstrip("\ufeff"))))
        assert "随访日期" in head and "身份证号" in head and "此次随访分类" in head
