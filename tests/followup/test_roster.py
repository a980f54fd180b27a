"""The resident roster (``healthkiosk followup roster import``), run as an administrator
would, on SQLite and PostgreSQL: a good CSV and a good XLSX with the 公卫 system's
Chinese headers, a file with bad lines (each named with its line number and reason,
nothing imported), a re-import that updates without duplicating (also a resident the
kiosk's readings made first), a dry run, and no ID number whole in any output."""

from __future__ import annotations

import subprocess
import sys
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from followup.db.audit import AuditEvent
from followup.db.engine import make_engine
from followup.db.models import Reading, Resident
from followup.ingest.store import IngestStore, id_hash, load_or_create_key
from followup.web.accounts import add_user
from healthkiosk.idnumber import check_character, mask
from sync.schema import ReadingMessage, from_dict
from tests.support.synckit import REPO, write_config
from tests.support.web import DISTRICT


def idn(born: str, seq: int, region: str = "110101") -> str:
    first = f"{region}{born}{seq:03d}"
    return first + check_character(first)


WANG = idn("19550501", 123)  # 123: odd, a man
LI = idn("19480212", 246)  # a woman
ZHAO = idn("19600830", 101)  # a man

HEADER = ["身份证号", "姓名", "性别", "出生日期", "联系电话", "现住址", "所属区域", "责任医生",
          "高血压管理", "糖尿病管理", "纳入管理日期"]  # fmt: skip


@dataclass
class Env:
    engine: Engine
    config: Path
    key: bytes
    doctor_id: int
    tmp: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "healthkiosk", "--config", str(self.config), "followup",
             "roster", "import", *args],
            cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def residents(self) -> dict[str, Resident]:
        with Session(self.engine) as s:
            rows = s.scalars(select(Resident)).all()
            s.expunge_all()
        return {r.id_hash: r for r in rows}

    def resident(self, id_number: str) -> Resident:
        return self.residents()[id_hash(self.key, id_number)]


@pytest.fixture
def env(followup_url: str, tmp_path: Path) -> Iterator[Env]:
    engine = make_engine(followup_url)
    data = tmp_path / "data"
    config = write_config(
        tmp_path / "f.toml",
        {"station": {"data_dir": str(data)}, "followup": {"database_url": followup_url}},
    )
    key = load_or_create_key(data / "followup-id-hash.key")
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        doc = add_user(s, username="dr.wang", password="p" * 12, role="doctor",
                       display_name="王医生", now=now)  # fmt: skip
        add_user(s, username="dr.zhou", password="p" * 12, role="doctor",
                 display_name="周医生", now=now)  # fmt: skip
        gone = add_user(s, username="dr.gone", password="p" * 12, role="doctor",
                        display_name="离职医生", now=now)  # fmt: skip
        gone.active = False
        doctor_id = doc.id
    try:
        yield Env(engine, config, key, doctor_id, tmp_path)
    finally:
        engine.dispose()


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8-sig") -> Path:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


GOOD = [
    ["高血压患者管理名单（导出）"],  # a title row above the header, as exports have
    HEADER,
    [WANG, "王建明", "男", "1955-05-01", "13800138000", "东城区和平里1号", "和平里社区",
     "王医生", "是", "否", "2021-03-15"],
    [LI, "李秀英", "女", "1948/2/12", "010-64001234", "东城区和平里2号", "和平里社区",
     "dr.zhou", "是", "是", "2019年6月1日"],
    [ZHAO, "赵国强", "", "", "", "", "青年湖社区", "", "否", "是", "20220110"],
]  # fmt: skip


def _no_id_number_in(text: str) -> None:
    for number in (WANG, LI, ZHAO):
        assert number not in text
        assert number[6:14] + number[14:] not in text  # not even the tail with the birth date


def test_a_good_csv_from_the_public_health_system(env: Env) -> None:
    # GBK, as many 公卫 systems export
    path = write_csv(env.tmp / "roster.csv", GOOD, encoding="gb18030")
    r = env.run(str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 new, 0 updated, 0 unchanged" in r.stdout
    _no_id_number_in(r.stdout + r.stderr)
    wang = env.resident(WANG)
    assert (wang.name, wang.sex, wang.birth_date) == ("王建明", "male", date(1955, 5, 1))
    assert (wang.phone, wang.area, wang.address) == ("13800138000", "和平里社区", "东城区和平里1号")
    assert wang.responsible_doctor_id == env.doctor_id
    assert (wang.hypertension_programme, wang.diabetes_programme) == (True, False)
    assert wang.hypertension_enrolled_on == date(2021, 3, 15)
    assert wang.diabetes_enrolled_on is None
    assert wang.id_masked == mask(WANG) and wang.id_number == WANG
    li = env.resident(LI)
    assert li.sex == "female" and li.responsible_doctor_id not in (None, env.doctor_id)
    assert li.hypertension_enrolled_on == li.diabetes_enrolled_on == date(2019, 6, 1)
    zhao = env.resident(ZHAO)  # sex and birth date from the ID number
    assert (zhao.sex, zhao.birth_date, zhao.phone) == ("male", date(1960, 8, 30), None)
    assert zhao.diabetes_enrolled_on == date(2022, 1, 10) and zhao.hypertension_enrolled_on is None
    with Session(env.engine) as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "roster_import"))
        assert event.detail["created"] == 3
        assert WANG not in str(event.detail) + event.target


