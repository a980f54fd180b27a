"""The doctor's side in Chinese (both databases): every page a doctor and an administrator
reach, walked with a Chinese browser, holds no English word a person would read (every
visible text node is Chinese, or a number, a unit or a code; text a station sent in
English is marked ``lang="en"`` and codes ``translate="no"``); the CSV's header is
Chinese; and every time shown is the reading's time in the district's zone, labelled."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.engine import make_engine
from followup.db.models import Reading, Station
from followup.fleet.reports import FleetStore
from followup.web.accounts import add_user
from tests.support.fleet_data import seed_fleet, seed_reports
from tests.support.followup_data import add_reading, add_resident, add_station
from tests.support.web import PASSWORD, World, csrf, login, make_client

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip
SKIP = {"script", "style", "code", "noscript"}
SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")
WORD = re.compile(r"(?<![\w.-])[A-Za-z]{2,}(?![\w.-])")
"""A word: two letters or more, not part of a code (st-001, v0.4.0, hk.status/1)."""
ALLOWED = {
    # units, formats and names a Chinese page writes in Latin letters
    "mmHg", "mmol", "bpm", "MB", "CSV", "FHIR", "MQTT", "PIN", "CPU", "Webhook", "UTC",
    "LO", "HI", "ID", "YYYY", "MM", "DD", "BP",
    # the devices' brand names (in an alert's sentence), as the devices are labelled
    "Omron", "Sinocare",
}  # fmt: skip


class Texts(HTMLParser):
    """The words a person reads on a page: text nodes and shown attributes, less
    scripts, styles, code, and what is marked as not Chinese (``lang``) or a code
    (``translate="no"``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []
        self.found: list[str] = []

    @property
    def skipping(self) -> bool:
        return bool(self.stack) and self.stack[-1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        skip = (
            self.skipping
            or tag in SKIP
            or a.get("translate") == "no"
            or (a.get("lang") or "zh").split("-")[0] not in ("zh",)
        )
        if not skip:
            for name in SHOWN_ATTRIBUTES:
                if a.get(name):
                    self.found.append(str(a[name]))
            if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
                self.found.append(str(a["value"]))
        if tag not in VOID:
            self.stack.append(skip)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)
        else:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            self.found.append(data.strip())


def english_words(html: str) -> list[str]:
    """Every text a person reads on the page that holds an English word."""
    p = Texts()
    p.feed(html)
    # the <html lang> itself must be Chinese
    assert '<html lang="zh-CN">' in html or "<html" not in html
    return [t for t in p.found if any(w not in ALLOWED for w in WORD.findall(t))]


@dataclass
class ZhWorld:
    world: World
    wang_id: int
    li_id: int
    chen_id: int
    readings: dict[str, datetime]


@pytest.fixture
def zh(followup_url: str) -> Iterator[ZhWorld]:
    """The world of test_web_app.py with the data a Chinese district has (Chinese
    names, stations, areas), fleet statuses and reports (some reasons in a station's
    English), and readings at known times."""
    engine = make_engine(followup_url)
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(engine) as s, s.begin():
        add_station(s, "st-001", "和平里站")
        add_station(s, "st-002", "青年湖站")
        doctor = add_user(s, username="dr.wang", password=PASSWORD, role="doctor", now=now,
                          display_name="王医生")  # fmt: skip
        admin = add_user(s, username="admin", password=PASSWORD, role="admin", now=now,
                         display_name="管理员")  # fmt: skip
        wang = add_resident(s, name="王建明", area="和平里社区", hypertension=True)
        wang.responsible_doctor_id = doctor.id
        wang.hypertension_enrolled_on = date(2021, 3, 15)
        wang.address = "东城区和平里1号"
        at = [now - timedelta(hours=1), now - timedelta(days=3, hours=7)]
        r1 = add_reading(s, wang, measured_at=at[0], systolic=186, diastolic=104)
        r2 = add_reading(s, wang, measured_at=at[1], systolic=150, diastolic=92)
        li = add_resident(s, name="李秀英", area="青年湖社区", birth=date(1980, 2, 3))
        r3 = add_reading(s, li, measured_at=now - timedelta(days=1), glucose=7.4, meal="fasting",
                         station="st-002")  # fmt: skip
        chen = add_resident(s, name="陈杰", area="青年湖社区", diabetes=True)
        r4 = add_reading(s, chen, measured_at=now - timedelta(days=120), glucose=5.5,
                         meal="fasting")  # fmt: skip
        readings = {r.uuid: r.measured_at for r in (r1, r2, r3, r4)}
        seed_fleet(s, now)
        for sid, group in (("st-001", "东区"), ("st-002", "西区")):
            st = s.get(Station, sid)
            assert st is not None
            st.group, st.area = group, "和平里街道"
        ids = (wang.id, li.id, chen.id, doctor.id, admin.id)
    seed_reports(FleetStore(engine), now)
    world = World(engine, now, ids[0], ids[1], ids[2], ids[3], ids[4])
    yield ZhWorld(world, ids[0], ids[1], ids[2], readings)
    engine.dispose()


def _client(z: ZhWorld, **settings: object) -> TestClient:
    c = make_client(z.world, accept_language="zh-CN,zh;q=0.9,en;q=0.5", **settings)
    return c


def _check(c: TestClient, path: str, status: int = 200, **kw: object) -> str:
    r = c.get(path, **kw) if not kw.get("data") else c.post(path, **kw)  # type: ignore[arg-type]
    assert r.status_code == status, (path, r.status_code)
    english = english_words(r.text)
    assert english == [], f"{path}: English on a Chinese page: {english}"
    return r.text


def test_every_page_of_a_chinese_doctor_and_administrator_speaks_chinese(zh: ZhWorld) -> None:
    with _client(zh) as c:
        _check(c, "/login")
        bad = c.post("/login", data={"username": "dr.wang", "password": "wrong",
                                     "csrf": csrf(c), "next": "/"})  # fmt: skip
        assert bad.status_code == 401 and english_words(bad.text) == []
        login(c, "dr.wang")
        page = _check(c, "/list")
        assert "王建明" in page and "和平里社区" in page and 'href="tel:13800000000"' in page
        assert "王医生" in page and "（无姓名）" not in page
        _check(c, "/list?status=abnormal&kind=glucose")
        errors = _check(c, "/list?status=nonsense&from=2026-13-01&doctor=x")
        assert "不是日期" in errors
        _check(c, "/list/rows")
        _check(c, "/list/print")
        _check(c, "/account")
        for rid in (zh.wang_id, zh.li_id, zh.chen_id):
            _check(c, f"/residents/{rid}")
        wang = c.get(f"/residents/{zh.wang_id}").text
        assert "自 2021年3月15日" in wang and "王医生" in wang and "高血压管理" in wang
        token = csrf(c, f"/residents/{zh.wang_id}")
        _check(c, f"/residents/{zh.wang_id}/reveal", data={"csrf": token})
        _check(c, f"/residents/{zh.wang_id}/edit", 400,
               data={"csrf": token, "phone": "1" * 41, "responsible_doctor": "x"})  # fmt: skip
        _check(c, f"/residents/{zh.wang_id}/reviews", 400,
               data={"csrf": token, "outcome": "nonsense", "method": "pigeon",
                     "note": "x" * 2001})  # fmt: skip
        _check(c, "/residents/999999", 404)
        _check(c, "/admin", 403)
        ok = c.post(f"/residents/{zh.wang_id}/reviews", follow_redirects=True,
                    data={"csrf": token, "outcome": "agreed_to_visit", "method": "phone",
                          "note": "明天来门诊"})  # fmt: skip
        assert ok.status_code == 200 and "王建明 的复核已保存" in ok.text
        assert english_words(ok.text) == []
        _check(c, f"/residents/{zh.wang_id}")  # with its history
        rows = list(csv.reader(io.StringIO(c.get("/list.csv").text.lstrip("\ufeff"))))
        assert rows[0][:3] == ["分组", "居民编号", "姓名"]
        for cell in rows[0]:
            assert not WORD.findall(cell), rows[0]
        assert {r[0] for r in rows[1:]} <= {"紧急 — 今日联系", "异常 — 需复核", "逾期",
                                             "逾期超过一年"}  # fmt: skip
    with _client(zh) as c:
        login(c, "admin")
        _check(c, "/admin")
        _check(c, "/admin/audit")
        _check(c, "/admin/fleet")
        _check(c, "/admin/fleet?alert=nonsense&page=x")
        station = _check(c, "/admin/fleet/st-001")
        assert "北京时间" in station
        _check(c, "/admin/fleet/st-002")
        _check(c, "/admin/fleet/nowhere", 404)
        token = csrf(c, "/admin/fleet/st-001")
        sent = c.post("/admin/fleet/st-001/commands", follow_redirects=True,
                      data={"csrf": token, "command": "logs", "lines": "50"})  # fmt: skip
        assert sent.status_code == 200 and english_words(sent.text) == []
        _check(c, "/admin/fleet/st-001/commands")
        _check(c, "/admin/fleet/st-001/commands", 400,
               data={"csrf": token, "command": "repair", "role": ""})  # fmt: skip
        _check(
            c,
            "/admin/users",
            400,
            data={"csrf": token, "username": "dr.li", "password": "short", "role": "doctor"},
        )
        _check(c, "/list", 403)


def test_the_checker_finds_english(zh: ZhWorld) -> None:
    """The walk above could not pass by finding nothing: the English pages fail it."""
    with make_client(zh.world, accept_language="en") as c:
        login(c, "dr.wang")
        found = english_words(c.get("/list").text.replace('lang="en"', 'lang="zh-CN"'))
        assert "Follow-up list" in found
        assert english_words("<p>随访 <span>Save review</span></p>") == ["Save review"]
        assert english_words('<p lang="en">no READY within 90 s</p><code>ls</code>') == []


def _beijing(at: datetime) -> str:
    """The expected text, reckoned without the app: UTC + 8 hours."""
    t = at.astimezone(UTC) + timedelta(hours=8)
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}（北京时间）"


