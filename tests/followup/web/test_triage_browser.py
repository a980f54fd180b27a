"""The morning's pages in Debian's Chromium, in Chinese: my list, a no-answer call, the
dashboard, a figure's residents, a resident with the chart's legend; no console errors.
Screenshots to ``artifacts/screenshots/web/`` (kept by CI)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from tests.support.browser import ARGS, CHROMIUM, Console, free_port, shot
from tests.support.dashboard_data import NOW, PASSWORD, District, build

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, District]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'f.sqlite'}")
    with Session(engine) as s:
        d = build(s)
        s.commit()
    settings = WebSettings(secret_key="s" * 64, poll_interval_s=60.0, refresh_interval_s=0.5)
    app = create_app(engine, load_rules(), settings, clock=lambda: NOW)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", d
    finally:
        srv.should_exit = True
        t.join(timeout=15)
        engine.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def test_my_list_no_answer_dashboard_and_a_resident_in_chinese(
    site: tuple[str, District], browser: Any
) -> None:
    base, d = site
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    console = Console(page)
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "dr.a")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/list")
    row = page.locator(f"#section-urgent tr[data-resident='{d.ids['h2']}']")
    row.wait_for(timeout=20_000)  # the refresher's first pass
    assert "我的居民" in page.locator("#scope").inner_text()
    shot(page, "31-triage-my-list")
    row.locator("button.no-answer").click()
    page.wait_for_url(f"{base}/list")
    row = page.locator(f"#section-urgent tr[data-resident='{d.ids['h2']}']")
    assert "未接通 1 次" in row.locator("td.attempts").inner_text()
    shot(page, "32-triage-no-answer")
    page.goto(f"{base}/list/print")
    assert "已接通：同意来诊" in page.content()
    shot(page, "33-triage-call-sheet")
    page.goto(f"{base}/dashboard")
    assert page.locator("[data-rate=bp_controlled]").inner_text() == "38.5%"
    assert page.locator("svg.chart").count() == 3
    shot(page, "34-dashboard")
    page.locator("a[data-figure=bp_uncontrolled]").click()
    page.wait_for_url(f"{base}/dashboard/residents*")
    assert page.locator("#figure-residents tr[data-resident]").count() == 5
    shot(page, "35-dashboard-figure")
    page.goto(f"{base}/residents/{d.ids['h9']}")
    assert "收缩压" in page.locator("#bp-legend").inner_text()
    shot(page, "36-resident-legend")
    assert console.errors == []
