"""Issue 19, finding 7 on the doctor's side: a station whose technician PIN is being
guessed says so in its status, and the fleet page raises an alert for it."""

from __future__ import annotations

import html
import re
from datetime import UTC, timedelta

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from sync.schema import StatusMessage
from tests.support.fleet_data import set_status
from tests.support.web import World, login


def _status(station: str, world: World, **fields: object) -> StatusMessage:
    return StatusMessage.model_validate(
        {
            "schema": "hk.status/1",
            "station_id": station,
            "online": True,
            "boot_id": "0000000001-aa",
            "seq": 3,
            "sent_at": world.now - timedelta(seconds=10),
            "version": "0.4.0",
            "backlog": 0,
            "disk_free_percent": 60.0,
            **fields,
        }
    )


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_the_fleet_page_raises_an_alert_for_a_guessed_pin(world: World) -> None:
    until = world.now + timedelta(minutes=4)
    with Session(world.engine) as s, s.begin():
        set_status(
            s,
            "st-001",
            _status("st-001", world, tech_pin_failures=7, tech_pin_locked_until=until),
            seen=world.now,
        )
        set_status(s, "st-002", _status("st-002", world, tech_pin_failures=1), seen=world.now)
    app = create_app(
        world.engine,
        load_rules(),
        WebSettings(secret_key="p" * 64),
        run_refresher=False,
        clock=lambda: world.now,
    )
    with TestClient(app, base_url="http://testserver") as c:
        login(c, "admin")
        page = _text(c.get("/admin/fleet").text)
        # (a browser that names no language gets the Chinese page; the time is Beijing's)
        local = until.astimezone(UTC) + timedelta(hours=8)
        assert "技术员 PIN 连续输错 7 次" in page
        assert (
            f"锁定至 {local.year}年{local.month}月{local.day}日 {local:%H:%M}（北京时间）" in page
        )
        assert "连续输错 1 次" not in page  # one slip is not an alert
        only = _text(c.get("/admin/fleet", params={"alert": "tech_pin"}).text)
        assert "st-001" in only and "st-002" not in only
        station = _text(c.get("/admin/fleet/st-001").text)
        assert "技术员 PIN 连续输错 7 次" in station
