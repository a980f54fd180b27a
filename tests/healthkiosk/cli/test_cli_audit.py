"""Every CLI admin command that acts on the fleet or the follow-up database leaves an
audit entry as ``cli:<OS user>``, without secrets, and the admin's audit page shows it."""

from __future__ import annotations

import getpass
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.audit import AuditEvent
from followup.db.engine import make_engine
from tests.support.fleetkit import REPO
from tests.support.reportkit import followup_config
from tests.support.synckit import Mosquitto
from tests.support.updater_fakes import signed_bundle
from tests.support.web import csrf

ME = f"cli:{getpass.getuser()}"
PASSWORD = "a long admin password"  # never in the log
ROLLOUT = "<the rollout's id>"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path / "broker", ["st-a"])
    b.start()
    try:
        yield b
    finally:
        b.stop()


def _hk(config: Path, *args: str, stdin: str = "", code: int = 0) -> str:
    p = subprocess.run(
        [sys.executable, "-m", "healthkiosk", "--config", str(config), *args],
        input=stdin, cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert p.returncode == code, f"{args}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def test_every_admin_command_leaves_its_audit_entry(
    tmp_path: Path, broker: Mosquitto, fleet_key: tuple[Path, Path]
) -> None:
    url = f"sqlite:///{tmp_path / 'followup.sqlite'}"
    config = followup_config(tmp_path, broker, url)
    bundle = signed_bundle(tmp_path / "bundle", key=fleet_key[0], release=7, version="7.0.0")
    releases = tmp_path / "releases"
    # (the command, what the entry must say: action, target, detail)
    steps: list[tuple[tuple[str, ...], str, str, dict[str, object], int]] = [
        (("followup", "user", "add", "boss", "--role", "admin", "--password-stdin"),
         "user_add", "user:1", {"username": "boss", "role": "admin"}, 0),
        (("admin", "station", "add", "st-a", "--group", "g1", "--name", "East", "--area", "E"),
         "station_add", "station:st-a", {"group": "g1", "name": "East", "area": "E"}, 0),
        (("admin", "config", "set", "--group", "g1", "kiosk.done_s=5", "mqtt.batch_size=4"),
         "config_set", "group:g1",
         {"version": 1, "keys": ["kiosk.done_s", "mqtt.batch_size"], "replace": False,
          "checked": True}, 0),
        (("admin", "config", "clear", "--station", "st-a"), "config_clear", "station:st-a",
         {"version": 1}, 0),
        (("admin", "command", "st-a", "logs", "--lines", "20", "--wait", "0.5"),
         "fleet_command", "station:st-a", {"command": "logs", "args": {"lines": 20}}, 3),
        (("admin", "release", "publish", str(bundle), "--to", str(releases)),
         "release_publish", "release:7-7.0.0", {"latest": True, "directory": str(releases)}, 0),
        (("admin", "rollout", "start", "--release", "7", "--no-check", "--stages", "100",
          "--manifest-url", "http://127.0.0.1:9/7-7.0.0/manifest.json"),
         "rollout.start", ROLLOUT, {"release": 7, "stations": 1, "stages": [1.0]}, 0),
        (("admin", "rollout", "pause"), "rollout.pause", ROLLOUT, {}, 0),
        (("admin", "rollout", "resume"), "rollout.resume", ROLLOUT, {}, 0),
        (("admin", "rollout", "abort"), "rollout.abort", ROLLOUT, {}, 0),
        (("followup", "rebuild-status"), "status_rebuild", "", {"residents": 0}, 0),
    ]  # fmt: skip
    engine = make_engine(url)
    seen = 0
    rollout_id = ""
    for args, action, target, detail, code in steps:
        _hk(config, *args, stdin=f"{PASSWORD}\n", code=code)
        with Session(engine) as s:
            rows = list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        new = rows[seen:]
        assert [e.action for e in new] == [action], args
        e = new[0]
        assert (e.username, e.user_id, e.remote) == (ME, None, socket.gethostname()[:64])
        if action == "rollout.start":
            rollout_id = e.target
            assert rollout_id.startswith("r7-")
        assert e.target == (rollout_id if target == ROLLOUT else target), args
        got = dict(e.detail)
        if action == "fleet_command":
            assert len(str(got.pop("id"))) == 36  # the command's UUID
        assert got == detail, args
        assert PASSWORD not in json.dumps(e.detail) and "=5" not in json.dumps(e.detail)
        seen = len(rows)
    engine.dispose()

    # the admin's audit page shows them, newest first
    from followup.web.app import create_app
    from followup.web.common import WebSettings
    from healthkiosk.rules import load_rules

    engine = make_engine(url)
    app = create_app(engine, load_rules(), WebSettings(secret_key="a" * 64), run_refresher=False)
    with TestClient(app, base_url="http://testserver", headers={"Accept-Language": "en"}) as c:
        r = c.post(
            "/login",
            data={"username": "boss", "password": PASSWORD, "csrf": csrf(c), "next": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        page = c.get("/admin/audit").text
        for _args, action, _target, _detail, _code in steps:
            assert f'<td data-action="{action}">' in page
        assert page.count(f'<td translate="no">{ME}</td>') == len(steps)
        assert page.index("status_rebuild") < page.index("user_add")
        only = c.get("/admin/audit", params={"action": "config_set"}).text
        assert only.count(f'<td translate="no">{ME}</td>') == 1 and "group:g1" in only
    engine.dispose()
