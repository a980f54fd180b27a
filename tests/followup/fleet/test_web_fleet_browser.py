"""The fleet page in headless Chromium, with a real Mosquitto, the real ingest process
and a station stand-in that answers commands over MQTT.

An administrator signs in, sees the two stations needing a visit first among
sixty quiet ones, pages through, filters (alerts only, one group) and searches
without JavaScript doing any of it, opens one station, sends "Force a re-sync"
and "Fetch recent logs", and sees each result arrive (station → broker →
ingest → database → the page's poll). Screenshots go to
``artifacts/screenshots/web/`` like the other browser tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.orm import Session

from followup.alerts.publish import make_publisher
from followup.fleet.reports import FleetStore
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.config import MqttConfig
from healthkiosk.errors import SyncTimeoutError
from healthkiosk.mqtt import connect
from healthkiosk.rules import load_rules
from sync.schema import Command, CommandResult, decode, encode, topic
from tests.support.browser import ARGS, CHROMIUM, Console, free_port, login, shot
from tests.support.fleet_data import add_quiet_stations, seed_fleet, seed_reports
from tests.support.reportkit import followup_config, ingest_process, station_settings
from tests.support.synckit import Mosquitto
from tests.support.web import World

pytestmark = pytest.mark.browser
ANSWER_AFTER_S = 2.0

LOG_LINES = (
    "2026-11-25 09:01:12 INFO sync: 3 readings delivered\n"
    "2026-11-25 09:02:40 INFO kiosk: visit for resident 1101**********123X ended\n"
    "2026-11-25 09:03:05 WARNING ble: Omron HEM-7361T (AA:BB:CC:00:11:22) link lost, retrying"
)


class StationStandIn:
    """Answers every ``hk.command/1`` for one station with an ``hk.command-result/1``
    (the test's stand-in for kiosk-sync, at the MQTT boundary)."""

    def __init__(self, broker: Mosquitto, station: str) -> None:
        self.broker = broker
        self.station = station
        self.received: list[Command] = []
        self.ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None

    def answer(self, cmd: Command) -> CommandResult:
        output = LOG_LINES if cmd.command == "logs" else ""
        detail = {
            "resync": "re-sync started: 0 readings waiting",
            "logs": f"last {cmd.args.get('lines')} lines",
        }.get(cmd.command, "done")
        return CommandResult(
            station_id=self.station, id=cmd.id, command=cmd.command, ok=True,
            detail=detail, output=output, at=datetime.now(UTC),
        )  # fmt: skip

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        async with connect(station_settings(self.broker, self.station)) as conn:
            await conn.subscribe([(topic(self.station, "cmd"), 1)], timeout=5)
            self.ready.set()
            while not self._stop.is_set():
                try:
                    msg = await conn.next_message(timeout=0.2)
                except SyncTimeoutError:
                    continue
                conn.ack(msg)
                cmd = decode(msg.payload)
                assert isinstance(cmd, Command)
                self.received.append(cmd)
                await asyncio.sleep(ANSWER_AFTER_S)  # a station takes a moment
                await conn.publish(
                    topic(self.station, "cmd-result"), encode(self.answer(cmd)), timeout=5
                )

    def _thread(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as err:  # reported by the test
            self.error = err
            self.ready.set()

    @contextlib.contextmanager
    def running(self) -> Iterator[StationStandIn]:
        t = threading.Thread(target=self._thread, daemon=True)
        t.start()
        assert self.ready.wait(15) and self.error is None, self.error
        try:
            yield self
        finally:
            if self._loop is not None and self._stop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)
            t.join(10)


@pytest.fixture
def followup_url(tmp_path: Path) -> str:
    """The browser tests run on SQLite only; the same pages and queries run on both
    databases in test_web_app.py and test_web_security.py (``world``)."""
    return f"sqlite:///{tmp_path / 'followup.sqlite'}"


@pytest.fixture
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def fleet_world(world: World) -> World:
    with Session(world.engine) as s, s.begin():
        seed_fleet(s, world.now)
        add_quiet_stations(s, world.now, 60)
    seed_reports(FleetStore(world.engine), world.now)
    return world


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path / "broker", ["st-001", "st-002"])
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def fleet_server(fleet_world: World, broker: Mosquitto) -> Iterator[str]:
    mqtt = MqttConfig(  # the web app's own broker account
        host="127.0.0.1",
        port=broker.port,
        username="followup-web",
        password_file=broker.password_file("followup-web"),
    )
    settings = WebSettings(secret_key="s" * 64, poll_interval_s=1.0, refresh_interval_s=1.0)
    app = create_app(
        fleet_world.engine,
        load_rules(),
        settings,
        commands=make_publisher(mqtt, client_id="followup-web"),
    )
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


