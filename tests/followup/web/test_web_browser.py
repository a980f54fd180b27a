"""Headless Chromium (Debian's) against the real server (uvicorn) and a real SQLite file.

Screenshots of every page go to ``artifacts/screenshots/web/`` (kept by CI).
The urgent-reading test runs the whole path: a Mosquitto of our own (generated
configuration and ACL), the real ingest (``healthkiosk followup ingest`` as a
process) on the web app's database, a reading published over MQTT as a station.
"""

from __future__ import annotations

import json
import threading
import time
import uuid as uuidlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.alerts.publish import make_publisher
from followup.alerts.urgent import ALERT_TOPIC
from followup.db.alerts import Alert
from followup.db.models import Reading
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.config import MqttConfig
from healthkiosk.rules import load_rules
from sync.schema import (
    GlucoseValues,
    ReadingMessage,
    WireClassification,
    WireDevice,
    WireResident,
    encode,
)
from tests.support.browser import ARGS, CHROMIUM, Console, free_port, login, shot
from tests.support.synckit import (
    GATEWAY,
    Mosquitto,
    Notify,
    followup_section,
    id_number,
    running,
    spawn,
    stop,
    write_config,
)
from tests.support.web import PASSWORD, World

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def followup_url(tmp_path: Path) -> str:
    """The browser tests run on SQLite only; the same pages and queries run on both
    databases in test_web_app.py and test_web_security.py (``world``)."""
    return f"sqlite:///{tmp_path / 'followup.sqlite'}"


@pytest.fixture
def server(world: World) -> Iterator[str]:
    settings = WebSettings(secret_key="s" * 64, poll_interval_s=2.0, refresh_interval_s=1.0)
    yield from _serve(create_app(world.engine, load_rules(), settings))


def _serve(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free port, in a thread, until the test ends."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        t.join(timeout=15)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def test_login_list_resident_review_and_list_without_it(
    server: str, browser: Any, world: World
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console = Console(page)
    page.goto(f"{server}/list")
    assert page.url.startswith(f"{server}/login")
    shot(page, "01-login")
    page.fill("input[name=username]", "dr.wang")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text().startswith("Wrong username")
    # the refused login answers 401, which Chromium logs: expected, and the only one
    assert [e for e in console.errors if "401" in e] == console.errors
    assert len(console.errors) == 1
    console.errors.clear()
    page.fill("input[name=username]", "dr.wang")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/list")
    urgent_row = page.locator(f"#section-urgent tr[data-resident='{world.urgent_id}']")
    urgent_row.wait_for(timeout=20_000)
    assert "BP 186/104 mmHg" in urgent_row.inner_text()
    shot(page, "02-list")
    page.goto(f"{server}/list?status=abnormal&station=st-002")
    shot(page, "03-list-filtered")
    page.goto(f"{server}/list/print")
    shot(page, "04-list-print")
    page.goto(f"{server}/list")
    urgent_row.locator("a[href^='/residents/']").click()
    page.wait_for_url(f"{server}/residents/{world.urgent_id}")
    assert page.locator("#identity").is_visible()
    assert page.locator("svg.chart").count() == 1
    shot(page, "05-resident")
    page.click("#identity button")
    assert "revealed" in page.locator("#identity").inner_text()
    shot(page, "06-resident-revealed")
    page.check("input[name=outcome][value=agreed_to_visit]")
    page.fill("textarea[name=note]", "Called: will come to the clinic tomorrow")
    page.click("#review button[type=submit]")
    page.wait_for_url(f"{server}/list")
    assert "Review saved for Zhang Wei" in page.locator(".flash").inner_text()
    assert page.locator(f"tr[data-resident='{world.urgent_id}']").count() == 0
    shot(page, "07-list-after-review")
    page.goto(f"{server}/residents/{world.urgent_id}")
    assert "will come to the clinic tomorrow" in page.locator("#history").inner_text()
    shot(page, "08-resident-history")
    page.goto(f"{server}/residents/{world.abnormal_id}")
    shot(page, "09-resident-glucose")
    # an administrator's pages, in a fresh context
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = ctx.new_page()
    admin_console = Console(admin)
    login(admin, server, "admin")
    admin.wait_for_url(f"{server}/admin")
    shot(admin, "10-admin-accounts")
    admin.goto(f"{server}/admin/audit")
    assert "review" in admin.locator("table").inner_text()
    shot(admin, "11-admin-audit")
    admin.goto(f"{server}/list")
    assert "403" in admin.locator("h1").inner_text()
    shot(admin, "12-admin-refused-list")
    ctx.close()
    # the refused page answers 403, which Chromium logs: expected, and the only one
    assert len(admin_console.errors) == 1 and "403" in admin_console.errors[0]
    assert console.errors == []


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto of our own (generated config with ACL, free port), station st-002."""
    b = Mosquitto(tmp_path / "broker", ["st-002"])
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def ingest(broker: Mosquitto, world: World, tmp_path: Path) -> Iterator[None]:
    """The real ingest, ``healthkiosk followup ingest`` as a process, on the web's database."""
    config = write_config(
        tmp_path / "followup.toml",
        {
            "station": {"id": "followup-host", "data_dir": str(tmp_path / "followup-data")},
            "followup": followup_section(
                broker, world.engine.url.render_as_string(hide_password=False)
            ),
            "logging": {"level": "WARNING"},
        },
    )
    notify = Notify(Path("/tmp"))
    log = tmp_path / "ingest.log"
    try:
        with running(spawn(config, "followup", "ingest", notify=notify, log=log)) as proc:
            assert notify.wait_for("STATUS=connected", 20), log.read_text()
            yield
            assert proc.poll() is None, log.read_text()
            assert stop(proc) == 0
    finally:
        notify.close()


@pytest.fixture
def alert_server(world: World, broker: Mosquitto, ingest: None) -> Iterator[str]:
    """The web app as served, publishing its alerts with its own broker account."""
    publish = make_publisher(
        MqttConfig(
            host="127.0.0.1",
            port=broker.port,
            username="followup-web",
            password_file=broker.password_file("followup-web"),
        ),
        client_id="followup-web",
    )
    settings = WebSettings(secret_key="s" * 64, poll_interval_s=2.0, refresh_interval_s=1.0)
    yield from _serve(create_app(world.engine, load_rules(), settings, publish=publish))


def _mqtt_client(broker: Mosquitto, user: str, client_id: str) -> Any:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, broker.password(user))
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    return c


