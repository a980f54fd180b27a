"""Weight, blood oxygen and temperature through the whole system, each part a
real process (the pattern of test_end_to_end.py, whose helpers this uses).

A visit by touch on the real Kivy app under Xvfb (real X pointer clicks),
with the real BLE drivers of the weight scale, the pulse oximeter and the
thermometer against their emulated twins (in-process GATT peripherals
speaking the Weight Scale, Pulse Oximeter and Health Thermometer services):
weight with the scale's height (BMI 25.1, overweight), an SpO2 of 88 %
(urgent), a normal temperature, each reached from the result before it by
"Next", ending on the summary with the urgent SpO2 first → the kiosk's store →
kiosk-sync → Mosquitto → the ingest → the follow-up web app, where a doctor in
headless Chromium finds the resident in the urgent section for the SpO2, and
the three readings on the resident's page.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.xshot import screenshot
from tests.system.test_end_to_end import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ID_NUMBER,
    PASSWORD,
    ROOT,
    SIZE,
    STATION,
    Kiosk,
    kiosk_words,
    query,
    system,
    wait,
)

pytestmark = [pytest.mark.gui, pytest.mark.browser]

SHOTS = ROOT / "artifacts" / "screenshots" / "system-vitals"
WEIGHT_KG, HEIGHT_M, BMI = "68.4", "1.65", "25.1"  # 68.4 / 1.65² = 25.12: overweight
SPO2, SPO2_PULSE = 88, 104  # below 90 %: urgent
CELSIUS = "36.6"  # normal
DEVICES = f"""
[devices.weight]
driver = "ble-weight-standard"
[devices.weight.options.emulator]
weight_kg = {WEIGHT_KG}
height_m = {HEIGHT_M}

[devices.pulse_oximeter]
driver = "ble-plx-standard"
[devices.pulse_oximeter.options.emulator]
spo2 = {SPO2}
pulse = {SPO2_PULSE}

