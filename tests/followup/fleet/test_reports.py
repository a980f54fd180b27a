"""Fleet reports through a real Mosquitto (the deployment's ACL) into the follow-up
database, by the real ingest process: stored once, malformed ones dead-lettered."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.fleet import StationCommand, StationConfigReport, StationUpdateReport
from followup.db.models import DeadLetter, Station
from followup.fleet.reports import FleetStore, Rejection, check_report
from followup.fleet.rollouts import RolloutTables
from followup.fleet.view import load_commands, load_fleet_page, load_station
from healthkiosk.mqtt import connect
from sync.schema import CommandResult, ConfigReport, UpdateReport, encode, topic
from tests.support.reportkit import followup_config, ingest_process, station_settings, wait_until
from tests.support.synckit import Mosquitto

AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _count(engine: object, model: type) -> int:
    with Session(engine) as s:  # type: ignore[call-overload]
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_check_report_reasons() -> None:
    good = encode(ConfigReport(station_id="st-a", outcome="applied", station_version=2, at=AT))
    assert isinstance(check_report("hk/v1/st/st-a/config-report", good), ConfigReport)
    assert check_report("hk/v1/st/st-a/config-report", b"") is None
    cases = {
        ("hk/v1/st/st-b/config-report", good): "wrong_station",
        ("hk/v1/st/st-a/update-report", good): "wrong_type",
        ("hk/v1/st/st-a/config-report", b"\xff{"): "not_json",
        ("hk/v1/st/st-a/config-report", b"[1]"): "not_object",
        ("hk/v1/st/st-a/config-report", b'{"schema":"hk.config-report/7"}'): "schema_version",
        ("hk/v1/st/st-a/config-report", b'{"schema":"hk.config-report/1"}'): "invalid",
        ("hk/v1/st/st-a/cmd-result", b"x" * 300_000): "too_large",
        ("hk/v1/st/ST/config-report", good): "bad_topic",
    }
    for (t, p), reason in cases.items():
        got = check_report(t, p)
        assert isinstance(got, Rejection) and got.reason.startswith(reason), (t, got)


async def test_reports_and_results_stored_once_and_bad_ones_dead_lettered(
    tmp_path: Path,
) -> None:
    stations = ["st-a", "st-b"]
    broker = Mosquitto(tmp_path / "broker", stations)
    broker.start()
    url = f"sqlite:///{tmp_path / 'followup.sqlite'}"
    engine = make_engine(url)
    cmd_id = uuid.uuid4()
    with Session(engine) as s, s.begin():
        s.add(
            StationCommand(
                id=str(cmd_id),
                station_id="st-a",
                command="logs",
                args={"lines": 50},
                issued_at=AT,
                expires_at=AT + timedelta(minutes=5),
                issued_by="admin",
                published_at=AT,
            )
        )
    config = followup_config(tmp_path, broker, url)
    log = tmp_path / "ingest.log"
    try:
        with ingest_process(config, log) as poll:
            async with connect(station_settings(broker, "st-a")) as a:
                # the retained latest config report, and an update's steps
                await a.publish(
                    topic("st-a", "config-report"),
                    encode(ConfigReport(station_id="st-a", outcome="applied", group_version=3,
                                        station_version=2, at=AT)),
                    retain=True, timeout=5,
                )  # fmt: skip
                for i, (step, outcome) in enumerate(
                    [("download", "in_progress"), ("verify", "in_progress"),
                     ("health", "succeeded")]
                ):  # fmt: skip
                    body = encode(
                        UpdateReport(station_id="st-a", rollout_id="r1", release=7,
                                     running_release=6 if outcome != "succeeded" else 7,
                                     step=step, outcome=outcome, at=AT + timedelta(seconds=i))
                    )  # fmt: skip
                    await a.publish(topic("st-a", "update-report"), body, retain=True, timeout=5)
                    if i == 0:  # the same step delivered twice changes nothing
                        await a.publish(
                            topic("st-a", "update-report"), body, retain=True, timeout=5
                        )
                result = CommandResult(station_id="st-a", id=cmd_id, command="logs", ok=True,
                                       output="12:00 sync ok\nresident 1101**********123X",
                                       at=AT + timedelta(seconds=5))  # fmt: skip
                await a.publish(topic("st-a", "cmd-result"), encode(result), timeout=5)
                await a.publish(topic("st-a", "cmd-result"), encode(result), timeout=5)
                # malformed ones, each on a topic the station may write
                bad = [
                    (topic("st-a", "config-report"), b"not json"),
                    (topic("st-a", "update-report"), encode(result)),
                    (topic("st-a", "cmd-result"), b'{"schema":"hk.command-result/2"}'),
                ]
                for t, p in bad:
                    await a.publish(t, p, timeout=5)
                # a result that names another station's command
                stolen = result.model_copy(update={"station_id": "st-b"})
            async with connect(station_settings(broker, "st-b")) as b:
                await b.publish(topic("st-b", "cmd-result"), encode(stolen), timeout=5)
                await b.publish(
                    topic("st-b", "config-report"),
                    encode(ConfigReport(station_id="st-b", outcome="rejected", station_version=4,
                                        running_station_version=3,
                                        reason="kiosk.rest_s: must be at least 30", at=AT)),
                    retain=True, timeout=5,
                )  # fmt: skip
            wait_until(lambda: _count(engine, DeadLetter) >= 4, 20, "dead letters")
            wait_until(lambda: _count(engine, StationConfigReport) >= 2, 20, "config reports")
            assert poll() is None, "the ingest worker died"
        # restarted: the retained reports come again, and change nothing
        before = log.read_text().count("already stored")
        with ingest_process(config, log) as poll:
            # st-a's config and update reports and st-b's config report, retained
            wait_until(
                lambda: log.read_text().count("already stored") >= before + 3, 20, "redelivery"
            )
            assert poll() is None
    finally:
        broker.stop()
    assert _count(engine, StationConfigReport) == 2
    with Session(engine) as s:
        configs = {r.station_id: r for r in s.scalars(select(StationConfigReport))}
        assert configs["st-a"].outcome == "applied" and configs["st-a"].group_version == 3
        assert configs["st-b"].reason == "kiosk.rest_s: must be at least 30"
        steps = [
            (u.step, u.outcome)
            for u in s.scalars(select(StationUpdateReport).order_by(StationUpdateReport.at))
        ]
        assert steps == [
            ("download", "in_progress"), ("verify", "in_progress"), ("health", "succeeded")
        ]  # fmt: skip
        cmd = s.get(StationCommand, str(cmd_id))
        assert cmd is not None and cmd.result_ok is True and cmd.station_id == "st-a"
        assert cmd.result_output == "12:00 sync ok\nresident 1101**********123X"
        reasons = sorted(d.reason.split(":")[0] for d in s.scalars(select(DeadLetter)))
        assert reasons == ["not_json", "schema_version", "wrong_station", "wrong_type"]
    text = log.read_text()
    assert text.count("fleet report on") == 4, text
    engine.dispose()


def test_payload_roundtrip_is_json() -> None:
    body = encode(UpdateReport(station_id="st-a", step="download", outcome="waiting", at=AT))
    assert json.loads(body)["schema"] == "hk.update-report/1"


# --- the store and the fleet view on SQLite and PostgreSQL -----------------------------


@pytest.fixture
def database_url(followup_url: str) -> str:
    """SQLite, then PostgreSQL (its own database): tests/conftest.py."""
    return followup_url


def test_store_and_view_on_both_databases(database_url: str) -> None:
    engine = make_engine(database_url)
    store = FleetStore(engine)
    now = AT + timedelta(hours=2)
    with Session(engine) as s, s.begin():
        s.add_all([Station(id="st-a", group="g1", online=True, last_seen=now),
                   Station(id="st-b", group="g2", online=False, last_seen=AT)])  # fmt: skip
    reports = [
        ConfigReport(station_id="st-a", outcome="applied", station_version=1, at=AT),
        ConfigReport(station_id="st-a", outcome="reverted", station_version=2,
                     running_station_version=1, reason="no broker within 30 s",
                     at=AT + timedelta(minutes=5)),
        ConfigReport(station_id="st-b", outcome="applied", group_version=4, at=AT),
        UpdateReport(station_id="st-a", release=3, step="download", outcome="in_progress", at=AT),
        UpdateReport(station_id="st-a", release=3, step="done", outcome="succeeded",
                     at=AT + timedelta(minutes=1)),
    ]  # fmt: skip
    assert [store.apply(r, received_at=now) for r in reports] == [True] * 5
    assert [store.apply(r, received_at=now) for r in reports] == [False] * 5
    cid = uuid.uuid4()
    result = CommandResult(station_id="st-b", id=cid, command="restart", ok=False,
                           detail="a visit is in progress", at=AT)  # fmt: skip
    assert store.apply(result, received_at=now) is True
    stolen = result.model_copy(update={"station_id": "st-a"})
    assert isinstance(store.apply(stolen, received_at=now), Rejection)
    with Session(engine) as s:
        fleet = load_fleet_page(s, now=now)
        detail = load_station(s, "st-a", now=now)
        assert load_station(s, "st-x", now=now) is None
        assert RolloutTables().rollouts(s) == []  # the rollout tables are another module's
    rows = {r.station_id: r for r in fleet.rows}
    assert rows["st-a"].config is not None and rows["st-a"].config.outcome == "reverted"
    assert rows["st-a"].update is not None and rows["st-a"].update.outcome == "succeeded"
    assert rows["st-b"].config is not None and rows["st-b"].config.group_version == 4
    assert [a.kind for a in rows["st-b"].alerts] == ["offline"]
    sm = fleet.summary
    assert (sm.total, sm.online, sm.offline, sm.alerting) == (2, 1, 1, 1)
    assert [r.station_id for r in fleet.rows] == ["st-b", "st-a"]  # needing attention first
    assert [g.group for g in fleet.groups] == ["g1", "g2"]
    assert detail is not None
    assert [c.outcome for c in detail.configs] == ["reverted", "applied"]
    assert [u.step for u in detail.updates] == ["done", "download"]
    with Session(engine) as s:
        [cmd] = load_commands(s, "st-b")
    assert cmd.state(now) == "failed" and cmd.result_detail == "a visit is in progress"
    engine.dispose()
