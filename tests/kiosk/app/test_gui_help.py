"""Calls for staff by touch (issue 16): the real kiosk app under Xvfb (driven by
touch events, tests/support/gui_driver.py), beside a real Mosquitto, the real
kiosk-sync, the follow-up ingest and web app, and a doctor in headless Chromium.

- An urgent visit: the result says what happens now and that the doctor is
  told, more measuring is not the main button; the call reaches the broker,
  the follow-up database and the doctor's list, with the station and the screen.
- A staff call from an error: 呼叫工作人员 is the main way forward; the call
  reaches the doctor's list; the doctor acknowledges it there; the kiosk says
  so, and the doctor's side learns that the station has it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from emulation.supervise import Child, Supervisor

pytestmark = [pytest.mark.gui, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[3]
DRIVER = ROOT / "tests" / "support" / "gui_driver.py"
SHOTS = ROOT / "artifacts" / "screenshots" / "kiosk-help"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
STATION = "help-station-01"
PASSWORD = "a long doctor password"

T = TypeVar("T")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(what: str, probe: Callable[[], T | None], *, within: float, sup: Supervisor) -> T:
    deadline = time.monotonic() + within
    while True:
        got = probe()
        if got:
            return got
        for child in sup.children:
            if not child.running():
                log = child.log_path.read_text(errors="replace")[-3000:]
                raise AssertionError(f"{child.name} stopped while waiting for {what}:\n{log}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        time.sleep(0.1)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2) as c:
            return list(c.execute(sql))
    except sqlite3.Error:
        return []


@dataclass
class Stack:
    sup: Supervisor
    cfg: Path
    url: str
    followup_db: Path
    display: str
    tmp: Path

    def calls(self) -> list[tuple[Any, ...]]:
        return query(
            self.followup_db,
            "SELECT id, station_id, reason, screen, detail, acknowledged_at, acknowledged_where,"
            " acknowledged_by, station_knows_at FROM help_calls ORDER BY called_at",
        )

    def driver(self, scenario: str) -> subprocess.Popen[str]:
        kivy_home = self.tmp / f"kivy-{scenario}"
        kivy_home.mkdir()
        env = {**os.environ, "DISPLAY": self.display, "KIVY_HOME": str(kivy_home),
               "KIVY_NO_ARGS": "1", "KIVY_LOG_MODE": "PYTHON", "KIVY_NO_FILELOG": "1",
               "SDL_AUDIODRIVER": "dummy"}  # fmt: skip
        env.pop("HEALTHKIOSK_CONFIG", None)
        return subprocess.Popen(
            [sys.executable, str(DRIVER), scenario, "--config", str(self.cfg),
             "--report", str(self.tmp / f"{scenario}.json"), "--shots", str(SHOTS),
             "--tag", scenario],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def report(self, scenario: str, proc: subprocess.Popen[str]) -> dict[str, Any]:
        out, _ = proc.communicate(timeout=300)
        path = self.tmp / f"{scenario}.json"
        assert path.exists(), out[-4000:]
        report = json.loads(path.read_text(encoding="utf-8"))
        assert report["error"] is None, report["error"] + "\n" + out[-3000:]
        assert proc.returncode == 0, out[-3000:]
        return dict(report)


def write_config(tmp: Path, broker: int, web: int) -> Path:
    cfg = tmp / "healthkiosk.toml"
    cfg.write_text(
        f"""
[station]
id = "{STATION}"
name = "Help station"
data_dir = "{tmp / "station"}"

[store]
min_free_mb = 1

[mqtt]
host = "127.0.0.1"
port = {broker}
status_interval_s = 15

[kiosk]
language = "zh_CN"
resolution = [800, 480]
panel_width_mm = 154.08
panel_height_mm = 85.92
idle_timeout_s = 600
result_timeout_s = 600
done_s = 1.5
voice_enabled = true
voice_volume = 0.05

[rules.blood_pressure.protocol]
rest_s = 1.5
pause_s = 2

[followup]
database_url = "sqlite:///{tmp / "followup.sqlite"}"
listen_host = "127.0.0.1"
listen_port = {web}
secret_key_file = "{tmp / "followup-secret.key"}"

