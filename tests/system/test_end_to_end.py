"""The whole system, end to end, each part a real process.

A visit on the real Kivy app (under its own Xvfb, driven by real X pointer
clicks, with the BLE drivers against their emulated blood pressure monitor
and glucose meter): an urgent blood pressure and a normal glucose, the visit
ending on a screen that shows both, the urgent first → the kiosk's SQLite
store → kiosk-sync → a real Mosquitto → the follow-up ingest → its SQLite
database → the follow-up web app, where a doctor in headless Chromium finds
the resident on the list with the reading in the category the elder saw,
reviews them, and sees them leave it. Every process is stopped at the end and
none is left running.

The station's clock is configured as not trusted (``[station] clock =
"untrusted"``, as a Pi without a real-time clock that booted without network):
its readings travel marked, the doctor's side files them by their arrival
time and still raises the urgent one.

Where to click: the kiosk writes its on-screen widgets' boxes to a JSON file
when ``HEALTHKIOSK_KIOSK_PROBE`` is set (``kiosk/app/probe.py``); the test
clicks the centre of a widget's box with ``xdotool``, the same X pointer path
a Pi's touchscreen takes through SDL. Screenshots of the X screen (taken
from outside the app) and of the browser pages go to
``artifacts/screenshots/system/``.
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
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from emulation.supervise import Child, Supervisor
from tests.support.xshot import screenshot

pytestmark = [pytest.mark.gui, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots" / "system"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SIZE = (800, 480)  # the official 7" panel
ID_NUMBER = "11010519491231002X"  # GB 11643-1999's own worked example (ends in X)
PASSWORD = "a long doctor password"
STATION = "e2e-station-01"
SYSTOLIC, DIASTOLIC, PULSE = 185, 115, 78  # the emulated monitor's reading: urgent (≥ 180/110)
GLUCOSE = "6.4"  # the emulated meter's strip, "eaten" (after a meal): normal

T = TypeVar("T")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _display_number(log: Path) -> str | None:
    """The display number Xvfb wrote (``-displayfd 1``): a line of digits, not
    always the log's first (its warnings on stderr may come before it)."""
    try:
        lines = log.read_text(errors="replace").split("\n")
    except OSError:
        return None
    return next((line.strip() for line in lines[:-1] if line.strip().isdigit()), None)


def wait(what: str, probe: Callable[[], T | None], *, within: float, sup: Supervisor) -> T:
    """Poll until ``probe`` returns something truthy; fail early if a child died."""
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
        time.sleep(0.05)


def write_config(tmp: Path, broker_port: int, web_port: int, *, devices: str = "") -> Path:
    """The whole system's configuration; ``devices``: more ``[devices.*]`` tables."""
    cfg = tmp / "healthkiosk.toml"
    cfg.write_text(
        f"""
[station]
id = "{STATION}"
name = "End-to-end station"
data_dir = "{tmp / "station"}"
clock = "untrusted"

[store]
min_free_mb = 1

[mqtt]
host = "127.0.0.1"
port = {broker_port}
receipt_timeout_s = 10
status_interval_s = 15

[devices]
simulate = true

# The real BLE drivers against their emulated twins (in-process GATT peripherals).
[devices.blood_pressure]
driver = "ble-bp-standard"
[devices.blood_pressure.options.emulator]
systolic = {SYSTOLIC}
diastolic = {DIASTOLIC}
pulse = {PULSE}
step_s = 0.1  # cuff pressure every 0.1 s: the measuring screen shows for about 1.5 s

[devices.glucose]
driver = "ble-glucose-standard"
{devices}
[kiosk]
language = "zh_CN"
resolution = [{SIZE[0]}, {SIZE[1]}]
panel_width_mm = 154.08
panel_height_mm = 85.92
voice_enabled = false
done_s = 1.5

# Short rest and pause (the guideline's are 5 min and 45 s).
[rules.blood_pressure.protocol]
rest_s = 1.5
pause_s = 2

[followup]
database_url = "sqlite:///{tmp / "followup.sqlite"}"
listen_host = "127.0.0.1"
listen_port = {web_port}
secret_key_file = "{tmp / "followup-secret.key"}"

[followup.mqtt]
host = "127.0.0.1"
port = {broker_port}
""",
        encoding="utf-8",
    )
    return cfg