def test_admin_sees_the_fleet_and_a_resync_result_arrives(
    fleet_server: str, chromium: Any, broker: Mosquitto, tmp_path: Path, followup_url: str
) -> None:
    server = fleet_server
    url = followup_url  # the world fixture's database
    station = StationStandIn(broker, "st-001")
    with (
        ingest_process(followup_config(tmp_path, broker, url), tmp_path / "ingest.log") as poll,
        station.running(),
    ):
        page = chromium.new_page(viewport={"width": 1400, "height": 900})
        console = Console(page)
        login(page, server, "admin")
        page.wait_for_url(f"{server}/admin")
        page.click("header >> text=Fleet")
        page.wait_for_url(f"{server}/admin/fleet")
        rows = page.locator("#stations tbody tr")
        assert rows.count() == 50  # 62 stations, 50 to a page, those needing a visit first
        assert rows.nth(0).get_attribute("data-station") == "st-001"
        assert rows.nth(1).get_attribute("data-station") == "st-002"
        west = page.locator("tr[data-station='st-002']").inner_text()
        assert "offline" in west and "⚠ offline for 3.0 h" in west
        east = page.locator("tr[data-station='st-001']").inner_text()
        assert "⚠ 150 readings not yet delivered" in east and "⚠ 8.0 % disk free" in east
        assert "Needing attention: 2" in page.locator("#fleet-counts").inner_text()
        assert "Disk under 10 % free: 1" in page.locator("#alert-counts").inner_text()
        shot(page, "20-fleet")
        page.click("#pager a[rel=next]")
        page.wait_for_url(f"{server}/admin/fleet?page=2")
        assert rows.count() == 12 and "Stations 51–62 of 62" in page.inner_text("#fleet-shown")
        page.select_option("#fleet-filter select[name=alert]", "any")
        page.click("#fleet-filter button")
        page.wait_for_url(f"{server}/admin/fleet?group=&version=&alert=any&q=")
        assert rows.count() == 2 and page.locator("#pager").count() == 0
        page.select_option("#fleet-filter select[name=alert]", "")
        page.select_option("#fleet-filter select[name=group]", "west")
        page.click("#fleet-filter button")
        page.wait_for_url(f"{server}/admin/fleet?group=west&version=&alert=&q=")
        assert rows.count() == 1
        shot(page, "21-fleet-group-west")
        page.click("#clear-filters")
        page.fill("#fleet-filter input[name=q]", "Q05")
        page.click("#fleet-filter button")
        page.wait_for_url(f"{server}/admin/fleet?group=&version=&alert=&q=Q05")
        assert [rows.nth(i).get_attribute("data-station") for i in range(rows.count())] == [
            f"st-q05{i}" for i in range(10)
        ]
        page.click("#clear-filters")
        page.click("tr[data-station='st-001'] a")
        page.wait_for_url(f"{server}/admin/fleet/st-001")
        assert "rolled back" in page.locator("#update-history").inner_text()
        shot(page, "22-fleet-station")
        t0 = time.monotonic()
        page.click("form[data-command='resync'] button")
        page.wait_for_url(f"{server}/admin/fleet/st-001#commands")
        assert "sent to st-001" in page.locator(".flash").inner_text()
        # first waiting; then the result arrives through the page's poll, without a reload
        assert page.locator("#command-list tr[data-state='waiting']").count() == 1
        page.evaluate("window.__notReloaded = true")
        done = page.locator("#command-list tr[data-state='succeeded']")
        done.wait_for(timeout=20_000)
        elapsed = time.monotonic() - t0
        assert "re-sync started: 0 readings waiting" in done.inner_text()
        assert page.evaluate("window.__notReloaded") is True
        assert elapsed >= ANSWER_AFTER_S
        shot(page, "23-fleet-resync-result")
        page.select_option("form[data-command='logs'] select[name=lines]", "200")
        page.click("form[data-command='logs'] button")
        page.wait_for_url(f"{server}/admin/fleet/st-001#commands")
        out = page.locator("#command-list tr[data-state='succeeded'] pre.command-output")
        out.wait_for(timeout=20_000)
        assert "1101**********123X" in out.inner_text()
        shot(page, "24-fleet-logs-result")
        assert poll() is None, "the ingest worker died"
    assert station.error is None
    assert [c.command for c in station.received] == ["resync", "logs"]
    assert station.received[1].args == {"lines": 200}
    assert console.errors == []
    print(f"resync result on the page {elapsed:.1f} s after the click")
