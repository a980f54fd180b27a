"""Rollouts over MQTT end to end: a real Mosquitto, the release server, the
rollout driver (``admin rollout run``) and two stations, each its own
``kiosk-sync`` process with its own data directory. Only the restart of the
units is a stand-in (tests/support/fleetkit.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from healthkiosk import health
from healthkiosk.visitlock import VisitLock
from sync.schema import UpdateOrder, encode, group_topic, topic
from tests.support.fixtures.fleet import STATIONS, Fleet
from tests.support.fleetkit import REPO, FleetStation, publish_retained, runner_pids, wait_until
from tests.support.synckit import fill_store, outbox_counts, spawn


def test_a_release_goes_to_the_canary_then_to_the_group(fleet: Fleet) -> None:
    url = fleet.release(2, "2.0.0")
    sync_pids = {sid: st.sync_pid() for sid, st in fleet.stations.items()}
    rid = fleet.start_rollout(2, url, "--stages", "50,50", "--canary", "st-a")
    info = fleet.wait_state(rid, "completed", timeout=90)
    assert [s["stations"] for s in info["stages"]] == [1, 1]
    a, b = fleet.reports.of("st-a", rid), fleet.reports.of("st-b", rid)
    # The canary finished before the group's first station heard of the release.
    a_done = next(
        i for i, r in enumerate(fleet.reports.reports) if r is fleet.reports.final("st-a", rid)
    )
    b_first = fleet.reports.reports.index(b[0])
    assert a_done < b_first
    for sid, reps in (("st-a", a), ("st-b", b)):
        steps = list(dict.fromkeys(r.step for r in reps))
        assert steps[0] == "start" and steps[-1] == "done", steps
        assert {"download", "verify", "install", "switch", "first_start", "stability"} <= set(steps)
        final = fleet.reports.final(sid, rid)
        assert final is not None and final.outcome == "succeeded"
        assert final.running_release == 2
        st = fleet.stations[sid]
        assert st.current() == "releases/2-2.0.0" and st.current_runs() == "2.0.0"
        # The update restarted kiosk-sync itself; the new process reported the end.
        assert st.sync_pid() != sync_pids[sid]
        # ... and told the health check it reached the broker.
        rep = health.read(st.health, "kiosk-sync")
        assert rep is not None and rep.state == "ready" and rep.pid == st.sync_pid()


def test_a_downgrade_refused_at_the_canary_stops_before_the_group(fleet: Fleet) -> None:
    url2 = fleet.release(2, "2.0.0")
    rid2 = fleet.start_rollout(2, url2, "--stages", "100")
    fleet.wait_state(rid2, "completed", timeout=90)
    # Release 1 again, not signed as a rollback: each station must refuse it.
    url1 = fleet.server.manifest_url("1-1.0.0/manifest.json")
    rid = fleet.start_rollout(1, url1, "--stages", "50,50", "--canary", "st-a")
    info = fleet.wait_state(rid, "stopped")
    assert info["reason"].startswith("stage 1: 1 of 1 stations failed")
    final = fleet.reports.final("st-a", rid)
    assert final is not None and final.outcome == "refused"
    assert final.reason.startswith("downgrade:"), final.reason
    assert final.running_release == 2
    assert fleet.member(rid, "st-a")["outcome"] == "refused"
    # The group never got the order.
    time.sleep(1.0)
    assert fleet.member(rid, "st-b")["ordered"] is False
    assert fleet.reports.of("st-b", rid) == []
    for st in fleet.stations.values():
        assert st.current_runs() == "2.0.0"


def test_tampered_unsigned_and_expired_bundles_are_refused_with_the_reason(fleet: Fleet) -> None:
    url = fleet.release(2, "2.0.0")
    wheel = next((fleet.server.directory / "2-2.0.0" / "wheels").glob("hkfakeapp-*.whl"))
    data = bytearray(wheel.read_bytes())
    data[100] ^= 0xFF
    wheel.write_bytes(bytes(data))
    rid = fleet.start_rollout(2, url, "--stages", "100", "--error-threshold", "0.9")
    fleet.wait_state(rid, "stopped")
    for sid in STATIONS:
        final = fleet.reports.final(sid, rid)
        assert final is not None and final.outcome == "refused"
        assert final.reason.startswith("hash_mismatch:"), final.reason
        assert fleet.member(rid, sid)["outcome"] == "refused"
    # A handled order is not run again when kiosk-sync restarts and the broker
    # hands it the retained order once more.
    a = fleet.stations["st-a"]
    before = len(fleet.reports.of("st-a", rid))
    restart_units(a)
    wait_until(lambda: fleet.broker.connections("st-a.updates") >= 2, 15, "st-a reconnected")
    time.sleep(3.0)  # a run would have reported "start" by now
    assert len(fleet.reports.of("st-a", rid)) == before

    url3 = fleet.release(3, "3.0.0")
    man = fleet.server.directory / "3-3.0.0" / "manifest.json"
    doc = json.loads(man.read_text())
    doc["signatures"] = []
    man.write_text(json.dumps(doc))
    rid3 = fleet.start_rollout(3, url3, "--stages", "100", "--error-threshold", "0.9")
    fleet.wait_state(rid3, "stopped")
    for sid, st in fleet.stations.items():
        final = fleet.reports.final(sid, rid3)
        assert final is not None and final.outcome == "refused"
        assert final.reason.startswith("unsigned:"), final.reason
        assert st.current() == "releases/1-1.0.0" and st.current_runs() == "1.0.0"

    # A frozen (expired) manifest: "cannot confirm freshness", never trusted.
    url4 = fleet.release(4, "4.0.0", now=datetime.now(UTC) - timedelta(days=40),
                         expires_in=timedelta(days=30))  # fmt: skip
    rid4 = fleet.start_rollout(4, url4, "--stages", "100", "--error-threshold", "0.9")
    fleet.wait_state(rid4, "stopped")
    for sid in STATIONS:
        final = fleet.reports.final(sid, rid4)
        assert final is not None and final.outcome == "refused"
        assert final.reason.startswith("expired:") and "cannot confirm freshness" in final.reason


def test_a_release_failing_its_health_check_rolls_back_and_both_stations_serve(
    fleet: Fleet,
) -> None:
    url = fleet.release(2, "2.0.0", mode="crash")
    rid = fleet.start_rollout(2, url, "--stages", "100", "--error-threshold", "0.9")
    info = fleet.wait_state(rid, "stopped", timeout=120)
    assert info["reason"].startswith("stage 1: 2 of 2 stations failed")
    for sid, st in fleet.stations.items():
        final = fleet.reports.final(sid, rid)
        assert final is not None and final.outcome == "rolled_back"
        assert final.reason.startswith("crashed on start 3 times"), final.reason
        assert final.running_release == 1
        steps = {r.step for r in fleet.reports.of(sid, rid)}
        assert {"first_start", "rollback"} <= steps
        assert st.current() == "releases/1-1.0.0" and st.current_runs() == "1.0.0"
        rep = health.read(st.health, "kiosk")
        assert rep is not None and rep.state == "ready" and health.pid_alive(rep.pid)
    # Both still deliver readings through their (restarted) kiosk-sync.
    fleet.procs.append(
        spawn(fleet.followup_config, "followup", "ingest", log=fleet.tmp / "ingest.log")
    )
    for st in fleet.stations.values():
        fill_store(st.store, 1, seed=hash(st.id) % 1000)
    for st in fleet.stations.values():
        wait_until(lambda s=st: outbox_counts(s.store)[1] == 1, 30, f"{st.id} delivered")


def test_an_update_arriving_during_a_visit_waits_until_it_ends(fleet: Fleet) -> None:
    a = fleet.stations["st-a"]
    visit = VisitLock(a.visit_lock)
    assert visit.begin()  # an elder checked in at st-a
    try:
        url = fleet.release(2, "2.0.0")
        rid = fleet.start_rollout(2, url, "--stages", "100")
        wait_until(lambda: fleet.reports.final("st-b", rid) is not None, 60, "st-b done")
        reps = fleet.reports.of("st-a", rid)
        assert [(r.step, r.outcome) for r in reps] == [("wait_visit", "waiting")]
        assert fleet.member(rid, "st-a")["outcome"] == "waiting"
        assert a.current() == "releases/1-1.0.0"
        time.sleep(1.0)
        assert len(fleet.reports.of("st-a", rid)) == 1  # still waiting, nothing started
    finally:
        visit.end()  # the visit ends
    fleet.wait_state(rid, "completed", timeout=60)
    final = fleet.reports.final("st-a", rid)
    assert final is not None and final.outcome == "succeeded"
    assert a.current_runs() == "2.0.0"


def test_an_aborted_rollout_withdraws_the_orders_of_stations_not_started(fleet: Fleet) -> None:
    a = fleet.stations["st-a"]
    visit = VisitLock(a.visit_lock)
    assert visit.begin()
    try:
        url = fleet.release(2, "2.0.0")
        rid = fleet.start_rollout(2, url, "--stages", "50,50", "--canary", "st-a")
        wait_until(lambda: fleet.reports.of("st-a", rid), 30, "st-a waiting")
        assert fleet.cli("admin", "rollout", "abort").stdout.strip() == f"rollout {rid}: aborted"
        wait_until(
            lambda: fleet.status(rid).get("stations") and _cleared(fleet, rid), 30, "cleared"
        )
    finally:
        visit.end()
    time.sleep(2.0)
    assert [r.outcome for r in fleet.reports.of("st-a", rid)] == ["waiting"]
    assert fleet.reports.of("st-b", rid) == []
    assert a.current_runs() == "1.0.0"
    assert fleet.status(rid)["state"] == "aborted"


def restart_units(st: FleetStation) -> None:
    """What ``systemctl restart kiosk-sync kiosk`` does (the fleet's restart stand-in)."""
    env = {**os.environ, "HK_REPO": str(REPO), "HEALTHKIOSK_ROOT": str(st.root),
           health.ENV_HEALTH_DIR: str(st.health)}  # fmt: skip
    subprocess.run([sys.executable, str(st.restart)], env=env, check=True, timeout=30)


def _cleared(fleet: Fleet, rid: str) -> bool:
    import sqlite3

    path = fleet.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as c:
        row = c.execute("SELECT orders_cleared_at FROM rollouts WHERE id = ?", (rid,)).fetchone()
    return bool(row and row[0])


def test_a_stations_own_order_wins_over_its_groups(fleet: Fleet) -> None:
    url = fleet.release(2, "2.0.0")
    now = datetime.now(UTC)
    group = UpdateOrder(scope="group", target="g1", release=2, manifest_url=url,
                        rollout_id="manual-g1", issued_at=now)  # fmt: skip
    own = UpdateOrder(scope="station", target="st-b", release=1, rollout_id="manual-st-b",
                      manifest_url=fleet.server.manifest_url("1-1.0.0/manifest.json"),
                      issued_at=now)  # fmt: skip
    port, pw = fleet.broker.port, fleet.broker.password_file("followup")
    publish_retained(port, pw, topic("st-b", "update"), encode(own))
    publish_retained(port, pw, group_topic("g1", "update"), encode(group))
    wait_until(lambda: fleet.reports.final("st-a", "manual-g1"), 60, "st-a done")
    wait_until(lambda: fleet.reports.final("st-b", "manual-st-b"), 30, "st-b done")
    a = fleet.reports.final("st-a", "manual-g1")
    b = fleet.reports.final("st-b", "manual-st-b")
    assert a is not None and (a.outcome, a.running_release) == ("succeeded", 2)
    assert b is not None and b.outcome == "succeeded"
    assert b.reason == "already running release 1"
    assert fleet.reports.of("st-b", "manual-g1") == []
    assert fleet.stations["st-b"].current_runs() == "1.0.0"
    # The station's own order withdrawn: the group's applies to it now.
    publish_retained(port, pw, topic("st-b", "update"), b"")
    wait_until(lambda: fleet.reports.final("st-b", "manual-g1"), 60, "st-b follows the group")
    assert fleet.stations["st-b"].current_runs() == "2.0.0"


def test_a_runner_killed_mid_update_is_started_again_and_finishes(fleet: Fleet) -> None:
    a = fleet.stations["st-a"]
    url = fleet.release(2, "2.0.0")
    rid = fleet.start_rollout(2, url, "--stages", "100")
    wait_until(lambda: any(r.step == "install" for r in fleet.reports.of("st-a", rid)), 60,
               "st-a installing")  # fmt: skip
    killed = runner_pids(a.config)
    assert killed
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    fleet.wait_state(rid, "completed", timeout=90)
    final = fleet.reports.final("st-a", rid)
    assert final is not None and final.outcome == "succeeded"
    starts = [r for r in fleet.reports.of("st-a", rid) if r.step == "start"]
    assert len(starts) == 2  # the second runner resumed the pending update
    assert a.current_runs() == "2.0.0"
