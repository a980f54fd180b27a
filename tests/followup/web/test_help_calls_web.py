"""Calls for staff on the doctor's list and the fleet page (issue 16): shown with
the station and the screen until acknowledged; acknowledging is audited and
sent to the station as ``help_ack``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.audit import AuditEvent
from followup.db.fleet import HelpCallRow, StationCommand
from followup.fleet.reports import FleetStore
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.errors import PublishRefusedError
from healthkiosk.rules import load_rules
from sync.schema import Command, HelpCall, decode
from tests.support.web import World, csrf, login

CALL = str(uuid.UUID(int=16))


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.fail: Exception | None = None

    async def __call__(self, topic: str, payload: bytes) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append((topic, payload))


@pytest.fixture
def published() -> Recorder:
    return Recorder()


@pytest.fixture
def called(world: World) -> World:
    call = HelpCall.model_validate(
        {
            "schema": "hk.help/1",
            "station_id": "st-002",
            "id": CALL,
            "reason": "staff_call",
            "screen": "error",
            "detail": "device_not_found",
            "called_at": (world.now - timedelta(minutes=3)).isoformat(),
        }
    )
    assert FleetStore(world.engine).apply(call, received_at=world.now) is True
    return world


def _client(world: World, commands: Recorder | None, user: str) -> Iterator[TestClient]:
    app = create_app(
        world.engine,
        load_rules(),
        WebSettings(secret_key="f" * 64),
        commands=commands,
        run_refresher=False,
        clock=lambda: world.now,
    )
    with TestClient(app, base_url="http://testserver", headers={"Accept-Language": "en"}) as c:
        login(c, user)
        yield c


@pytest.fixture
def doctor_c(called: World, published: Recorder) -> Iterator[TestClient]:
    yield from _client(called, published, "dr.wang")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _call_row(page: str) -> str:
    m = re.search(rf'<tr data-call="{CALL}"[^>]*>(.*?)</tr>', page, re.S)
    assert m, "the call is not on the page"
    return _text(m.group(1))


def test_a_call_shows_on_the_list_and_its_live_rows(doctor_c: TestClient) -> None:
    row = _call_row(doctor_c.get("/list").text)
    assert "West station" in row and "st-002" in row
    assert "Pressed “call staff”" in row and "an error (device not found)" in row
    assert "Acknowledge" in row
    assert _call_row(doctor_c.get("/list/rows").text) == row  # swapped in live
    zh = doctor_c.get("/help/calls", headers={"Accept-Language": "zh-CN"}).text
    assert "服务站呼叫工作人员" in zh and "出错页" in zh


def test_acknowledged_on_the_web_audited_and_sent_to_the_station(
    doctor_c: TestClient, called: World, published: Recorder
) -> None:
    token = csrf(doctor_c, "/list")
    r = doctor_c.post(f"/help/{CALL}/ack", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/list"
    ((topic, payload),) = published.sent
    cmd = decode(payload)
    assert topic == "hk/v1/st/st-002/cmd" and isinstance(cmd, Command)
    assert cmd.command == "help_ack" and cmd.args == {"call": CALL, "by": "Dr Wang"}
    with Session(called.engine) as s:
        row = s.get(HelpCallRow, CALL)
        assert row is not None and row.acknowledged_where == "web"
        assert row.acknowledged_by == "Dr Wang" and row.ack_command_id == str(cmd.id)
        sent = s.get(StationCommand, str(cmd.id))
        assert sent is not None and sent.published_at is not None
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "help_ack"))
        assert event.username == "dr.wang" and event.target == "station:st-002"
    row_text = _call_row(doctor_c.get("/list").text)
    assert "by Dr Wang (on the web)" in row_text and "not at the station yet" in row_text
    assert "Acknowledge" not in row_text
    # Twice: said so, nothing sent again.
    again = doctor_c.post(f"/help/{CALL}/ack", data={"csrf": token})
    assert "already acknowledged" in again.text and len(published.sent) == 1


def test_a_refused_publish_is_said_and_kept(
    doctor_c: TestClient, called: World, published: Recorder
) -> None:
    published.fail = PublishRefusedError(
        "not authorized", topic="hk/v1/st/st-002/cmd", reason_code=0x87
    )
    token = csrf(doctor_c, "/list")
    page = doctor_c.post(f"/help/{CALL}/ack", data={"csrf": token})
    assert "the station was not told" in page.text
    with Session(called.engine) as s:
        (cmd,) = s.scalars(select(StationCommand))
        assert cmd.published_at is None and "refused" in (cmd.publish_error or "")


def test_the_fleet_page_shows_calls_and_bad_ids_are_refused(
    called: World, published: Recorder
) -> None:
    for c in _client(called, published, "admin"):
        page = c.get("/admin/fleet").text
        assert "West station" in _call_row(page) and 'data-src="/help/calls"' in page
        token = csrf(c, "/admin/fleet")
        r = c.post(f"/help/{CALL}/ack", data={"csrf": token, "from": "fleet"},
                   follow_redirects=False)  # fmt: skip
        assert r.headers["location"] == "/admin/fleet"
        assert c.post("/help/not-a-call/ack", data={"csrf": token}).status_code == 404
        missing = str(uuid.UUID(int=99))
        assert c.post(f"/help/{missing}/ack", data={"csrf": token}).status_code == 404
        assert c.post(f"/help/{CALL}/ack", data={}).status_code == 403  # no CSRF token
