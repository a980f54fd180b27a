"""The fleet page: access, CSRF, what it shows from the database, commands and their results."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)  # fmt: skip
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.audit import AuditEvent
from followup.db.fleet import StationCommand
from followup.db.models import Station
from followup.fleet.reports import FleetStore
from followup.fleet.view import RolloutSummary
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.dbtypes import UtcDateTime
from healthkiosk.errors import PublishRefusedError
from healthkiosk.rules import load_rules
from sync.schema import CommandResult, StatusMessage, decode
from tests.support.fleet_data import add_quiet_stations, seed_fleet, seed_reports, set_status
from tests.support.web import World, csrf, login


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
def fleet(world: World) -> World:
    with Session(world.engine) as s, s.begin():
        seed_fleet(s, world.now)
    seed_reports(FleetStore(world.engine), world.now)
    return world


def _client(world: World, commands: Recorder | None, **kw: object) -> TestClient:
    app = create_app(
        world.engine,
        load_rules(),
        WebSettings(secret_key="f" * 64),
        commands=commands,
        run_refresher=False,
        clock=lambda: world.now,
        **kw,  # type: ignore[arg-type]
    )
    return TestClient(app, base_url="http://testserver", headers={"Accept-Language": "en"})


@pytest.fixture
def admin_c(fleet: World, published: Recorder) -> Iterator[TestClient]:
    with _client(fleet, published) as c:
        login(c, "admin")
        yield c


def _audit(world: World, action: str) -> list[AuditEvent]:
    with Session(world.engine) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _commands(world: World) -> list[StationCommand]:
    with Session(world.engine) as s:
        return list(s.scalars(select(StationCommand)))


def _row(page: str, station: str) -> str:
    m = re.search(rf'<tr data-station="{station}"[^>]*>(.*?)</tr>', page, re.S)
    assert m, f"no row for {station}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(1)))


def test_doctors_and_strangers_are_refused(fleet: World, published: Recorder) -> None:
    with _client(fleet, published) as c:
        r = c.get("/admin/fleet", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert c.post("/admin/fleet/st-001/commands", data={"command": "resync"}).status_code == 401
        login(c, "dr.wang")
        assert c.get("/admin/fleet").status_code == 403
        assert c.get("/admin/fleet/st-001").status_code == 403
        assert c.get("/admin/fleet/st-001/commands").status_code == 403
        token = csrf(c, "/list")
        r = c.post("/admin/fleet/st-001/commands", data={"command": "resync", "csrf": token})
        assert r.status_code == 403
    assert published.sent == [] and _commands(fleet) == []


def test_fleet_page_lists_stations_alerts_groups_and_versions(admin_c: TestClient) -> None:
    page = admin_c.get("/admin/fleet").text
    block = page.split('id="fleet-counts">')[1].split("</p>")[0]
    counts = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", block))
    assert "Stations: 2" in counts and "Online: 1" in counts and "Offline: 1" in counts
    assert "Needing attention: 2" in counts
    east = _row(page, "st-001")
    assert "● online" in east and "0.4.0" in east and "running v5" in east
    assert "last: rejected" in east and "kiosk.rest_s" in east
    assert "health: rolled back (release 7)" in east
    assert "150" in east and "8.0 %" in east and "4 min ago" in east
    assert "battery 64 %" in east and "last reading 60 min ago" in east
    assert "clock 12 min behind" in east  # the monitor's clock drift at its last connection
    assert "device memory 3" in east  # records from outside any visit, for the technician
    assert "⚠ 150 readings not yet delivered" in east and "⚠ 8.0 % disk free" in east
    west = _row(page, "st-002")
    assert "○ offline" in west and "seen 3 h ago" in west
    assert "⚠ offline for 3.0 h" in west and "glucose Sinocare GA-3: not seen since" in west
    groups = page.split('id="groups"')[1].split("</table>")[0]
    assert re.search(r'data-group="east">.*?0\.4\.0</a> × 1', groups, re.S)
    assert re.search(r'data-group="west">.*?0\.3\.9</a> × 1', groups, re.S)
    assert "No rollouts." in page
    # filter by group: the counts and rows follow, the groups table keeps every group
    west_only = admin_c.get("/admin/fleet?group=west").text
    assert 'data-station="st-002"' in west_only and 'data-station="st-001"' not in west_only
    assert "Stations: <strong>1</strong>" in west_only and 'data-group="east"' in west_only
    assert "No stations in group nowhere" in admin_c.get("/admin/fleet?group=nowhere").text


def _station_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-station="([^"]+)"', page)


def _text(page: str, element_id: str) -> str:
    block = page.split(f'id="{element_id}"')[1].split("</p>", maxsplit=1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block))


def _links(page: str, element_id: str) -> list[str]:
    block = (
        page.split(f'id="{element_id}"')[1]
        .split("</nav>", maxsplit=1)[0]
        .split("</p>", maxsplit=1)[0]
    )
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', block)]


def test_needing_attention_first_fifty_to_a_page_with_filters_and_search(
    fleet: World, admin_c: TestClient
) -> None:
    with Session(fleet.engine) as s, s.begin():
        quiet = add_quiet_stations(s, fleet.now, 60)
        s.add(Station(id="st-s-disk", group="south", online=True, last_seen=fleet.now))
        s.flush()
        set_status(
            s,
            "st-s-disk",
            StatusMessage(station_id="st-s-disk", online=True, boot_id="b", seq=1,
                          disk_free_percent=4.0),
            seen=fleet.now,
        )  # fmt: skip
    page = admin_c.get("/admin/fleet").text
    ids = _station_ids(page)
    # 63 stations: the three needing a visit first (most alert kinds first), then the rest
    assert len(ids) == 50 and ids == ["st-001", "st-002", "st-s-disk", *quiet[:47]]
    assert "Stations: 63" in _text(page, "fleet-counts")
    assert "Needing attention: 3" in _text(page, "fleet-counts")
    kinds = _text(page, "alert-counts")
    assert "Offline over 1 h: 1" in kinds and "Backlog over 100: 1" in kinds
    assert "Disk under 10 % free: 2" in kinds and "Device not seen for a day: 1" in kinds
    assert "Never reported: 0" in kinds
    versions = _text(page, "version-counts")
    assert "0.4.0 × 61" in versions and "0.3.9 × 1" in versions and "unknown × 1" in versions
    assert "Stations 1–50 of 63, those needing attention first · page 1 of 2" in page
    assert _links(page, "pager") == ["/admin/fleet?page=2", "/admin/fleet?page=2"]
    second = admin_c.get("/admin/fleet?page=2").text
    assert _station_ids(second) == quiet[-13:] and "Stations 51–63 of 63" in second
    assert _links(second, "pager") == ["/admin/fleet", "/admin/fleet"]  # previous, page 1
    # past the end: the last page; a bad page number: said, and page 1
    assert _station_ids(admin_c.get("/admin/fleet?page=40").text) == quiet[-13:]
    bad = admin_c.get("/admin/fleet?page=-1")
    assert bad.status_code == 200 and "page: not a page number" in bad.text
    assert _station_ids(bad.text) == ids
    # alerts only, one kind, one version, one group, a search; links keep the filters
    assert _station_ids(admin_c.get("/admin/fleet?alert=any").text) == ids[:3]
    assert _station_ids(admin_c.get("/admin/fleet?alert=disk").text) == ["st-001", "st-s-disk"]
    assert _station_ids(admin_c.get("/admin/fleet?version=0.3.9").text) == ["st-002"]
    assert _station_ids(admin_c.get("/admin/fleet?version=unknown").text) == ["st-s-disk"]
    north = admin_c.get("/admin/fleet?group=north&alert=").text
    assert "Stations: 60" in _text(north, "fleet-counts") and len(_station_ids(north)) == 50
    assert _links(north, "pager")[0] == "/admin/fleet?group=north&page=2"
    assert _station_ids(admin_c.get("/admin/fleet?q=Q01").text) == quiet[10:20]
    assert _station_ids(admin_c.get("/admin/fleet?q=st-00").text) == ["st-001", "st-002"]
    none = admin_c.get("/admin/fleet?q=nothing-like-it&group=north").text
    assert "No stations in group north matching “nothing-like-it”" in none
    assert "page=" not in none.split('id="stations"')[1]  # no pager
    # the counts link to their filter
    assert "/admin/fleet?alert=disk" in _links(page, "alert-counts")
    assert "/admin/fleet?version=unknown" in _links(page, "version-counts")


def test_rollouts_section_reads_from_its_source(fleet: World) -> None:
    class Source:
        def rollouts(self, session: Session) -> list[RolloutSummary]:
            return [RolloutSummary("r-7", "7 (0.4.0)", "running", "stage 1 of 3")]

    with _client(fleet, None, rollouts=Source()) as c:
        login(c, "admin")
        page = c.get("/admin/fleet").text
    assert "stage 1 of 3" in page and "No rollouts." not in page


def _rollout_tables(engine: Engine) -> tuple[Table, Table]:
    """The rollout module's two tables as its ``followup/db/rollouts.py`` documents
    them (every column, so the rows fit whether or not that module made them)."""
    md = MetaData()
    rollouts = Table(
        "rollouts", md,
        Column("id", String(40), primary_key=True), Column("release", Integer),
        Column("version", String(63)), Column("manifest_url", Text),
        Column("group", String(63)), Column("state", String(16)),
        Column("current_stage", Integer), Column("stages", JSON),
        Column("success_threshold", Float), Column("error_threshold", Float),
        Column("reason", Text), Column("created_by", String(64)),
        Column("created_at", UtcDateTime()), Column("updated_at", UtcDateTime()),
        Column("orders_cleared_at", UtcDateTime()), Column("extra", JSON),
    )  # fmt: skip
    stations = Table(
        "rollout_stations", md,
        Column("rollout_id", String(40), primary_key=True),
        Column("station_id", String(63), primary_key=True),
        Column("stage", Integer), Column("position", Integer),
        Column("ordered_at", UtcDateTime()), Column("step", String(40)),
        Column("outcome", String(16)), Column("reason", Text),
        Column("running_release", Integer), Column("reported_at", UtcDateTime()),
        Column("finished_at", UtcDateTime()),
    )  # fmt: skip
    md.create_all(engine, checkfirst=True)
    return rollouts, stations


def test_rollouts_section_reads_the_rollout_tables(fleet: World) -> None:
    with _client(fleet, None) as c:
        login(c, "admin")
        assert "No rollouts." in c.get("/admin/fleet").text  # tables not there, or empty
        rollouts, members = _rollout_tables(fleet.engine)
        at = fleet.now
        common = {
            "manifest_url": "http://followup/releases/7/manifest.json", "stages": [0.5, 0.5],
            "success_threshold": 0.95, "error_threshold": 0.1, "created_by": "admin",
            "created_at": at, "orders_cleared_at": None, "extra": {},
        }  # fmt: skip
        with fleet.engine.begin() as conn:
            conn.execute(rollouts.insert(), [
                {**common, "id": "r7-a", "release": 7, "version": "0.4.0", "group": "east",
                 "state": "running", "current_stage": 1, "reason": "", "updated_at": at},
                {**common, "id": "r6-a", "release": 6, "version": "0.3.9", "group": None,
                 "state": "stopped", "current_stage": 0,
                 "reason": "stage 1: 1 of 1 failed (error threshold 10 %)",
                 "updated_at": at - timedelta(days=3)},
            ])  # fmt: skip
            conn.execute(members.insert(), [
                {"rollout_id": rid, "station_id": sid, "stage": stage, "position": pos,
                 "ordered_at": at, "step": "", "outcome": outcome, "reason": "",
                 "running_release": None, "reported_at": None, "finished_at": None}
                for rid, sid, stage, pos, outcome in [
                    ("r7-a", "st-001", 0, 0, "succeeded"), ("r7-a", "st-002", 1, 1, None),
                    ("r6-a", "st-001", 0, 0, "rolled_back"),
                ]
            ])  # fmt: skip
        page = c.get("/admin/fleet").text
    section = page.split('id="rollouts"')[1].split("</section>")[0]
    running = _cells(section, "r7-a")
    assert running == ["r7-a", "7 (0.4.0)", "east", "running", "2 of 2", "1", "0", "1",
                       "0 s ago", ""]  # fmt: skip
    stopped = _cells(section, "r6-a")
    assert stopped[2:8] == ["all stations", "stopped", "1 of 2", "0", "1", "0"]
    assert "error threshold 10 %" in stopped[9]
    assert section.index("r7-a") < section.index("r6-a")  # active first


def _cells(html: str, rollout: str) -> list[str]:
    m = re.search(rf'<tr data-rollout="{rollout}">(.*?)</tr>', html, re.S)
    assert m, rollout
    return [
        re.sub(r"\s+", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", m.group(1), re.S)
    ]


def test_station_page_shows_status_reports_and_history(admin_c: TestClient) -> None:
    page = admin_c.get("/admin/fleet/st-001").text
    assert "Omron HEM-7361T" in page and "51.2 °C" in page and "12.5 MB" in page
    devices = page.split('id="devices"')[1].split("</table>")[0]
    assert "<th>Clock</th>" in devices and "12 min behind" in devices
    assert "<th>Device memory</th>" in devices and "3 records, last 2 h ago" in devices
    reports = page.split('id="config-reports"')[1].split("</section>")[0]
    assert reports.index("rejected") < reports.index("applied")  # newest first
    assert "greater than or equal to 30" in reports
    history = page.split('id="update-history"')[1].split("</section>")[0]
    assert history.index("rolled back") < history.index("download")
    assert "no READY within 90 s" in history
    assert "No commands sent yet." in page
    assert admin_c.get("/admin/fleet/st-999").status_code == 404
    assert admin_c.get("/admin/fleet/NOT_A_STATION").status_code == 404


def test_command_needs_csrf_then_is_recorded_audited_and_published(
    admin_c: TestClient, fleet: World, published: Recorder
) -> None:
    r = admin_c.post("/admin/fleet/st-001/commands", data={"command": "resync"})
    assert r.status_code == 403
    r = admin_c.post(
        "/admin/fleet/st-001/commands", data={"command": "resync", "csrf": "forged" * 8}
    )
    assert r.status_code == 403
    assert published.sent == [] and _commands(fleet) == []
    token = csrf(admin_c, "/admin/fleet/st-001")
    r = admin_c.post(
        "/admin/fleet/st-001/commands",
        data={"command": "logs", "lines": "200", "csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin/fleet/st-001#commands"
    [(topic, payload)] = published.sent
    assert topic == "hk/v1/st/st-001/cmd"
    cmd = decode(payload)
    assert cmd.schema_ == "hk.command/1"
    assert json.loads(payload)["args"] == {"lines": 200}
    [row] = _commands(fleet)
    assert row.id == str(cmd.id) and row.published_at == fleet.now  # type: ignore[union-attr]
    assert row.issued_by == "admin" and row.expires_at == fleet.now + timedelta(minutes=5)
    [event] = _audit(fleet, "fleet_command")
    assert event.target == "station:st-001" and event.detail["command"] == "logs"
    page = admin_c.get("/admin/fleet/st-001").text
    assert "sent to st-001" in page and 'data-state="waiting"' in page
    assert 'data-pending="1"' in page


def test_result_shown_escaped_in_a_pre(
    admin_c: TestClient, fleet: World, published: Recorder
) -> None:
    token = csrf(admin_c, "/admin/fleet/st-001")
    admin_c.post("/admin/fleet/st-001/commands", data={"command": "logs", "csrf": token})
    cmd = decode(published.sent[0][1])
    result = CommandResult(
        station_id="st-001", id=cmd.id, command="logs", ok=True, detail="50 lines",  # type: ignore[union-attr]
        output="<script>alert(1)</script>\nresident 1101**********123X", at=fleet.now,
    )  # fmt: skip
    assert FleetStore(fleet.engine).apply(result, received_at=fleet.now) is True
    fragment = admin_c.get("/admin/fleet/st-001/commands").text
    assert 'data-pending="0"' in fragment and "✔ succeeded" in fragment
    assert '<pre class="command-output" lang="en">&lt;script&gt;alert(1)&lt;/script&gt;' in fragment
    assert "<script>alert" not in fragment


def test_bad_forms_are_refused_with_a_reason(
    admin_c: TestClient, fleet: World, published: Recorder
) -> None:
    token = csrf(admin_c, "/admin/fleet/st-001")
    cases = {
        ("repair", ""): "Choose which device",
        ("launch", ""): "Unknown command",
    }
    for (command, role), message in cases.items():
        r = admin_c.post(
            "/admin/fleet/st-001/commands", data={"command": command, "role": role, "csrf": token}
        )
        assert r.status_code == 400 and message in r.text
    r = admin_c.post(
        "/admin/fleet/st-001/commands", data={"command": "logs", "lines": "9999", "csrf": token}
    )
    assert r.status_code == 400 and "log lines" in r.text
    r = admin_c.post("/admin/fleet/st-404/commands", data={"command": "resync", "csrf": token})
    assert r.status_code == 404
    assert published.sent == [] and _commands(fleet) == []
    r = admin_c.post(
        "/admin/fleet/st-002/commands", data={"command": "repair", "role": "glucose", "csrf": token}
    )
    assert r.status_code == 200  # after the redirect
    assert json.loads(published.sent[0][1])["args"] == {"role": "glucose"}


def test_a_refused_publish_is_recorded_and_said(
    admin_c: TestClient, fleet: World, published: Recorder
) -> None:
    published.fail = PublishRefusedError(
        "not authorized", topic="hk/v1/st/st-001/cmd", reason_code=0x87
    )
    token = csrf(admin_c, "/admin/fleet/st-001")
    page = admin_c.post(
        "/admin/fleet/st-001/commands", data={"command": "restart", "csrf": token}
    ).text
    assert "Could not send" in page and "✖ not sent" in page
    [row] = _commands(fleet)
    assert row.published_at is None and "refused" in (row.publish_error or "")
    assert len(_audit(fleet, "fleet_command")) == 1


def test_without_mqtt_commands_are_not_sent(fleet: World) -> None:
    with _client(fleet, None) as c:
        login(c, "admin")
        page = c.get("/admin/fleet/st-001").text
        assert "no MQTT connection" in page and "disabled" in page
        token = csrf(c, "/admin/fleet/st-001")
        data = {"command": "resync", "csrf": token}
        page = c.post("/admin/fleet/st-001/commands", data=data).text
    assert "Not sent" in page
    [row] = _commands(fleet)
    assert row.publish_error and row.published_at is None


def test_an_unmasked_id_number_in_a_result_is_masked_before_it_is_kept(
    admin_c: TestClient, fleet: World
) -> None:
    cid = uuid.uuid4()
    result = CommandResult(
        station_id="st-001", id=cid, command="logs", ok=True, detail="for 110101195505011234",
        output="visit of 11010119550501123X ended", at=fleet.now,
    )  # fmt: skip
    assert FleetStore(fleet.engine).apply(result, received_at=fleet.now) is True
    page = admin_c.get("/admin/fleet/st-001/commands").text
    assert "11010119550501123X" not in page and "110***********123X" in page
    assert "110101195505011234" not in page
    with Session(fleet.engine) as s:
        row = s.get(StationCommand, str(cid))
        assert row is not None and "11010119550501123X" not in (row.result_output or "")


def test_unknown_result_kept_and_first_result_wins(fleet: World) -> None:
    store = FleetStore(fleet.engine)
    cid = uuid.uuid4()
    at = datetime.now(UTC)
    ok = CommandResult(station_id="st-001", id=cid, command="resync", ok=True, at=at)
    assert store.apply(ok, received_at=at) is True
    assert store.apply(ok.model_copy(update={"ok": False}), received_at=at) is False
    [row] = _commands(fleet)
    assert row.result_ok is True and row.issued_by == ""


def test_an_unanswered_command_says_so_once_expired(fleet: World, published: Recorder) -> None:
    with _client(fleet, published) as c:
        login(c, "admin")
        token = csrf(c, "/admin/fleet/st-002")
        c.post("/admin/fleet/st-002/commands", data={"command": "restart", "csrf": token})
        assert 'data-state="waiting"' in c.get("/admin/fleet/st-002/commands").text
    later = World(**{**fleet.__dict__, "now": fleet.now + timedelta(minutes=6)})
    with _client(later, published) as c:
        login(c, "admin")
        fragment = c.get("/admin/fleet/st-002/commands").text
    assert 'data-state="no answer"' in fragment and 'data-pending="0"' in fragment
