"""A Chinese doctor's browser session, end to end, in Debian's headless Chromium (locale
zh-CN, Accept-Language zh-CN, the account's own language Chinese, the browser's own zone
not Beijing) against the real server on a SQLite file.

The walk: sign in → my list → a resident (reveal, details, a review) → the hypertension
and the diabetes record pre-filled → save → print → correct → the records and their
CSV/XLSX exports → the list again (its CSV) → the dashboard and each figure's residents
→ the calls for staff (acknowledged) → account settings (language saved) → the error
pages (404, 403, a form without its token, an expired session) → the administrator's
audit log. Every page (and every flash message on it) is read as the browser renders it:
each Latin word must be one of :data:`LATIN` (units, formats, codes marked
``translate="no"`` or text marked ``lang="en"`` are left out); every time of day is
labelled 北京时间; no date is written 2026-12-07; no console error; no page is wider
than the window at 1280x800 or at 1024x768. The exports' headers and cells likewise.
Screenshots go to ``artifacts/screenshots/web/zh-session-*.png``."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from followup.db.auth import User, WebSession
from followup.fleet.reports import FleetStore
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from sync.schema import HelpCall
from tests.followup.web.test_web_browser import _serve
from tests.followup.web.test_web_chinese import ZhWorld
from tests.followup.web.test_web_chinese import zh as zh  # noqa: PLC0414 - the fixture
from tests.support.browser import ARGS, CHROMIUM, Console, shot, zh_env
from tests.support.web import PASSWORD

pytestmark = pytest.mark.browser

LATIN = {
    # units and formats a Chinese page writes in Latin letters
    "mmHg", "mmol", "kg", "cm", "mg", "bpm",
    "CSV", "XLSX", "FHIR", "MQTT", "PIN", "ID", "UTC", "LO", "HI", "BMI", "SpO",
    # the devices' brand names, as the devices are labelled
    "Omron", "Sinocare",
}  # fmt: skip
"""The Latin words a Chinese doctor's page may show (anything else is untranslated)."""
WORD = re.compile(r"[A-Za-z]{2,}")
CLOCK = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?")
ISO_DATE = re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{4}/\d{1,2}/\d{1,2}\b")
LABEL = "（北京时间）"
SIZES = ((1280, 800), (1024, 768))

TEXTS_JS = """() => {
  const skipped = (el) => {
    if (!el) return false;
    if (el.closest("script, style, noscript, code, [translate=no]")) return true;
    const tagged = el.closest("[lang]");
    return tagged !== null && !tagged.lang.toLowerCase().startsWith("zh");
  };
  const out = [document.title];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const t = walk.currentNode.textContent.replace(/\\s+/g, " ").trim();
    if (t && !skipped(walk.currentNode.parentElement)) out.push(t);
  }
  const shown = "[placeholder], [title], [aria-label], [alt], input[type=submit], "
    + "input[type=button]";
  for (const el of document.querySelectorAll(shown)) {
    if (skipped(el)) continue;
    for (const a of ["placeholder", "title", "aria-label", "alt"]) {
      if (el.getAttribute(a)) out.push(el.getAttribute(a));
    }
    if (el.tagName === "INPUT" && el.value) out.push(el.value);
  }
  return out;
}"""
WIDTH_JS = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def problems_in(text: str) -> list[str]:
    """What is wrong with one text a Chinese doctor reads."""
    found = [f"English {w!r}" for w in WORD.findall(text) if w not in LATIN]
    for m in CLOCK.finditer(text):
        if not text[m.end() :].startswith(LABEL):
            found.append(f"a time without {LABEL}: {m.group(0)!r}")
    found += [f"a date not in the Chinese form: {d!r}" for d in ISO_DATE.findall(text)]
    return found


