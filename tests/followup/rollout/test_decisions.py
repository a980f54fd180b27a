"""Staged rollouts: groups, thresholds, pause/resume/abort (pure decisions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup.rollout.decisions import (
    Policy,
    RolloutState,
    abort,
    pause,
    plan,
    record,
    resume,
    targets,
)

FLEET = [f"st-{i:03d}" for i in range(400)]


def test_three_of_twenty_failing_in_the_first_group_stops_before_the_second() -> None:
    r = plan(release=7, version="0.7.0", stations=FLEET)
    assert [len(s) for s in r.stages] == [20, 100, 280]
    first = targets(r)
    assert len(first) == 20
    for i, station in enumerate(first):
        outcome = "rolled_back" if i in (2, 9, 15) else "installed"
        r = record(r, station, outcome)
    assert r.state is RolloutState.STOPPED
    assert r.current == 0  # never reached the second group
    assert targets(r) == ()
    assert r.reason == "stage 1: 3 of 20 stations failed (15% > error threshold 10%)"
    # It stopped at the third failure, without waiting for the rest of the stage.
    r2 = plan(release=7, version="0.7.0", stations=FLEET)
    for station in first[:3]:
        r2 = record(r2, station, "refused")
    assert r2.state is RolloutState.STOPPED
    assert r2.stage_counts(0) == (0, 3, 17)


def test_a_healthy_rollout_moves_group_by_group_to_the_end() -> None:
    r = plan(release=7, version="0.7.0", stations=FLEET, canaries=["st-399"])
    assert r.stages[0][0] == "st-399"
    seen: list[int] = []
    while r.state is RolloutState.RUNNING:
        seen.append(r.current)
        batch = targets(r)
        assert batch and set(batch) <= set(r.stages[r.current])
        for station in batch:
            r = record(r, station, "installed")
    assert r.state is RolloutState.COMPLETED
    assert sorted(set(seen)) == [0, 1, 2]
    assert len(r.results) == 400


def test_one_failure_in_twenty_passes_the_default_thresholds() -> None:
    r = plan(release=7, version="0.7.0", stations=FLEET)
    for i, station in enumerate(targets(r)):
        r = record(r, station, "rolled_back" if i == 0 else "installed")
    assert (r.state, r.current) == (RolloutState.RUNNING, 1)


def test_a_stage_below_the_success_threshold_stops_the_rollout() -> None:
    policy = Policy(success_threshold=1.0, error_threshold=0.5)
    r = plan(release=2, version="0.2.0", stations=FLEET[:20], policy=policy)
    assert [len(s) for s in r.stages] == [1, 5, 14]
    r = record(r, targets(r)[0], "installed")
    batch = targets(r)
    for station in batch[:-1]:
        r = record(r, station, "installed")
    r = record(r, batch[-1], "refused")
    assert r.state is RolloutState.STOPPED
    assert r.reason == "stage 2: 4 of 5 succeeded (80% < success threshold 100%)"


def test_pause_resume_and_abort() -> None:
    r = plan(release=3, version="0.3.0", stations=FLEET[:40])
    r = pause(r)
    assert r.state is RolloutState.PAUSED and targets(r) == ()
    # Results still arrive while paused (updates already under way) and are kept.
    r = record(r, r.stages[0][0], "installed")
    r = record(r, r.stages[0][1], "installed")
    assert r.state is RolloutState.PAUSED and r.current == 0
    r = resume(r)
    assert r.state is RolloutState.RUNNING and r.current == 1  # the finished stage passed
    r = abort(r)
    assert r.state is RolloutState.ABORTED and targets(r) == ()
    assert resume(r) is r


def test_results_from_stations_not_yet_reached_are_ignored() -> None:
    r = plan(release=3, version="0.3.0", stations=FLEET)
    later = r.stages[2][0]
    assert record(r, later, "installed") is r
    first = r.stages[0][0]
    r = record(r, first, "rolled_back")
    assert record(r, first, "installed").results[first] == "rolled_back"


@pytest.mark.parametrize("stages", [(0.5, 0.4), (0.0, 1.0), ()])
def test_bad_policies_are_refused(stages: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        Policy(stages=stages)


@given(st.sets(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=300),
       st.integers(min_value=1, max_value=10**6))  # fmt: skip
def test_stages_partition_the_fleet_in_order(stations: set[str], release: int) -> None:
    r = plan(release=release, version="x", stations=stations)
    flat = [s for stage in r.stages for s in stage]
    assert sorted(flat) == sorted(stations)
    assert all(r.stages)
    sizes = [len(s) for s in r.stages]
    assert sizes[0] >= 1 and sum(sizes) == len(stations)