def _urgent_reading(station: str) -> ReadingMessage:
    now = datetime.now(UTC)
    return ReadingMessage(
        uuid=uuidlib.uuid4(),
        station_id=station,
        station_seq=1,
        resident=WireResident(
            id_number=id_number(7), name="Wang Lei", sex="male", birth_date=date(1947, 8, 8)
        ),
        kind="glucose",
        measured_at=now - timedelta(seconds=5),
        device_time=now - timedelta(seconds=6),
        values=GlucoseValues(mmol_per_l=17.5, meal_context="random"),
        device=WireDevice(model="Sinocare GA-3", transport="emulated"),
        classification=WireClassification(
            category="very_high", urgent=True, rule="glucose.random.very_high"
        ),
        software_version="test",
    )


def test_urgent_reading_published_over_mqtt_is_on_the_open_list_within_60_s(
    alert_server: str, browser: Any, world: World, broker: Mosquitto
) -> None:
    server = alert_server
    alerts: list[dict[str, Any]] = []
    sub = _mqtt_client(broker, GATEWAY, GATEWAY)  # an SMS gateway: alerts, nothing else
    sub.on_message = lambda _c, _u, m: alerts.append(json.loads(m.payload))
    granted: list[Any] = []
    sub.on_subscribe = lambda _c, _u, _mid, codes, _p: granted.extend(codes)
    sub.subscribe(ALERT_TOPIC, qos=1)
    kiosk = _mqtt_client(broker, "st-002", "st-002")
    try:
        deadline = time.monotonic() + 10
        while not granted and time.monotonic() < deadline:
            time.sleep(0.02)
        assert granted and not granted[0].is_failure, granted  # the gateway may read alerts
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console = Console(page)
        login(page, server, "dr.wang")
        page.wait_for_url(f"{server}/list")
        page.locator(f"#section-urgent tr[data-resident='{world.urgent_id}']").wait_for(
            timeout=20_000
        )
        page.evaluate("window.__notReloaded = true")
        msg = _urgent_reading("st-002")
        t0 = time.monotonic()
        info = kiosk.publish("hk/v1/st/st-002/readings", encode(msg), qos=1)
        info.wait_for_publish(10)

        def resident_id() -> int | None:
            # found by its reading, whatever id the ingest gave the new resident
            # (a short session each time: on SQLite every session takes the write lock)
            with Session(world.engine) as s:
                return s.scalar(select(Reading.resident_id).where(Reading.uuid == str(msg.uuid)))

        while (rid := resident_id()) is None and time.monotonic() - t0 < 60:
            time.sleep(0.2)
        assert rid is not None, "the ingest did not store the reading"
        page.wait_for_function(  # the longest waiting is at the top: the new one is below
            "id => document.querySelector(`#section-urgent tbody tr[data-resident='${id}']`)"
            " !== null",
            arg=str(rid),
            timeout=max(1_000, int((60 - (time.monotonic() - t0)) * 1000)),
        )
        elapsed = time.monotonic() - t0
        assert elapsed < 60
        assert page.evaluate("window.__notReloaded") is True
        row = page.locator(f"#section-urgent tbody tr[data-resident='{rid}']")
        assert "Wang Lei" in row.inner_text()
        assert "glucose 17.5 mmol/L" in row.inner_text()
        assert "waiting" in row.inner_text()
        shot(page, "13-list-urgent-arrived")
        print(f"urgent reading published over MQTT on the open list after {elapsed:.1f} s")
        # the alert went out on the alert topic, naming no one
        while not any(a["reading_uuid"] == str(msg.uuid) for a in alerts):
            assert time.monotonic() - t0 < 60, alerts
            time.sleep(0.1)
        alert = next(a for a in alerts if a["reading_uuid"] == str(msg.uuid))
        assert alert["schema"] == "hk.alert/1" and alert["resident_id"] == rid
        assert alert["summary"] == "glucose 17.5 mmol/L (random)"
        assert "Wang" not in json.dumps(alert, ensure_ascii=False)
        # the doctor acknowledges from the list: the time from reading to it is recorded
        row.locator("form[action$='/ack'] button").click()
        page.wait_for_url(f"{server}/list")
        acked = page.locator(f"#section-urgent tr[data-resident='{rid}']")
        assert "acknowledged after" in acked.inner_text()
        shot(page, "14-list-urgent-acknowledged")
        with Session(world.engine) as s:
            a = s.get(Alert, str(msg.uuid))
            assert a is not None and a.mqtt_published_at is not None
            assert a.acknowledged_by == world.doctor_id
            took = a.seconds_to_acknowledge
            assert took is not None and 5 <= took < 5 + time.monotonic() - t0 + 2
        page.goto(f"{server}/residents/{rid}")
        assert "Time to acknowledge" in page.locator("body").inner_text()
        shot(page, "15-resident-urgent-alert")
        assert console.errors == []
    finally:
        for c in (sub, kiosk):
            c.loop_stop()
            c.disconnect()