[devices.thermometer]
driver = "ble-thermometer-standard"
[devices.thermometer.options.emulator]
celsius = {CELSIUS}
"""


class VitalsKiosk(Kiosk):
    def shot(self, name: str) -> None:
        time.sleep(0.15)
        path = SHOTS / f"kiosk-{len(self.shots) + 1:02d}-{name}.png"
        assert screenshot(self.display, path) == SIZE
        self.shots.append(path.name)


def visit(k: Kiosk) -> dict[str, str]:
    """Check in by the keypad, weight, then "Next" to blood oxygen and temperature."""
    seen: dict[str, str] = {}
    k.screen("attract", within=60)
    k.tap("attract.start")
    k.screen("checkin")
    for i, ch in enumerate(ID_NUMBER, start=1):
        k.tap(f"key.{ch}")
        wait(f"{i} characters typed", lambda i=i: k.typed() == i, within=10, sup=k.sup)  # type: ignore[misc]
    k.tap("btn.ok")
    k.screen("confirm")
    k.tap("confirm.yes")
    k.screen("choose")
    k.shot("choose")
    k.tap("btn.weight")
    k.screen("measure_weight")
    k.shot("measure_weight")
    for kind, value in (("weight", WEIGHT_KG), ("spo2", str(SPO2)), ("temperature", CELSIUS)):
        k.wait_for("result.value", text=value, within=90)
        k.screen("result")
        for tid in ("result.value", "result.unit", "result.category"):
            seen[f"{kind}:{tid}"] = k.text(tid)
        # an urgent result carries the instruction only, no explanation (issue 16)
        for tid in ("result.explanation", "result.urgent", "result.advice", "result.line.0"):
            w = k.widget(tid)
            if w is not None:
                seen[f"{kind}:{tid}"] = str(w["text"])
        k.shot(f"result-{kind}")
        if kind != "temperature":
            k.tap("btn.next")
            k.wait_for("btn.cancel", within=20)  # the next measuring screen
            k.shot(f"measure-after-{kind}")
    k.tap("btn.summary")
    k.screen("summary")
    k.wait_for("summary.0.value")
    for page in range(3):  # three results may take two pages on a 7" panel
        for i in range(3):
            for part in ("value", "category", "urgent", "advice"):
                w = k.widget(f"summary.{i}.{part}")
                if w is not None:
                    seen[f"summary.{i}.{part}"] = str(w["text"])
        k.shot(f"summary-{page + 1}")
        if "summary.2.value" in seen or k.widget("btn.more") is None:
            break
        shown = max(i for i in range(3) if f"summary.{i}.value" in seen)
        k.tap("btn.more")
        k.wait_for(f"summary.{shown + 1}.value")  # the next page (the reminders take room)
    k.tap("btn.finish")
    k.screen("done")
    k.screen("attract", within=30)
    return seen


def test_weight_spo2_and_temperature_by_touch_reach_the_doctors_list(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    (ROOT / "artifacts" / "screenshots" / "system").mkdir(parents=True, exist_ok=True)  # logs
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*"):
        old.unlink()
    kiosk_db = tmp_path / "station" / "kiosk.sqlite"
    followup_db = tmp_path / "followup.sqlite"
    with system(tmp_path, devices=DEVICES) as (sup, _cfg, display, url):
        k = VitalsKiosk(tmp_path / "probe.json", display, sup)
        seen = visit(k)

        # What the elder saw, in Chinese (the kiosk's language).
        assert seen["weight:result.value"] == WEIGHT_KG
        assert seen["weight:result.unit"] == kiosk_words("result.weight_unit")
        assert seen["weight:result.category"] == kiosk_words("cat.weight.overweight")  # 超重
        assert seen["weight:result.explanation"] == f"体重指数 {BMI}：达到 24.0 或以上。"
        assert seen["weight:result.line.0"] == "身高 165 厘米"
        assert seen["spo2:result.value"] == str(SPO2)
        assert seen["spo2:result.category"] == kiosk_words("cat.spo2.very_low")
        assert seen["spo2:result.urgent"] == kiosk_words("advice.spo2.urgent")
        assert seen["spo2:result.line.0"] == kiosk_words("result.pulse").format(pulse=SPO2_PULSE)
        assert seen["temperature:result.value"] == CELSIUS
        assert seen["temperature:result.category"] == kiosk_words("cat.temperature.normal")
        # The summary: the urgent SpO2 first, then the others as measured.
        assert seen["summary.0.value"] == f"{SPO2} %"
        assert seen["summary.0.urgent"] == kiosk_words("advice.spo2.urgent")
        assert seen["summary.1.value"] == f"{WEIGHT_KG} {kiosk_words('result.weight_unit')}"
        assert seen["summary.2.value"] == f"{CELSIUS} °C"

        # The kiosk's store: the three readings from the emulated devices, classified.
        rows = query(kiosk_db, "SELECT kind, weight_kg, height_m, height_source, bmi,"
                               " spo2_percent, pulse_bpm, temperature_c, category, urgent"
                               " FROM readings ORDER BY station_seq")  # fmt: skip
        assert rows == [
            ("weight", 68.4, 1.65, "scale", 25.1, None, None, None, "overweight", 0),
            ("spo2", None, None, None, None, SPO2, SPO2_PULSE, None, "very_low", 1),
            ("temperature", None, None, None, None, None, None, 36.6, "normal", 0),
        ], rows
        models = query(kiosk_db, "SELECT device_model FROM readings ORDER BY station_seq")

        def delivered() -> list[tuple[Any, ...]] | None:
            out = query(kiosk_db, "SELECT delivered_at, rejected_at FROM outbox")
            ok = len(out) == 3 and all(d is not None and r is None for d, r in out)
            return out if ok else None

        wait("the receipts", delivered, within=30, sup=sup)
        stored = query(followup_db, "SELECT kind, weight_kg, bmi, spo2_percent, pulse_bpm,"
                       " temperature_c, category, server_category, server_urgent, resident_id,"
                       " station_id FROM readings ORDER BY station_seq")  # fmt: skip
        assert [r[:9] for r in stored] == [
            ("weight", 68.4, 25.1, None, None, None, "overweight", "overweight", 0),
            ("spo2", None, None, SPO2, SPO2_PULSE, None, "very_low", "very_low", 1),
            ("temperature", None, None, None, None, 36.6, "normal", "normal", 0),
        ], stored
        assert {r[10] for r in stored} == {STATION}
        (resident,) = {r[9] for r in stored}

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{url}/login")
                page.fill("input[name=username]", "dr.e2e")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{url}/list")
                row = page.locator(f"#section-urgent tr[data-resident='{resident}']")
                row.wait_for(timeout=30_000)
                words = row.inner_text()
                page.screenshot(path=str(SHOTS / "web-01-list.png"), full_page=True)
                assert f"SpO2 {SPO2} %, pulse {SPO2_PULSE}" in words, words
                assert "SpO2 < 90 %" in words, words  # the rule
                row.locator("a").first.click()
                page.wait_for_url(f"{url}/residents/{resident}")
                readings = [tr.inner_text() for tr in page.locator("#readings tbody tr").all()]
                page.screenshot(path=str(SHOTS / "web-02-resident.png"), full_page=True)
                assert len(readings) == 3, readings
                text = "\n".join(readings)
                for expected in (f"weight {WEIGHT_KG} kg, BMI {BMI} (height 165 cm)",
                                 "超重 overweight", f"SpO2 {SPO2} %, pulse {SPO2_PULSE}",
                                 "血氧很低 very low", f"temperature {CELSIUS} °C",
                                 "体温正常 normal"):  # fmt: skip
                    assert expected in text, (expected, text)
                for model in models:
                    assert model[0] in text
                assert errors == []
            finally:
                browser.close()