def hk(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "healthkiosk", "--config", str(cfg), *args]


# --- the kiosk, seen through its probe and touched through X ---------------------


class Kiosk:
    def __init__(self, probe: Path, display: str, sup: Supervisor) -> None:
        self.probe = probe
        self.display = display
        self.sup = sup
        self.shots: list[str] = []

    def doc(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.probe.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def widget(self, tid: str) -> dict[str, Any] | None:
        doc = self.doc()
        if doc is None:
            return None
        return next((w for w in doc["widgets"] if w["tid"] == tid), None)

    def text(self, tid: str) -> str:
        w = self.widget(tid)
        assert w is not None, f"{tid} not on screen: {self.doc()}"
        return str(w["text"])

    def wait_for(self, tid: str, *, text: str | None = None, within: float = 20) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            w = self.widget(tid)
            if w is None or (text is not None and text not in (w["text"] or "")):
                return None
            return w

        return wait(f"{tid!r} on the kiosk (text {text!r})", found, within=within, sup=self.sup)

    def screen(self, name: str, *, within: float = 20) -> None:
        wait(f"the {name} screen", lambda: (self.doc() or {}).get("screen") == name,
             within=within, sup=self.sup)  # fmt: skip

    def tap(self, tid: str, *, within: float = 20) -> None:
        """Click the middle of the widget, once it is enabled and has stopped moving."""

        def settled() -> dict[str, Any] | None:
            w = self.widget(tid)
            if w is None or w["disabled"]:
                return None
            time.sleep(0.1)
            again = self.widget(tid)
            return w if again is not None and again["box"] == w["box"] else None

        w = wait(f"{tid!r} to tap", settled, within=within, sup=self.sup)
        left, top, width, height = w["box"]
        # A finger can only touch what is on the panel.
        assert left >= 0 and top >= 0, (tid, w["box"])
        assert left + width <= SIZE[0] and top + height <= SIZE[1], (tid, w["box"])
        x, y = left + width // 2, top + height // 2
        subprocess.run(
            ["xdotool", "mousemove", str(x), str(y), "click", "1"],
            env={**os.environ, "DISPLAY": self.display}, check=True, timeout=10,
        )  # fmt: skip

    def typed(self) -> int:
        """How many characters of the ID number are on the check-in screen (the
        number appears with the first digit drawn)."""
        w = self.widget("checkin.number")
        return len((w["text"] or "").replace("\n", "").replace(" ", "")) if w else 0

    def shot(self, name: str) -> None:
        time.sleep(0.15)  # the frame after the change
        path = SHOTS / f"kiosk-{len(self.shots) + 1:02d}-{name}.png"
        assert screenshot(self.display, path) == SIZE
        self.shots.append(path.name)


def visit(k: Kiosk) -> dict[str, str]:
    """An elder's visit, by touch: ID on the keypad, blood pressure, then glucose
    (having eaten), then the summary of both."""
    seen: dict[str, str] = {}
    k.screen("attract", within=60)
    k.shot("attract")
    k.tap("attract.start")
    k.screen("checkin")
    for i, ch in enumerate(ID_NUMBER, start=1):
        k.tap(f"key.{ch}")
        wait(f"{i} characters typed", lambda i=i: k.typed() == i, within=10, sup=k.sup)  # type: ignore[misc]
    k.shot("checkin-typed")
    k.tap("btn.ok")
    k.screen("confirm")
    seen["confirm.id"] = k.text("confirm.id")
    k.shot("confirm")
    k.tap("confirm.yes")
    k.screen("choose")
    k.shot("choose")
    k.tap("btn.both")
    k.screen("prep_bp")
    k.shot("prep_bp")
    k.tap("btn.start_bp", within=30)
    k.screen("measure_bp", within=30)
    k.shot("measure_bp")
    k.wait_for("result.value", within=90)
    k.screen("result")
    for tid in ("result.value", "result.category", "result.urgent"):
        seen[f"bp:{tid}"] = k.text(tid)
    k.shot("result-bp")
    # The urgent result called staff; where its row has no room for "staff here" beside
    # "measure glucose too" (800x480), the staff come first, then glucose is offered.
    k.wait_for("btn.staff_here")
    if k.widget("btn.next") is None:
        k.tap("btn.staff_here")
        k.wait_for("btn.next")
    k.tap("btn.next")
    k.screen("glucose_meal")
    k.shot("glucose_meal")
    k.tap("btn.meal.after_meal")
    k.screen("prep_glucose")
    k.shot("prep_glucose")
    k.tap("btn.glucose_ready")
    k.wait_for("result.value", text=GLUCOSE, within=60)
    for tid in ("result.value", "result.category"):
        seen[f"glucose:{tid}"] = k.text(tid)
    k.shot("result-glucose")
    k.tap("btn.summary")  # two results: the visit ends on both
    k.screen("summary")
    k.wait_for("summary.1.value")
    for i in (0, 1):
        for part in ("value", "category", "urgent", "advice"):
            w = k.widget(f"summary.{i}.{part}")
            if w is not None:
                seen[f"summary.{i}.{part}"] = str(w["text"])
        seen[f"summary.{i}.top"] = str(k.wait_for(f"summary.{i}.value")["box"][1])
    k.shot("summary")
    k.tap("btn.finish")
    k.screen("done")
    k.shot("done")
    k.screen("attract", within=30)
    return seen


def kiosk_words(key: str) -> str:
    """What the kiosk shows for ``key`` in Chinese (its default language)."""
    from kiosk.app.i18n import text

    return text("zh_CN", key)


# --- what was stored ---------------------------------------------------------------


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2) as c:
            return list(c.execute(sql))
    except sqlite3.Error:
        return []