def test_a_good_xlsx_with_dates_and_numbers_as_excel_keeps_them(env: Env) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["身份证号码", "姓名", "性别", "出生日期", "手机号码", "家庭住址",
               "村（居）委会", "责任医师", "高血压", "2型糖尿病", "高血压纳入管理日期",
               "糖尿病建档日期"])  # fmt: skip
    ws.append([WANG, "王建明", "男", datetime(1955, 5, 1), 13800138000, "和平里1号", "和平里",
               "王医生", "√", "", datetime(2021, 3, 15), None])  # fmt: skip
    ws.append([LI, "李秀英", "女", None, "13900001111", None, "和平里", "周医生", "是", "是",
               datetime(2019, 6, 1), datetime(2020, 1, 2)])  # fmt: skip
    path = env.tmp / "roster.xlsx"
    wb.save(path)
    r = env.run(str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 new" in r.stdout
    wang = env.resident(WANG)
    assert (wang.name, wang.phone, wang.area) == ("王建明", "13800138000", "和平里")
    assert wang.hypertension_programme and not wang.diabetes_programme
    assert wang.hypertension_enrolled_on == date(2021, 3, 15)
    li = env.resident(LI)
    assert (li.hypertension_enrolled_on, li.diabetes_enrolled_on) == (
        date(2019, 6, 1),
        date(2020, 1, 2),
    )
    _no_id_number_in(r.stdout + r.stderr)


def test_bad_lines_are_each_reported_and_nothing_is_imported(env: Env) -> None:
    bad_check = WANG[:-1] + ("0" if WANG[-1] != "0" else "1")
    rows = [
        HEADER,
        [WANG, "王建明", "男", "1955-05-01", "13800138000", "", "和平里", "王医生", "是", "", ""],
        [bad_check, "错号", "男", "", "", "", "", "", "", "", ""],  # line 3
        [LI, "李秀英", "男", "", "", "", "", "", "", "", ""],  # 4: sex against the number
        [ZHAO, "赵国强", "男", "1960-08-31", "", "", "", "", "", "", ""],  # 5: birth date
        [idn("19700101", 11), "孙", "", "", "", "", "", "刘医生", "", "", ""],  # 6: no such doctor
        [WANG, "王建明", "", "", "", "", "", "", "", "", ""],  # 7: the same as line 2
        [idn("19700101", 13), "周", "", "", "电话", "", "", "", "", "", ""],  # 8: phone
        [idn("19700101", 15), "吴", "", "", "", "", "", "", "可能", "", ""],  # 9: yes/no
        [idn("19700101", 17), "郑", "", "", "", "", "", "", "是", "", "2099-01-01"],  # 10
        ["", "无号", "", "", "", "", "", "", "", "", ""],  # 11: no ID number
        [idn("19700101", 19), "冯", "", "1970-13-01", "", "", "", "", "", "", ""],  # 12: date
        [idn("19700101", 21), "秦", "", "", "", "", "", "离职医生", "", "", ""],  # 13: disabled
    ]  # fmt: skip
    path = write_csv(env.tmp / "bad.csv", rows)
    r = env.run(str(path))
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    expected = {
        3: "check digit",
        4: "sex does not match",
        5: "birth date does not match",
        6: "no doctor's account",
        7: "same ID number as line 2",
        8: "phone",
        9: "是 (yes) or 否 (no)",
        10: "enrolment date",
        11: "no ID number",
        12: "not a date",
        13: "no doctor's account",
    }
    reported = [ln for ln in out.splitlines() if ln.startswith("第 ")]
    assert len(reported) == len(expected), out
    for line, reason in expected.items():
        (hit,) = [ln for ln in reported if ln.startswith(f"第 {line} 行 line {line}:")]
        assert reason in hit, (line, hit)
    assert "11 bad line(s) of 12: nothing imported" in out
    _no_id_number_in(out + r.stderr)
    assert bad_check not in out
    assert env.residents() == {}  # not even line 2, which was good
    with Session(env.engine) as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_an_unreadable_file_is_refused_with_a_reason(env: Env) -> None:
    path = write_csv(env.tmp / "nohead.csv", [["姓名", "性别"], ["王", "男"]])
    r = env.run(str(path))
    assert r.returncode == 2 and "身份证号" in r.stderr
    other = env.tmp / "roster.ods"
    other.write_bytes(b"x")
    assert env.run(str(other)).returncode == 2
    broken = env.tmp / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    r = env.run(str(broken))
    assert r.returncode == 2 and "XLSX" in r.stderr
    assert env.residents() == {}


def test_an_id_number_excel_turned_into_a_number_is_a_bad_line(env: Env) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["身份证号", "姓名"])
    ws.append([int(ZHAO), "赵国强"])  # ZHAO ends in a digit
    path = env.tmp / "numbers.xlsx"
    wb.save(path)
    r = env.run(str(path))
    assert r.returncode == 1
    assert "第 2 行" in r.stdout and "format the column as text" in r.stdout


