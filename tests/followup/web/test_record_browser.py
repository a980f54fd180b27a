"""The national follow-up record in Debian's headless Chromium, in Chinese, against the
real server (uvicorn) on a real SQLite file: sign in → my list → a resident → the
record pre-filled from the kiosk → save → the A4 print → the list without the resident,
for hypertension and for type 2 diabetes. Screenshots of every page go to
``artifacts/screenshots/web/`` (kept by CI); no console errors; the reading times shown
are the readings' local times (Asia/Shanghai)."""

from __future__ import annotations

import threading
import time as clock
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.records import FollowUpRecord
from followup.web.accounts import add_user
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from tests.support.browser import (
    ARGS,
    CHROMIUM,
    SHOTS,
    Console,
    free_port,
    login,
    shot,
    zh_env,
)
from tests.support.followup_data import add_reading, add_resident, add_station
from tests.support.web import PASSWORD

pytestmark = pytest.mark.browser


@dataclass
class Clinic:
    engine: Engine
    htn_id: int
    dm_id: int
    bp_times: list[datetime]
    """The hypertension resident's readings (UTC): 03:42, 04:05 and 09:30 UTC."""
    glucose_at: datetime


def _at(days_ago: int, hh: int, mm: int) -> datetime:
    day = (datetime.now(UTC) - timedelta(days=days_ago)).date()
    return datetime.combine(day, time(hh, mm), UTC)


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    engine = make_engine(f"sqlite:///{tmp_path / 'followup.sqlite'}")
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        add_station(s, "st-001", "东街卫生站")
        doctor = add_user(
            s, username="dr.wang", password=PASSWORD, role="doctor", now=now, display_name="王医生"
        )
        htn = add_resident(s, name="张伟", birth=date(1950, 3, 4), sex="male", hypertension=True)
        bp_times = [_at(3, 3, 42), _at(2, 4, 5), _at(1, 9, 30)]  # 11:42, 12:05, 17:30 in Beijing
        for at, (sys, dia, pulse) in zip(
            bp_times, [(152, 94, 78), (148, 92, 74), (162, 98, 80)], strict=True
        ):
            add_reading(s, htn, measured_at=at, systolic=sys, diastolic=dia, pulse=pulse)
        dm = add_resident(s, name="李芳", birth=date(1958, 9, 9), diabetes=True)
        add_reading(s, dm, measured_at=_at(5, 0, 15), glucose=8.4, meal="fasting")
        glucose_at = _at(1, 23, 20)  # 07:20 the next morning in Beijing
        add_reading(s, dm, measured_at=glucose_at, glucose=7.6, meal="fasting")
        add_reading(s, dm, measured_at=_at(1, 23, 30), systolic=136, diastolic=84, pulse=70)
        htn.responsible_doctor_id = dm.responsible_doctor_id = doctor.id  # "my list"
        ids = (htn.id, dm.id)
    yield Clinic(engine, *ids, bp_times=bp_times, glucose_at=glucose_at)
    engine.dispose()


@pytest.fixture
def server(clinic: Clinic) -> Iterator[str]:
    settings = WebSettings(secret_key="s" * 64, poll_interval_s=2.0, refresh_interval_s=1.0)
    app = create_app(clinic.engine, load_rules(), settings)
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = clock.monotonic() + 20
    while not srv.started:
        assert clock.monotonic() < deadline, "uvicorn did not start"
        clock.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        t.join(timeout=15)


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=[*ARGS, "--lang=zh-CN"], headless=True, env=zh_env()
        )
        try:
            ctx = b.new_context(
                viewport={"width": 1280, "height": 900},
                locale="zh-CN",
                extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
            )
            yield ctx.new_page()
        finally:
            b.close()


def beijing(at: datetime) -> str:
    """The Chinese page's words for a time, worked out here (not with the app's code):
    UTC+8, 2026年3月2日 11:42."""
    local = at + timedelta(hours=8)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}（北京时间）"