[followup.mqtt]
host = "127.0.0.1"
port = {broker}
""",
        encoding="utf-8",
    )
    return cfg


def hk(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "healthkiosk", "--config", str(cfg), *args]


@contextmanager
def stack(tmp: Path, xvfb: str) -> Iterator[Stack]:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker, web = free_port(), free_port()
    cfg = write_config(tmp, broker, web)
    (tmp / "mosquitto.conf").write_text(
        f"listener {broker} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "log_dest stderr\nlog_type error\nlog_type warning\n",
        encoding="utf-8",
    )
    added = subprocess.run(
        hk(cfg, "followup", "user", "add", "dr.help", "--role", "doctor",
           "--display-name", "Dr Help", "--password-stdin"),
        input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT, check=False, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    logs = tmp / "logs"
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": pythonpath}
    env.pop("HEALTHKIOSK_CONFIG", None)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with Supervisor() as sup:
        sup.start(Child("broker", [mosquitto, "-c", str(tmp / "mosquitto.conf")],
                        logs / "broker.log"))  # fmt: skip
        sup.start(Child("ingest", hk(cfg, "followup", "ingest"), logs / "ingest.log", env))
        sup.start(Child("web", hk(cfg, "followup", "serve"), logs / "web.log", env))
        sup.start(Child("kiosk-sync", hk(cfg, "sync", "run"), logs / "sync.log", env))
        url = f"http://127.0.0.1:{web}"

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"{url}/login", timeout=2):
                    return True
            except urllib.error.HTTPError:
                return True
            except OSError:
                return False

        wait("the web app", answers, within=60, sup=sup)
        try:
            yield Stack(sup, cfg, url, tmp / "followup.sqlite", xvfb, tmp)
        finally:
            for child in sup.children:
                if child.log_path.exists():
                    shutil.copy(child.log_path, SHOTS / f"log-{tmp.name}-{child.name}.txt")


@contextmanager
def doctor_page(url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                viewport={"width": 1280, "height": 900},
                locale="en-US",
                extra_http_headers={"Accept-Language": "en"},
            )
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{url}/login")
            page.fill("input[name=username]", "dr.help")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/list")
            yield page
            assert errors == []
        finally:
            browser.close()


def step(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["steps"] if s["name"] == name)


def primary_buttons(st: dict[str, Any]) -> list[str]:
    return [b["tid"] for b in st["buttons"] if b["primary"]]


def test_an_urgent_visit_brings_a_person(xvfb: str, tmp_path: Path) -> None:
    with stack(tmp_path, xvfb) as s:
        proc = s.driver("help_urgent")
        report = s.report("help_urgent", proc)
        assert report["overflows"] == []
        result = step(report, "result-urgent")
        zh, en = result["texts"]["zh_CN"], result["texts"]["en"]
        assert zh["result.value"] == "185/115" and zh["result.category"] == "很高"
        assert zh["result.urgent"] == "请马上找医生"
        assert zh["result.urgent_now"] == "请坐下休息，不要离开，工作人员马上来"
        assert en["result.urgent_now"] == "Please sit down and rest. Do not leave. Staff are coming"
        assert zh["help.result"] == "已通知医生" and en["help.result"] == "Doctor notified"
        assert "result.explanation" not in zh  # only the instruction and what happens now
        # The main button is not another measurement: that is a small second choice,
        # and at 800x480, where the row has no room for both, it waits until the staff
        # have come: "工作人员已到" (staff here) takes its place.
        assert primary_buttons(result) == ["btn.finish"]
        assert zh["btn.staff_here"] == "工作人员已到"
        assert "btn.next" not in zh
        assert result["chimes"] == 1  # the station chimed at once
        assert any("工作人员马上来" in words for _, words in report["spoken"])
        # The call outlives the visit on the station's screen.
        after = step(report, "attract-help-open")["texts"]["zh_CN"]
        assert after["help.status"] == "已通知工作人员，请稍候"
        assert "185/115" not in json.dumps(after, ensure_ascii=False)

        # Through kiosk-sync, the broker and the ingest into the doctor's database...
        rows = wait("the call in the follow-up database", s.calls, within=30, sup=s.sup)
        ((call_id, station, reason, screen, detail, acked, *_),) = rows
        assert (station, reason, screen, detail) == (
            STATION, "urgent_result", "result", "blood_pressure:grade_3"
        )  # fmt: skip
        assert acked is None
        # ...and on the doctor's list, live, with the station and the screen.
        with doctor_page(s.url) as page:
            row = page.locator(f"#help-calls tr[data-call='{call_id}']")
            row.wait_for(timeout=30_000)
            words = row.inner_text()
            assert STATION in words  # the station (named by its id: no name was registered)
            assert "Urgent result" in words and "a result" in words
            assert "Acknowledge" in words
            page.screenshot(path=str(SHOTS / "web-urgent-call.png"), full_page=True)


def test_a_staff_call_from_an_error_acknowledged_on_the_web(xvfb: str, tmp_path: Path) -> None:
    with stack(tmp_path, xvfb) as s:
        proc = s.driver("help_error")
        rows = wait("the call in the follow-up database", s.calls, within=90, sup=s.sup)
        ((call_id, station, reason, screen, detail, *_),) = rows
        assert (station, reason, screen, detail) == (
            STATION, "staff_call", "error", "device_not_found"
        )  # fmt: skip
        with doctor_page(s.url) as page:
            row = page.locator(f"#help-calls tr[data-call='{call_id}']")
            row.wait_for(timeout=30_000)
            words = row.inner_text()
            assert "Pressed “call staff”" in words and "an error (device not found)" in words
            page.screenshot(path=str(SHOTS / "web-staff-call.png"), full_page=True)
            row.locator("button").click()
            page.wait_for_url(f"{s.url}/list")
            assert "Call acknowledged" in page.locator(".flash").inner_text()
            done = page.locator(f"#help-calls tr[data-call='{call_id}']").inner_text()
            assert "by Dr Help (on the web)" in done
        report = s.report("help_error", proc)  # the kiosk heard it (the driver waited)
        assert report["overflows"] == []
        err = step(report, "error-needs-staff")
        assert err["texts"]["zh_CN"]["btn.call_staff"] == "呼叫工作人员"
        assert err["texts"]["en"]["btn.call_staff"] == "Call staff"
        assert primary_buttons(err) == ["btn.call_staff"]  # the main way forward
        called = step(report, "error-staff-called")["texts"]
        assert called["zh_CN"]["help.status"] == "已通知工作人员，请稍候"
        acked = step(report, "error-staff-acknowledged")["texts"]
        assert acked["zh_CN"]["help.status"] == "工作人员已收到，马上就来"
        assert acked["en"]["help.status"] == "Staff are on their way"
        assert "btn.staff_here" not in acked["zh_CN"]
        # The station sent the call back acknowledged: the doctor's side knows it has it.
        knows = wait(
            "the station's acknowledgement",
            lambda: [r for r in s.calls() if r[8] is not None],
            within=30,
            sup=s.sup,
        )
        assert knows[0][5] is not None and knows[0][6] == "web" and knows[0][7] == "Dr Help"
        answered = "SELECT command FROM station_commands WHERE result_ok = 1"
        results = wait("the command's result", lambda: query(s.followup_db, answered),
                       within=30, sup=s.sup)  # fmt: skip
        assert results == [("help_ack",)]