def leftovers(markers: list[str]) -> list[str]:
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmd for m in markers):
            out.append(f"{proc.name}: {cmd}")
    return out


@contextmanager
def system(tmp: Path, *, devices: str = "") -> Iterator[tuple[Supervisor, Path, str, str]]:
    """Xvfb, Mosquitto, ingest, web, kiosk-sync and the kiosk: (sup, config, display, url);
    ``devices``: more ``[devices.*]`` tables for the kiosk."""
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (./scripts/test installs it)")
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker_port, web_port = free_port(), free_port()
    cfg = write_config(tmp, broker_port, web_port, devices=devices)
    (tmp / "mosquitto.conf").write_text(
        f"listener {broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "log_dest stderr\nlog_type error\nlog_type warning\n",
        encoding="utf-8",
    )
    added = subprocess.run(
        hk(cfg, "followup", "user", "add", "dr.e2e", "--role", "doctor",
           "--display-name", "Dr End-to-end", "--password-stdin"),
        input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT, check=False, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    logs = tmp / "logs"
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": pythonpath}
    env.pop("HEALTHKIOSK_CONFIG", None)
    kivy_home = tmp / "kivy"
    kivy_home.mkdir()
    kiosk_env = {
        **env,
        "KIVY_HOME": str(kivy_home),
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_FILELOG": "1",
        "SDL_AUDIODRIVER": "dummy",
        "HEALTHKIOSK_KIOSK_PROBE": str(tmp / "probe.json"),
    }
    with Supervisor() as sup:
        # Xvfb picks a free display number itself and writes it to its stdout (the log).
        xvfb = sup.start(Child("xvfb", ["Xvfb", "-displayfd", "1", "-screen", "0",
                                        f"{SIZE[0]}x{SIZE[1]}x24", "-nolisten", "tcp"],
                               logs / "xvfb.log"))  # fmt: skip
        sup.start(Child("broker", [mosquitto, "-c", str(tmp / "mosquitto.conf")],
                        logs / "broker.log"))  # fmt: skip
        sup.start(Child("ingest", hk(cfg, "followup", "ingest"), logs / "ingest.log", env))
        sup.start(Child("web", hk(cfg, "followup", "serve"), logs / "web.log", env))
        sup.start(Child("kiosk-sync", hk(cfg, "sync", "run"), logs / "sync.log", env))
        n = wait("Xvfb's display number", lambda: _display_number(xvfb.log_path), within=10,
                 sup=sup)  # fmt: skip
        display = f":{n}"
        wait("Xvfb", lambda: Path(f"/tmp/.X11-unix/X{n}").exists(), within=10, sup=sup)
        kiosk_env["DISPLAY"] = display
        sup.start(Child("kiosk", hk(cfg, "run", "--simulate", "--window"),
                        logs / "kiosk.log", kiosk_env))  # fmt: skip
        url = f"http://127.0.0.1:{web_port}"

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
            yield sup, cfg, display, url
        finally:
            for child in sup.children:  # a failure shows what each part said
                if child.log_path.exists():
                    shutil.copy(child.log_path, SHOTS / f"log-{child.name}.txt")


def test_a_visit_by_touch_reaches_the_doctors_list_and_a_review_clears_it(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*"):
        old.unlink()
    t0 = time.monotonic()
    kiosk_db = tmp_path / "station" / "kiosk.sqlite"
    followup_db = tmp_path / "followup.sqlite"
    with system(tmp_path) as (sup, _cfg, display, url):
        pids = [c.proc.pid for c in sup.children if c.proc is not None]
        t_up = time.monotonic() - t0
        k = Kiosk(tmp_path / "probe.json", display, sup)
        seen = visit(k)
        t_visit = time.monotonic() - t0 - t_up

        # The kiosk showed the reading, classified, and the ID number masked.
        assert seen["confirm.id"].startswith("110") and "002X" in seen["confirm.id"]  # + birth year
        assert "*" * 11 in seen["confirm.id"]
        assert seen["bp:result.value"] == f"{SYSTOLIC}/{DIASTOLIC}"
        assert seen["bp:result.category"] == kiosk_words("cat.bp.grade_3")
        assert seen["bp:result.urgent"] == kiosk_words("advice.bp.urgent")
        assert seen["glucose:result.value"] == GLUCOSE
        assert seen["glucose:result.category"] == kiosk_words("cat.glucose.normal")
        # The visit ended on a screen with both results, the urgent blood pressure first
        # (above), with the urgent instruction alone; then the normal glucose.
        assert seen["summary.0.value"] == f"{SYSTOLIC}/{DIASTOLIC} mmHg"
        assert seen["summary.0.category"] == kiosk_words("cat.bp.grade_3")
        assert seen["summary.0.urgent"] == kiosk_words("advice.bp.urgent")
        assert seen["summary.1.value"] == f"{GLUCOSE} mmol/L"
        assert seen["summary.1.category"] == kiosk_words("cat.glucose.normal")
        assert seen["summary.1.advice"] == kiosk_words("advice.glucose.normal")
        assert int(seen["summary.0.top"]) < int(seen["summary.1.top"])

        # The kiosk's store holds both readings, classified as shown.
        # The devices were the BLE drivers' emulated peripherals (BPS-EMU-1, its model),
        # and the monitor's two measurements were averaged into one reading.
        # The station's clock is not trusted: both are marked so.
        rows = query(kiosk_db, "SELECT kind, systolic_mmhg, diastolic_mmhg, glucose_mmol_per_l,"
                               " category, urgent, device_model, json_array_length(measurements),"
                               " clock_synced FROM readings ORDER BY kind")  # fmt: skip
        assert rows == [
            ("blood_pressure", SYSTOLIC, DIASTOLIC, None, "grade_3", 1, "BPS-EMU-1", 2, 0),
            ("glucose", None, None, 6.4, "normal", 0, "GLS-EMU-1", None, 0),
        ], rows
        kiosk_categories = {r[0]: r[4] for r in rows}

        # kiosk-sync delivered both and got the receipts: nothing left in the outbox.
        def delivered() -> list[tuple[Any, ...]] | None:
            out = query(kiosk_db, "SELECT delivered_at, rejected_at FROM outbox")
            ok = len(out) == 2 and all(d is not None and r is None for d, r in out)
            return out if ok else None

        wait("the receipts", delivered, within=30, sup=sup)
        pending = query(kiosk_db, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
        assert pending == [(0,)]
        t_receipt = time.monotonic() - t0 - t_up - t_visit

        # The follow-up database holds the same two readings, from this station.
        stored = query(followup_db, "SELECT kind, systolic_mmhg, diastolic_mmhg,"
                       " glucose_mmol_per_l, category, urgent, station_id, resident_id"
                       " FROM readings ORDER BY kind")  # fmt: skip
        assert [r[:4] for r in stored] == [
            ("blood_pressure", SYSTOLIC, DIASTOLIC, None),
            ("glucose", None, None, 6.4),
        ], stored
        assert {r[0]: r[4] for r in stored} == kiosk_categories
        assert {r[6] for r in stored} == {STATION}
        (resident,) = {r[7] for r in stored}
        # Filed by their arrival (the station's clock was not trusted), the
        # station's own time kept beside it.
        times = query(followup_db, "SELECT clock_synced, measured_at, received_at,"
                      " station_measured_at FROM readings")  # fmt: skip
        assert [(synced, at == got) for synced, at, got, _ in times] == [(0, True)] * 2, times
        lags = [
            (datetime.fromisoformat(got) - datetime.fromisoformat(station)).total_seconds()
            for _, _, got, station in times
        ]
        # "A visit done on the kiosk appears on the doctor's list within seconds."
        assert max(lags) < 10.0, lags

        # A doctor, in headless Chromium, sees the resident on the list, reviews, and
        # the resident leaves the list.
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.goto(f"{url}/login")
                page.fill("input[name=username]", "dr.e2e")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{url}/list")
                row = page.locator(f"#section-urgent tr[data-resident='{resident}']")
                row.wait_for(timeout=30_000)
                words = row.inner_text()
                page.screenshot(path=str(SHOTS / "web-01-list.png"), full_page=True)
                heading = page.locator("#section-urgent h2").inner_text()
                assert heading.startswith("Urgent — contact today"), heading
                assert f"BP {SYSTOLIC}/{DIASTOLIC} mmHg" in words, words
                assert ">= 180 mmHg" in words or ">= 110 mmHg" in words, words  # the rule
                row.locator("a").first.click()
                page.wait_for_url(f"{url}/residents/{resident}")
                readings = {
                    tr.get_attribute("data-uuid"): tr.inner_text()
                    for tr in page.locator("#readings tbody tr").all()
                }
                assert len(readings) == 2, readings
                bp_row, glucose_row = sorted(readings.values(), key=lambda t: "glucose" in t)
                # The category the elder saw (grade_3: 很高; normal: 正常), in the
                # doctor's words, and the station's clock noted.
                for expected in (f"{SYSTOLIC}/{DIASTOLIC} mmHg, pulse {PULSE}", "grade 3",
                                 "urgent", "BPS-EMU-1", "open",
                                 "the station's clock was not synchronised"):  # fmt: skip
                    assert expected in bp_row, (expected, bp_row)
                for expected in (f"glucose {GLUCOSE} mmol/L (after a meal)", "normal", "GLS-EMU-1"):
                    assert expected in glucose_row, (expected, glucose_row)
                assert "urgent" not in glucose_row
                page.screenshot(path=str(SHOTS / "web-02-resident.png"), full_page=True)
                page.check("input[name=outcome][value=agreed_to_visit]")
                page.fill("textarea[name=note]", "End-to-end: called, will come to the clinic")
                page.click("#review button[type=submit]")
                page.wait_for_url(f"{url}/list")
                assert "Review saved" in page.locator(".flash").inner_text()
                assert page.locator(f"tr[data-resident='{resident}']").count() == 0
                counts = page.locator("#counts").inner_text()
                assert "Urgent — contact today: 0" in counts, counts
                assert "Abnormal — review: 0" in counts, counts
                page.screenshot(path=str(SHOTS / "web-03-list-after-review.png"), full_page=True)
                assert errors == []
            finally:
                browser.close()
        reviewed = query(followup_db, "SELECT count(*) FROM readings WHERE reviewed_at IS NULL")
        assert reviewed == [(0,)]
        t_total = time.monotonic() - t0
    time.sleep(0.5)
    assert leftovers([str(tmp_path)]) == []
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    assert not Path(f"/tmp/.X11-unix/X{display[1:]}").exists()
    print(f"\nup {t_up:.1f} s, visit {t_visit:.1f} s, receipts +{t_receipt:.1f} s, "
          f"total {t_total:.1f} s; measured->followup DB {max(lags):.2f} s at most; "
          f"{len(k.shots)} kiosk screenshots")  # fmt: skip
