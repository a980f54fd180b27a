"""Fixtures for the fleet end-to-end tests: a broker, a release server, the
follow-up side's rollout driver, and two stations as separate processes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.models import Station as StationRow
from healthkiosk.admin.release.publish import publish
from tests.fleet.fleetkit import FleetStation, ReportLog, make_station, wait_until, write_toml
from tests.sync.synckit import REPO, Mosquitto, spawn
from tests.updater.conftest import (  # noqa: F401 - fixtures
    ReleaseServer,
    fleet_key,
    put_on_release_1,
    release1_template,
)
from tests.updater.fakes import signed_bundle

STATIONS = ("st-a", "st-b")


@dataclass
class Fleet:
    tmp: Path
    broker: Mosquitto
    server: ReleaseServer
    key: Path
    followup_config: Path
    database_url: str
    reports: ReportLog
    stations: dict[str, FleetStation] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def release(self, number: int, version: str, **kwargs: Any) -> str:
        b = signed_bundle(
            self.tmp / "bundles" / f"{number}-{version}-{len(list(self.tmp.glob('bundles/*')))}",
            key=self.key, release=number, version=version, **kwargs,
        )  # fmt: skip
        return self.server.manifest_url(publish(b, self.server.directory, make_latest=False))

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "healthkiosk", "--config", str(self.followup_config), *args],
            check=False, cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def start_rollout(self, release: int, url: str, *extra: str) -> str:
        out = self.cli(
            "admin", "rollout", "start", "--release", str(release), "--manifest-url", url, *extra
        ).stdout
        return out.split()[1].rstrip(":")

    def status(self, rollout_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            self.cli("admin", "rollout", "status", "--id", rollout_id, "--json").stdout
        )
        return data

    def member(self, rollout_id: str, station: str) -> dict[str, Any]:
        return next(m for m in self.status(rollout_id)["stations"] if m["station"] == station)

    def wait_state(self, rollout_id: str, state: str, timeout: float = 60.0) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> bool:
            seen.update(self.status(rollout_id))
            return seen["state"] == state

        try:
            wait_until(reached, timeout, f"rollout {rollout_id} {state}")
        except AssertionError:
            logs = "\n".join(s.log_tail() for s in self.stations.values())
            raise AssertionError(f"{json.dumps(seen, indent=1)}\n{logs}") from None
        return seen


@pytest.fixture
def fleet(
    tmp_path: Path, fleet_key: tuple[Path, Path], release1_template: Path,  # noqa: F811
) -> Iterator[Fleet]:  # fmt: skip
    broker = Mosquitto(tmp_path / "broker", list(STATIONS))
    broker.start()
    published = tmp_path / "published"
    published.mkdir()
    server = ReleaseServer(published)
    server.thread.start()
    database_url = f"sqlite:///{tmp_path / 'followup.sqlite'}"
    followup_config = write_toml(
        tmp_path / "followup.toml",
        {
            "station": {"id": "followup-host", "data_dir": str(tmp_path / "followup-data")},
            "followup": {"database_url": database_url},
            "followup.mqtt": {
                "host": "127.0.0.1",
                "port": broker.port,
                "username": "followup",
                "password_file": str(broker.password_file("followup")),
                "keepalive_s": 5,
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 1.0,
            },
            "logging": {"level": "INFO"},
        },
    )
    engine = make_engine(database_url)
    with Session(engine) as session, session.begin():
        for sid in STATIONS:
            session.add(StationRow(id=sid, group="g1"))
    engine.dispose()
    reports = ReportLog(broker.port, broker.password_file("followup"))
    f = Fleet(tmp_path, broker, server, fleet_key[0], followup_config, database_url, reports)
    try:
        f.release(1, "1.0.0")
        for sid in STATIONS:
            st = make_station(
                tmp_path / sid, sid, broker_port=broker.port,
                password_file=broker.password_file(sid), pubkey=fleet_key[1],
            )  # fmt: skip
            f.stations[sid] = st
            put_on_release_1(st, release1_template)  # starts the app and kiosk-sync
        for sid in STATIONS:
            wait_until(lambda s=sid: broker.connections(f"{s}.updates") >= 1, 15, f"{sid} link")
        f.procs.append(
            spawn(followup_config, "admin", "rollout", "run", "--tick", "0.3",
                  log=tmp_path / "driver.log")
        )  # fmt: skip
        wait_until(lambda: broker.connections("followup-rollout") >= 1, 15, "driver")
        yield f
    finally:
        for p in f.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        for st in f.stations.values():
            st.stop_all()
        reports.close()
        server.server.shutdown()
        server.server.server_close()
        broker.kill()
