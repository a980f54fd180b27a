"""Rollouts over MQTT end to end: a real Mosquitto, the release server, the
rollout driver (``admin rollout run``) and two stations, each its own
``kiosk-sync`` process with its own data directory. Only the restart of the
units is a stand-in (tests/fleet/fleetkit.py)."""

from __future__ import annotations

from tests.fleet.conftest import Fleet


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