class Walk:
    """Every page the doctor opens, checked as it is shown; the findings gathered, so one
    run reports all of them."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.console = Console(page)
        self.findings: list[str] = []
        self.seen = 0
        self.console_seen = 0
        self.last_status = 200

    def check(self, name: str, *, status: int = 200, screenshot: bool = True) -> None:
        """The page now shown: its words, times and dates; its width at both sizes; the
        console errors since the last page (an error page's own status is not one)."""
        page = self.page
        # (Chromium reports an error page's status as a console error, at times only
        # once the next page is open.)
        expected = {
            f"Failed to load resource: the server responded with a status of {s} "
            for s in (status, self.last_status)
            if s != 200
        }
        for message in self.console.errors[self.console_seen :]:
            if not any(message.startswith(e) for e in expected):
                self.findings.append(f"{name} ({page.url}): console error {message!r}")
        self.console_seen = len(self.console.errors)
        self.last_status = status
        html_lang = page.locator("html").get_attribute("lang")
        if html_lang != "zh-CN":
            self.findings.append(f"{name} ({page.url}): <html lang={html_lang!r}>")
        for text in page.evaluate(TEXTS_JS):
            self.findings += [f"{name} ({page.url}): {p} in {text!r}" for p in problems_in(text)]
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            scroll, inner = page.evaluate(WIDTH_JS)
            if scroll > inner:
                self.findings.append(f"{name}: {scroll}px wide in a {width}x{height} window")
        page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
        if screenshot:
            shot(page, f"zh-session-{self.seen:02d}-{name}")
        self.seen += 1

    def open(self, path: str, name: str, *, status: int = 200) -> None:
        response = self.page.goto(f"{self.base}{path}")
        if response is not None and response.status != status:
            self.findings.append(f"{name}: {path} answered {response.status}, not {status}")
        self.check(name, status=status)

    def download(self, selector: str, name: str) -> bytes:
        with self.page.expect_download() as dl:
            self.page.click(selector)
        data = Path(dl.value.path()).read_bytes()
        self.seen += 1
        return data

    def table(self, name: str, rows: list[list[Any]]) -> None:
        """An export's header and cells (the ID numbers and the codes are not words)."""
        for r, row in enumerate(rows):
            for cell in row:
                if cell is None or not isinstance(cell, str):
                    continue
                for p in problems_in(cell):
                    if "a date not in the Chinese form" in p and r > 0:
                        continue  # a day as data (ISO, for the district's system)
                    self.findings.append(f"{name} row {r}: {p} in {cell!r}")


@pytest.fixture
def followup_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'followup.sqlite'}"


@pytest.fixture
def session_site(zh: ZhWorld) -> Iterator[str]:
    """The Chinese district of test_web_chinese.py, its doctor's account set to Chinese,
    and a call for staff at a station."""
    engine = zh.world.engine
    with Session(engine) as s, s.begin():
        s.execute(update(User).values(language="zh_CN"))
    call = HelpCall.model_validate(
        {
            "schema": "hk.help/1",
            "station_id": "st-002",
            "id": "0b6f0c1e-2f7e-4d5c-9b1a-6a1f1b2c3d4e",
            "reason": "staff_call",
            "screen": "error",
            "detail": "device_not_found",
            "called_at": (zh.world.now - timedelta(minutes=3)).isoformat(),
        }
    )
    assert FleetStore(engine).apply(call, received_at=zh.world.now) is True
    settings = WebSettings(secret_key="s" * 64, poll_interval_s=60.0, refresh_interval_s=0.5)
    yield from _serve(create_app(engine, load_rules(), settings))


@pytest.fixture
def zh_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, "--lang=zh-CN"], env=zh_env())
        try:
            yield b
        finally:
            b.close()


def _context(browser: Any) -> Any:
    return browser.new_context(
        locale="zh-CN",
        timezone_id="Europe/London",  # the times shown are the server's doing
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
        viewport={"width": SIZES[0][0], "height": SIZES[0][1]},
        accept_downloads=True,
    )


def _sign_in(w: Walk, username: str) -> None:
    w.page.fill("input[name=username]", username)
    w.page.fill("input[name=password]", PASSWORD)
    w.page.click("button[type=submit]")


