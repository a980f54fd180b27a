"""Headless Chromium (Debian's) against the real server (uvicorn) and a real SQLite file.

Screenshots of every page go to ``artifacts/screenshots/web/`` (kept by CI).
The urgent-reading test stores the reading as the ingest does (the ingest
itself is the sync branch's; once merged, publish over MQTT instead).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.db.models import Reading, Resident
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from tests.followup_web.factory import add_reading, add_resident
from tests.followup_web.webhelp import PASSWORD, World

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots" / "web"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(world: World) -> Iterator[str]:
    settings = WebSettings(secret_key="s" * 64, poll_interval_s=2.0, refresh_interval_s=1.0)
    app = create_app(world.engine, load_rules(), settings)
    port = _free_port()
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


class Console:
    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_login_list_resident_review_and_list_without_it(
    server: str, browser: Any, world: World
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console = Console(page)
    page.goto(f"{server}/list")
    assert page.url.startswith(f"{server}/login")
    _shot(page, "01-login")
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
    _shot(page, "02-list")
    page.goto(f"{server}/list?status=abnormal&station=st-002")
    _shot(page, "03-list-filtered")
    page.goto(f"{server}/list/print")
    _shot(page, "04-list-print")
    page.goto(f"{server}/list")
    urgent_row.locator("a").click()
    page.wait_for_url(f"{server}/residents/{world.urgent_id}")
    assert page.locator("#identity").is_visible()
    assert page.locator("svg.chart").count() == 1
    _shot(page, "05-resident")
    page.click("#identity button")
    assert "revealed" in page.locator("#identity").inner_text()
    _shot(page, "06-resident-revealed")
    page.check("input[name=outcome][value=agreed_to_visit]")
    page.fill("textarea[name=note]", "Called: will come to the clinic tomorrow")
    page.click("#review button[type=submit]")
    page.wait_for_url(f"{server}/list")
    assert "Review saved for Zhang Wei" in page.locator(".flash").inner_text()
    assert page.locator(f"tr[data-resident='{world.urgent_id}']").count() == 0
    _shot(page, "07-list-after-review")
    page.goto(f"{server}/residents/{world.urgent_id}")
    assert "will come to the clinic tomorrow" in page.locator("#history").inner_text()
    _shot(page, "08-resident-history")
    page.goto(f"{server}/residents/{world.abnormal_id}")
    _shot(page, "09-resident-glucose")
    # an administrator's pages, in a fresh context
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = ctx.new_page()
    admin_console = Console(admin)
    _login(admin, server, "admin")
    admin.wait_for_url(f"{server}/admin")
    _shot(admin, "10-admin-accounts")
    admin.goto(f"{server}/admin/audit")
    assert "review" in admin.locator("table").inner_text()
    _shot(admin, "11-admin-audit")
    admin.goto(f"{server}/list")
    assert "403" in admin.locator("h1").inner_text()
    _shot(admin, "12-admin-refused-list")
    ctx.close()
    # the refused page answers 403, which Chromium logs: expected, and the only one
    assert len(admin_console.errors) == 1 and "403" in admin_console.errors[0]
    assert console.errors == []


def test_urgent_reading_appears_on_the_open_list_within_60_s(
    server: str, browser: Any, world: World
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console = Console(page)
    _login(page, server, "dr.wang")
    page.wait_for_url(f"{server}/list")
    page.locator(f"#section-urgent tr[data-resident='{world.urgent_id}']").wait_for(timeout=20_000)
    page.evaluate("window.__notReloaded = true")
    # the reading arrives as the ingest stores it (measured a moment ago at the kiosk)
    t0 = time.monotonic()
    with Session(world.engine) as s, s.begin():
        res = add_resident(s, name="Wang Lei")
        now = datetime.now(UTC)
        add_reading(
            s,
            res,
            measured_at=now - timedelta(seconds=20),
            received_at=now,
            glucose=17.5,
            meal="random",
            station="st-002",
        )
        rid = res.id
    row = page.locator("#section-urgent tbody tr").first
    page.wait_for_function(
        "id => { const r = document.querySelector('#section-urgent tbody tr');"
        " return r && r.getAttribute('data-resident') === id; }",
        arg=str(rid),
        timeout=60_000,
    )
    elapsed = time.monotonic() - t0
    assert elapsed < 60
    assert page.evaluate("window.__notReloaded") is True
    assert "glucose 17.5 mmol/L" in row.inner_text()
    assert "waiting" in row.inner_text()
    _shot(page, "13-list-urgent-arrived")
    print(f"urgent reading on the open list after {elapsed:.1f} s")
    with Session(world.engine) as s:
        assert s.scalar(select(Resident.name).where(Resident.id == rid)) == "Wang Lei"
        assert s.scalar(select(Reading.urgent).where(Reading.resident_id == rid)) is True
    assert console.errors == []