def _measured_cells(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-uuid="([^"]+)">\s*<td class="measured">([^<]+)', html))


def test_times_shown_are_the_readings_local_times(zh: ZhWorld) -> None:
    with _client(zh) as c:
        login(c, "dr.wang")
        shown: dict[str, str] = {}
        for rid in (zh.wang_id, zh.li_id, zh.chen_id):
            shown |= _measured_cells(c.get(f"/residents/{rid}").text)
        assert set(shown) == set(zh.readings)
        for uuid, at in zh.readings.items():
            assert shown[uuid] == _beijing(at), uuid
        # the list's "when" carries the time too, and the CSV its column
        listing = c.get("/list").text
        newest = max(zh.readings.values())
        assert f'title="{_beijing(newest)}"' in listing
        rows = list(csv.DictReader(io.StringIO(c.get("/list.csv").text.lstrip("\ufeff"))))
        assert _beijing(newest) in {r["测量时间"] for r in rows}
    # an English page: the same instant, in the same zone, labelled its way
    with make_client(zh.world, accept_language="en") as c:
        login(c, "dr.wang")
        page = c.get(f"/residents/{zh.wang_id}").text
        for uuid, text in _measured_cells(page).items():
            local = zh.readings[uuid].astimezone(ZoneInfo("Asia/Shanghai"))
            assert text == f"{local:%Y-%m-%d %H:%M} CST (UTC+8)"
    # another district's zone, as configured
    with _client(zh, timezone="Asia/Urumqi") as c:
        login(c, "dr.wang")
        page = c.get(f"/residents/{zh.li_id}").text
        ((uuid, text),) = _measured_cells(page).items()
        t = zh.readings[uuid].astimezone(UTC) + timedelta(hours=6)
        assert text == f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}（UTC+6）"


def test_the_readings_stored_are_those_shown(zh: ZhWorld) -> None:
    """(The fixture's readings are what the database holds: the times above are not
    the fixture's own numbers read back.)"""
    with Session(zh.world.engine) as s:
        stored = {u: (m if m.tzinfo else m.replace(tzinfo=UTC))
                  for u, m in s.execute(select(Reading.uuid, Reading.measured_at))}  # fmt: skip
    assert stored == zh.readings