def _csv_rows(data: bytes) -> list[list[Any]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    return [[c.value for c in row] for row in ws.iter_rows()]


def test_a_chinese_doctors_browser_session(session_site: str, zh_browser: Any, zh: ZhWorld) -> None:
    base = session_site
    page = _context(zh_browser).new_page()
    w = Walk(page, base)

    # sign in: a wrong password first
    w.open("/list", "login")
    assert page.url.startswith(f"{base}/login")
    page.fill("input[name=username]", "dr.wang")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    w.check("login-failed", status=401)
    _sign_in(w, "dr.wang")
    page.wait_for_url(f"{base}/list")
    page.locator(f"tr[data-resident='{zh.wang_id}']").first.wait_for(timeout=20_000)
    w.check("my-list")
    ack = page.locator(f"tr[data-resident='{zh.wang_id}'] form[action$='/ack'] button")
    assert ack.count() >= 1
    ack.first.click()
    page.wait_for_url(f"{base}/list")
    w.check("list-alert-acknowledged")

    # a resident: the ID revealed, details saved, an alert acknowledged, a call attempt
    w.open(f"/residents/{zh.wang_id}", "resident")
    for uuid, at in zh.readings.items():  # the readings' own times, in Beijing
        cell = page.locator(f"tr[data-uuid='{uuid}'] td.measured")
        if cell.count():
            local = at.astimezone(UTC) + timedelta(hours=8)
            assert (
                cell.inner_text()
                == f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}{LABEL}"
            )
    page.click("#identity button[type=submit]")
    w.check("resident-id-revealed")
    page.fill("#contact input[name=phone]", "13800000001")
    page.click("#contact button[type=submit]")
    page.wait_for_url(f"{base}/residents/{zh.wang_id}")
    w.check("resident-details-saved")
    page.check("input[name=outcome][value=no_answer]")
    page.click("#review button[type=submit]")
    page.wait_for_url(f"{base}/list")
    w.check("list-after-no-answer")
    page.goto(f"{base}/residents/{zh.li_id}")
    page.check("input[name=outcome][value=agreed_to_visit]")
    page.fill("textarea[name=note]", "电话联系：明天来门诊")
    page.click("#review button[type=submit]")
    page.wait_for_url(f"{base}/list")
    w.check("list-after-review")
    assert page.locator(".flash").inner_text() == "李秀英 的复核已保存。"

    # the national records, pre-filled, saved, printed, corrected
    page.goto(f"{base}/residents/{zh.wang_id}")
    page.click("#new-hypertension-record")
    page.wait_for_url(f"{base}/residents/{zh.wang_id}/records/hypertension/new")
    w.check("record-hypertension-prefilled")
    page.fill("input[name=medicine_1_name]", "硝苯地平控释片")
    page.fill("input[name=medicine_1_times]", "1")
    page.fill("input[name=medicine_1_mg]", "30")
    page.click("#save-record")
    page.wait_for_url(f"{base}/records/*/print")
    w.check("record-hypertension-saved-print")
    page.click("#correct-record")
    page.wait_for_url(f"{base}/records/*/edit")
    w.check("record-correction-form")
    page.fill("input[name=medicine_1_mg]", "60")
    page.click("#save-record")
    page.wait_for_url(f"{base}/records/*/print")
    w.check("record-corrected-print")
    assert page.locator(".flash").inner_text() == "已修改王建明的随访记录。"
    page.click("#correct-record")
    page.click("#save-record")  # unchanged
    page.wait_for_url(f"{base}/records/*/print")
    w.check("record-unchanged")
    page.click("#correct-record")
    page.fill("input[name=diastolic_mmhg]", "250")
    page.click("#save-record")
    w.check("record-correction-refused", status=400)
    page.goto(f"{base}/residents/{zh.chen_id}/records/diabetes/new")
    w.check("record-diabetes-prefilled")
    page.check("input[name=classification][value=satisfactory]")
    page.fill("input[name=fasting_glucose_mmol_per_l]", "6.4")
    page.check("input[name=foot_pulse][value=normal]")
    page.click("#save-record")
    page.wait_for_url(f"{base}/records/*/print")
    w.check("record-diabetes-saved-print")
    w.open(f"/residents/{zh.wang_id}", "resident-with-history")
    assert "已修改" in page.locator("#record-history").inner_text()

    # the records and their exports
    w.open("/records?kind=x&from=2026-13-01&to=x", "records-bad-filters")
    assert "筛选条件无效：记录表、随访日期从、随访日期止" in page.locator(".errors").inner_text()
    w.open("/records.csv?from=x", "records-export-bad-filters", status=400)
    w.open("/records", "records")
    w.table("records.csv", _csv_rows(w.download("#export-csv", "records-csv")))
    w.table("records.xlsx", _xlsx_rows(w.download("#export-xlsx", "records-xlsx")))

    # the list again, its print and CSV
    w.open("/list", "list-again")
    w.open("/list/print", "list-print")
    page.goto(f"{base}/list")
    csv_link = page.locator("a[href^='/list.csv']")
    if csv_link.count():
        w.table("list.csv", _csv_rows(w.download("a[href^='/list.csv']", "list-csv")))

    # the dashboard and each figure's residents
    w.open("/dashboard", "dashboard")
    figures = sorted(set(page.locator("a.figure").evaluate_all("els => els.map(e => e.href)")))
    assert figures
    for i, href in enumerate(figures):
        page.goto(href)
        w.check(f"dashboard-figure-{i}", screenshot=i == 0)

    # the calls for staff (on the list), one acknowledged
    w.open("/list", "list-with-help-call")
    page.locator("#help-calls-table form button").first.click()
    page.wait_for_url(f"{base}/list")
    w.check("help-call-acknowledged")
    assert "本服务器没有 MQTT 连接" in page.locator(".flash").inner_text()

    # the account: the language saved
    w.open("/account", "account")
    page.check("input[name=language][value=zh_CN]")
    page.click("#language-form button[type=submit]")
    page.wait_for_url(f"{base}/account")
    w.check("account-language-saved")

    # the error pages
    w.open("/residents/999999", "error-404-resident", status=404)
    w.open("/records/999999/print", "error-404-record", status=404)
    w.open("/no/such/page", "error-404-route", status=404)
    assert "没有这个页面" in page.locator("main").inner_text()
    assert page.locator("#account-link").inner_text() == "王医生"  # still signed in, its links
    w.open("/admin", "error-403", status=403)
    page.goto(f"{base}/residents/{zh.wang_id}")
    page.evaluate(
        "() => { const f = document.querySelector('#contact form');"
        " f.querySelector('input[name=csrf]').value = 'forged'; f.submit(); }"
    )
    page.wait_for_load_state()
    w.check("error-403-csrf", status=403)
    # the session ends (as after its idle time): a link opened, then a form sent
    with Session(zh.world.engine) as s, s.begin():
        s.execute(delete(WebSession))
    page.goto(f"{base}/list")
    page.wait_for_url(f"{base}/login**")
    w.check("session-expired-login")
    assert "登录已失效" in page.locator(".flash").inner_text()
    _sign_in(w, "dr.wang")
    page.wait_for_url(f"{base}/list")
    page.goto(f"{base}/residents/{zh.wang_id}")
    with Session(zh.world.engine) as s, s.begin():
        s.execute(delete(WebSession))
    page.click("#contact button[type=submit]")
    page.wait_for_load_state()
    w.check("session-expired-post", status=401)
    assert "请重新登录" in page.locator("main").inner_text()

    # the administrator's audit log (a Chinese administrator)
    page.goto(f"{base}/login")
    _sign_in(w, "admin")
    page.wait_for_url(f"{base}/admin")
    w.open("/admin/audit", "audit")
    corrected = page.locator("td[data-action=followup_record_correct]").first.inner_text()
    assert corrected.startswith("修改随访记录")

    assert w.findings == [], "\n".join(w.findings)
    assert w.seen >= 40


def test_the_checker_finds_what_a_chinese_page_must_not_show() -> None:
    """(The walk could not pass by finding nothing.)"""
    assert problems_in("血压 186/104 mmHg，2026年12月7日 10:00（北京时间）") == []
    assert problems_in("Save the correction") == [
        "English 'Save'",
        "English 'the'",
        "English 'correction'",
    ]
    assert problems_in("保存于 10:00") == ["a time without （北京时间）: '10:00'"]
    assert problems_in("下次随访 2026-12-07") == ["a date not in the Chinese form: '2026-12-07'"]
    assert problems_in("空腹血糖 7.6 mmol/L，BMI 25.7 kg/m²") == []