def _pdf_pages(page: Any, name: str) -> int:
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"{name}.pdf").write_bytes(pdf)
    return int(pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages"))


def _open_list_and_resident(page: Any, server: str, rid: int, prefix: str) -> None:
    page.goto(f"{server}/list")
    page.wait_for_url(f"{server}/list")
    row = page.locator(f"tr[data-resident='{rid}']")
    row.wait_for(timeout=20_000)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    shot(page, f"{prefix}-02-list")
    row.locator("a").first.click()
    page.wait_for_url(f"{server}/residents/{rid}")
    shot(page, f"{prefix}-03-resident")


def test_hypertension_record_from_the_list_to_the_print_and_back(
    server: str, page: Any, clinic: Clinic
) -> None:
    console = Console(page)
    page.goto(f"{server}/list")
    assert page.url.startswith(f"{server}/login")
    shot(page, "record-htn-01-login")
    login(page, server, "dr.wang")
    page.wait_for_url(f"{server}/list")
    _open_list_and_resident(page, server, clinic.htn_id, "record-htn")

    page.click("#new-hypertension-record")
    page.wait_for_url(f"{server}/residents/{clinic.htn_id}/records/hypertension/new")
    assert page.locator("#record-title").inner_text() == "高血压患者随访服务记录表"
    # the average of the three readings: (152+148+162)/3 = 154, (94+92+98)/3 = 94.7 → 95,
    # pulse (78+74+80)/3 = 77.3 → 77
    assert page.input_value("input[name=systolic_mmhg]") == "154"
    assert page.input_value("input[name=diastolic_mmhg]") == "95"
    assert page.input_value("input[name=heart_rate_bpm]") == "77"
    assert "3 次读数的平均值 154/95 mmHg" in page.locator("#prefill-bp").inner_text()
    shown = page.locator("#prefill-readings td.when").all_inner_texts()
    assert shown == [beijing(t) for t in clinic.bp_times]
    assert [s.split(" ")[1][:5] for s in shown] == ["11:42", "12:05", "17:30"]
    # 77 years old: 154/95 is not below 150/90 → 控制不满意 suggested
    assert page.is_checked("input[name=classification][value=unsatisfactory]")
    shot(page, "record-htn-04-form-prefilled")

    page.check("input[name=symptoms][value=headache_dizziness]")
    page.check("input[name=way][value=home]")
    page.fill("input[name=height_cm]", "168")
    page.fill("input[name=weight_kg]", "72.5")
    page.fill("input[name=weight_target_kg]", "68")
    page.fill("input[name=smoking_per_day]", "10")
    page.fill("input[name=smoking_target]", "5")
    page.fill("input[name=drinking_liang_per_day]", "1")
    page.fill("input[name=drinking_target]", "0")
    page.fill("input[name=exercise_times_per_week]", "3")
    page.fill("input[name=exercise_minutes]", "30")
    page.fill("input[name=exercise_target_times_per_week]", "5")
    page.fill("input[name=exercise_target_minutes]", "30")
    page.check("input[name=salt][value=heavy]")
    page.check("input[name=salt_target][value=light]")
    page.check("input[name=psychological][value=good]")
    page.check("input[name=compliance][value=fair]")
    page.check("input[name=adherence][value=intermittent]")
    page.fill("input[name=medicine_1_name]", "硝苯地平控释片")
    page.fill("input[name=medicine_1_times]", "1")
    page.fill("input[name=medicine_1_mg]", "30")
    page.fill("input[name=medicine_2_name]", "氢氯噻嗪")
    page.fill("input[name=medicine_2_times]", "1")
    page.fill("input[name=medicine_2_mg]", "12.5")
    page.fill("input[name=medication_adjustment]", "加用氢氯噻嗪")
    page.fill("textarea[name=remarks]", "两周后复查血压")
    shot(page, "record-htn-05-form-filled")
    page.click("#save-record")
    page.wait_for_url(f"{server}/records/*/print")
    assert "已保存张伟的随访记录。" in page.locator(".flash").inner_text()
    paper = page.locator("#record-paper")
    text = paper.inner_text()
    assert "高血压患者随访服务记录表" in text
    assert page.locator("#p-bp").inner_text() == "154/95"
    assert page.locator("#p-heart-rate").inner_text() == "77"
    assert "硝苯地平控释片" in text and "氢氯噻嗪" in text
    assert "25.7" in text  # BMI 72.5 / 1.68² = 25.69
    shot(page, "record-htn-06-print-screen")
    page.emulate_media(media="print")
    assert not page.locator("header").is_visible()
    assert not page.locator("#print-button").is_visible()
    shot(page, "record-htn-07-print-a4")
    assert _pdf_pages(page, "record-htn-07-print-a4") == 1
    page.emulate_media(media="screen")

    page.click("#back-to-list")
    page.wait_for_url(f"{server}/list")
    page.locator("#section-urgent, #section-abnormal, main").first.wait_for()
    assert page.locator(f"tr[data-resident='{clinic.htn_id}']").count() == 0
    assert page.locator(f"tr[data-resident='{clinic.dm_id}']").count() == 1
    shot(page, "record-htn-08-list-without-resident")
    assert console.errors == []


def test_diabetes_record_from_the_list_to_the_print_and_back(
    server: str, page: Any, clinic: Clinic
) -> None:
    console = Console(page)
    login(page, server, "dr.wang")
    page.wait_for_url(f"{server}/list")
    _open_list_and_resident(page, server, clinic.dm_id, "record-dm")

    page.click("#new-diabetes-record")
    page.wait_for_url(f"{server}/residents/{clinic.dm_id}/records/diabetes/new")
    assert page.locator("#record-title").inner_text() == "2型糖尿病患者随访服务记录表"
    # the latest fasting glucose, not the first; the blood pressure of the period
    assert page.input_value("input[name=fasting_glucose_mmol_per_l]") == "7.6"
    assert page.input_value("input[name=systolic_mmhg]") == "136"
    assert page.input_value("input[name=heart_rate_bpm]") == "70"
    assert beijing(clinic.glucose_at) in page.locator("#prefill-glucose").inner_text()
    assert beijing(clinic.glucose_at).split(" ")[1].startswith("07:20")
    assert page.is_checked("input[name=classification][value=unsatisfactory]")  # 7.6 ≥ 7.0
    assert page.locator("text=足背动脉搏动").count() >= 1
    shot(page, "record-dm-04-form-prefilled")

    page.check("input[name=symptoms][value=polyuria]")
    page.check("input[name=symptoms][value=numb_hands_feet]")
    page.fill("input[name=height_cm]", "158")
    page.fill("input[name=weight_kg]", "61")
    page.fill("input[name=weight_target_kg]", "58")
    page.check("input[name=foot_pulse][value=weakened]")
    page.check("input[name=foot_pulse_side][value=left]")
    page.fill("input[name=staple_g_per_day]", "350")
    page.fill("input[name=staple_target_g_per_day]", "250")
    page.fill("input[name=hba1c_percent]", "7.8")
    page.fill("input[name=hba1c_date]", (datetime.now(UTC) - timedelta(days=10)).date().isoformat())
    page.check("input[name=adherence][value=regular]")
    page.check("input[name=hypoglycaemia][value=occasional]")
    page.fill("input[name=medicine_1_name]", "二甲双胍")
    page.fill("input[name=medicine_1_times]", "2")
    page.fill("input[name=medicine_1_mg]", "500")
    page.fill("input[name=insulin_type]", "甘精胰岛素")
    page.fill("input[name=insulin_usage]", "每晚睡前 10 单位皮下注射")
    page.fill("input[name=referral_reason]", "足背动脉搏动减弱")
    page.fill("input[name=referral_institution]", "区人民医院 内分泌科")
    shot(page, "record-dm-05-form-filled")
    page.click("#save-record")
    page.wait_for_url(f"{server}/records/*/print")
    text = page.locator("#record-paper").inner_text()
    assert "2型糖尿病患者随访服务记录表" in text
    assert page.locator("#p-glucose").inner_text().startswith("7.6")
    assert "甘精胰岛素" in text and "区人民医院 内分泌科" in text and "左侧" in text
    shot(page, "record-dm-06-print-screen")
    page.emulate_media(media="print")
    shot(page, "record-dm-07-print-a4")
    assert _pdf_pages(page, "record-dm-07-print-a4") == 1
    page.emulate_media(media="screen")

    page.click("#back-to-list")
    page.wait_for_url(f"{server}/list")
    assert page.locator(f"tr[data-resident='{clinic.dm_id}']").count() == 0
    assert page.locator(f"tr[data-resident='{clinic.htn_id}']").count() == 1
    shot(page, "record-dm-08-list-without-resident")
    page.goto(f"{server}/residents/{clinic.dm_id}")
    history = page.locator("#record-history").inner_text()
    assert "2型糖尿病患者随访服务记录表" in history and "控制不满意" in history
    shot(page, "record-dm-09-resident-history")
    page.goto(f"{server}/records")
    assert page.locator("#records-table tbody tr").count() == 1
    shot(page, "record-dm-10-records-and-export")
    with page.expect_download() as download:
        page.click("#export-xlsx")
    assert download.value.suggested_filename.endswith(".xlsx")
    with Session(clinic.engine) as s:
        rec = s.scalars(select(FollowUpRecord)).one()
        assert rec.kind == "diabetes" and rec.fasting_glucose_mmol_per_l == 7.6
        assert rec.form.foot_pulse == "weakened" and rec.form.hypoglycaemia == "occasional"
    assert console.errors == []


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_a_full_record_prints_on_one_a4_page(server: str, clinic: Clinic, language: str) -> None:
    """Every row filled, long English words too: each form still prints on one A4 page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            ctx = b.new_context(
                viewport={"width": 1280, "height": 900},
                extra_http_headers={"Accept-Language": language},
            )
            page = ctx.new_page()
            console = Console(page)
            login(page, server, "dr.wang")
            page.wait_for_url(f"{server}/list")
            for kind, rid in (("hypertension", clinic.htn_id), ("diabetes", clinic.dm_id)):
                page.goto(f"{server}/residents/{rid}/records/{kind}/new")
                for i in (1, 2, 3):
                    page.fill(f"input[name=medicine_{i}_name]", "Nifedipine controlled release")
                    page.fill(f"input[name=medicine_{i}_times]", "1")
                    page.fill(f"input[name=medicine_{i}_mg]", "30")
                if kind == "diabetes":
                    page.fill("input[name=insulin_type]", "Insulin glargine")
                    page.fill("input[name=insulin_usage]", "10 units at bedtime, subcutaneous")
                    page.fill("input[name=hba1c_percent]", "7.1")
                page.fill("input[name=symptoms_other]", "Tired after meals, thirsty at night")
                page.fill("input[name=medication_adjustment]", "Add a second medicine")
                page.fill("input[name=referral_reason]", "Not controlled twice in a row")
                page.fill("input[name=referral_institution]", "District hospital, cardiology")
                page.fill("input[name=referral_contact]", "Dr Liu 13900000000")
                page.fill("textarea[name=remarks]", "Review in two weeks")
                page.click("#save-record")
                page.wait_for_url(f"{server}/records/*/print")
                page.emulate_media(media="print")
                name = f"record-full-{kind}-{language}"
                shot(page, name)
                assert _pdf_pages(page, name) == 1
                page.emulate_media(media="screen")
            assert console.errors == []
        finally:
            b.close()


def _chinese_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def test_a_saved_record_is_corrected_and_the_print_and_history_show_it(
    server: str, page: Any, clinic: Clinic
) -> None:
    """Open a saved record, change the next visit date and a medicine's dose, save: the
    print shows the new values, the resident's history says 已修改 with the time."""
    console = Console(page)
    login(page, server, "dr.wang")
    page.wait_for_url(f"{server}/list")
    page.goto(f"{server}/residents/{clinic.htn_id}/records/hypertension/new")
    page.fill("input[name=medicine_1_name]", "硝苯地平控释片")
    page.fill("input[name=medicine_1_times]", "1")
    page.fill("input[name=medicine_1_mg]", "30")
    page.click("#save-record")
    page.wait_for_url(f"{server}/records/*/print")
    record_url = page.url
    first_next = page.locator("#p-next").inner_text()

    page.goto(f"{server}/residents/{clinic.htn_id}")
    page.locator("#record-history a.correct").click()
    page.wait_for_url(f"{server}/records/*/edit")
    assert page.locator("#record-title").inner_text() == "高血压患者随访服务记录表"
    assert "此前的每一版都会保留" in page.locator("#correcting").inner_text()
    assert page.input_value("input[name=medicine_1_mg]") == "30"
    shot(page, "record-correct-01-form")
    later = datetime.now(UTC).date() + timedelta(days=60)
    page.fill("input[name=next_visit_on]", later.isoformat())
    page.fill("input[name=medicine_1_mg]", "60")
    page.click("#save-record")
    page.wait_for_url(record_url)
    assert page.locator(".flash").inner_text() == "已修改张伟的随访记录。"
    assert page.locator("#p-next").inner_text() == _chinese_date(later) != first_next
    medicine = page.locator("#record-paper td.medicine").first.inner_text()
    assert "硝苯地平控释片" in medicine and "每次(mg) 60" in medicine.replace("　", " ")
    assert "（第 2 版）" in page.locator("#p-corrected").inner_text()
    changed = page.locator("#version-history tr[data-version='2'] td.changed").inner_text()
    assert changed == "药物1每次剂量(mg)、下次随访日期"
    shot(page, "record-correct-02-print")
    page.emulate_media(media="print")
    assert not page.locator("#versions").is_visible()
    assert _pdf_pages(page, "record-correct-03-print-a4") == 1
    page.emulate_media(media="screen")

    page.goto(f"{server}/residents/{clinic.htn_id}")
    cell = page.locator("#record-history td.corrected").inner_text()
    assert cell.startswith("已修改 ") and cell.endswith("（北京时间）")
    assert page.locator("#record-history").inner_text().count(_chinese_date(later)) == 1
    shot(page, "record-correct-04-resident-history")
    assert console.errors == []
