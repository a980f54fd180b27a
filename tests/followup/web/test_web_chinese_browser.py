"""The Chinese pages in Debian's headless Chromium (a zh-CN browser, the real server on
a SQLite file): sign in → the list → a resident → a review → the list without them;
what the browser shows holds no English word, the times are the readings' Beijing
times, no console error. Screenshots go to ``artifacts/screenshots/web/zh-*.png``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from tests.followup.web.test_web_browser import _serve
from tests.followup.web.test_web_chinese import ZhWorld, english_words
from tests.followup.web.test_web_chinese import zh as zh  # noqa: PLC0414 - the fixture
from tests.support.browser import ARGS, CHROMIUM, Console, shot
from tests.support.web import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def followup_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'followup.sqlite'}"


@pytest.fixture
def server(zh: ZhWorld) -> Iterator[str]:
    settings = WebSettings(secret_key="s" * 64, poll_interval_s=2.0, refresh_interval_s=1.0)
    yield from _serve(create_app(zh.world.engine, load_rules(), settings))


@pytest.fixture
def chinese_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            ctx = b.new_context(
                locale="zh-CN", timezone_id="Europe/London", viewport={"width": 1280, "height": 900}
            )  # the browser's own zone is not Beijing: the times are the server's doing
            yield ctx.new_page()
        finally:
            b.close()


def _beijing(at: Any) -> str:
    t = at.astimezone(UTC) + timedelta(hours=8)
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}（北京时间）"


def test_a_chinese_doctor_in_the_browser(server: str, chinese_page: Any, zh: ZhWorld) -> None:
    page = chinese_page
    console = Console(page)
    page.goto(f"{server}/list")
    assert page.title().startswith("登录")
    assert english_words(page.content()) == []
    shot(page, "zh-01-login")
    page.fill("input[name=username]", "dr.wang")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/list")
    row = page.locator(f"#section-urgent tr[data-resident='{zh.wang_id}']")
    row.wait_for(timeout=20_000)
    text = row.inner_text()
    assert "王建明" in text and "血压 186/104 mmHg" in text and "王医生" in text
    assert row.locator("a.tel").get_attribute("href") == "tel:13800000000"
    assert english_words(page.content()) == []
    shot(page, "zh-02-list")
    page.goto(f"{server}/list/print")
    assert english_words(page.content()) == []
    shot(page, "zh-03-print")
    page.goto(f"{server}/list")
    row.locator("a[href^='/residents/']").click()
    page.wait_for_url(f"{server}/residents/{zh.wang_id}")
    for uuid, at in zh.readings.items():
        cell = page.locator(f"tr[data-uuid='{uuid}'] td.measured")
        if cell.count():
            assert cell.inner_text() == _beijing(at)
    assert page.locator("td.measured").count() == 2
    assert english_words(page.content()) == []
    shot(page, "zh-04-resident")
    page.check("input[name=outcome][value=agreed_to_visit]")
    page.fill("textarea[name=note]", "电话联系：明天来门诊")
    page.click("#review button[type=submit]")
    page.wait_for_url(f"{server}/list")
    assert "王建明 的复核已保存" in page.locator(".flash").inner_text()
    assert page.locator(f"tr[data-resident='{zh.wang_id}']").count() == 0
    # the live update swaps the sections in: still Chinese afterwards
    page.wait_for_timeout(2500)
    assert english_words(page.content()) == []
    assert page.locator("#live").inner_text().startswith("更新于")
    shot(page, "zh-05-list-after-review")
    assert console.errors == []