def _reading(id_number: str, seq: int) -> ReadingMessage:
    msg = from_dict(
        {
            "schema": "hk.reading/1",
            "uuid": str(uuidlib.uuid4()),
            "station_id": "st-1",
            "station_seq": seq,
            "resident": {"id_number": id_number},
            "kind": "blood_pressure",
            "measured_at": "2026-11-25T08:00:00+00:00",
            "values": {"systolic": 150, "diastolic": 95, "pulse": 70},
            "device": {"model": "m", "transport": "emulated"},
            "classification": {"category": "grade_1", "urgent": False},
            "software_version": "t",
        }
    )
    assert isinstance(msg, ReadingMessage)
    return msg


def test_a_re_import_updates_without_duplicating_and_readings_find_the_roster(
    env: Env,
) -> None:
    at = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    # A resident who typed their ID number at a kiosk before the roster came: no name.
    IngestStore(env.engine, key=env.key, tz=DISTRICT).store([_reading(ZHAO, 1)], [], received_at=at)
    (typed,) = env.residents().values()
    assert typed.name is None
    first = write_csv(env.tmp / "first.csv", GOOD)
    r = env.run(str(first))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 new, 1 updated, 0 unchanged" in r.stdout
    after_first = env.residents()
    assert len(after_first) == 3
    zhao = env.resident(ZHAO)
    assert zhao.id == typed.id and zhao.name == "赵国强" and zhao.area == "青年湖社区"
    # The district's next export: Wang's phone changed, Li unchanged, Zhao's cell for the
    # phone empty (kept), a new resident.
    zhou = idn("19521111", 222)
    second = [
        HEADER,
        [WANG, "王建明", "男", "1955-05-01", "13911112222", "东城区和平里1号", "和平里社区",
         "王医生", "是", "是", "2021-03-15"],
        GOOD[3],
        [ZHAO, "赵国强", "", "", "", "", "青年湖社区", "", "否", "是", "20220110"],
        [zhou, "周桂兰", "女", "", "", "", "青年湖社区", "周医生", "是", "否", "2024-09-09"],
    ]  # fmt: skip
    with Session(env.engine) as s, s.begin():  # a doctor typed Zhao's phone meanwhile
        s.get_one(Resident, zhao.id).phone = "13700001111"
    dry = env.run(str(write_csv(env.tmp / "second.csv", second)), "--dry-run")
    assert dry.returncode == 0 and "1 new, 1 updated, 2 unchanged" in dry.stdout
    assert "dry run: nothing written" in dry.stdout
    assert len(env.residents()) == 3  # the dry run wrote nothing
    r = env.run(str(env.tmp / "second.csv"))
    assert r.returncode == 0 and "1 new, 1 updated, 2 unchanged" in r.stdout
    now = env.residents()
    assert len(now) == 4
    wang = env.resident(WANG)
    assert wang.id == after_first[wang.id_hash].id
    assert wang.phone == "13911112222" and wang.diabetes_programme
    assert wang.diabetes_enrolled_on == date(2021, 3, 15)
    assert env.resident(ZHAO).phone == "13700001111"  # an empty cell keeps what is stored
    # A later reading with the ID number goes to the roster's resident.
    IngestStore(env.engine, key=env.key, tz=DISTRICT).store([_reading(zhou, 2)], [], received_at=at)
    zhou_id = env.resident(zhou).id
    with Session(env.engine) as s:
        assert s.scalar(select(func.count()).select_from(Resident)) == 4
        (rid,) = s.scalars(select(Reading.resident_id).where(Reading.station_seq == 2))
        assert rid == zhou_id
