"""Rollouts in the follow-up database: stages, reports, pause/resume/abort (no broker)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.models import Station
from followup.db.rollouts import RolloutRow
from followup.rollout import store as rs
from followup.rollout.decisions import Policy
from healthkiosk.errors import RolloutError
from sync.schema import UpdateReport

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
URL = "http://releases.local/7-0.7.0/manifest.json"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(f"sqlite:///{tmp_path / 'f.sqlite'}")
    with Session(e) as s, s.begin():
        for i in range(4):
            s.add(Station(id=f"st-{i}", group="north" if i < 3 else "south"))
    yield e
    e.dispose()


def report(rid: str, station: str, outcome: str, step: str = "done") -> UpdateReport:
    return UpdateReport(
        station_id=station, rollout_id=rid, release=7, step=step, outcome=outcome,  # type: ignore[arg-type]
        reason="", at=T0 + timedelta(minutes=1),
    )  # fmt: skip


def start(s: Session, **kw: object) -> str:
    row = rs.start(
        s, release=7, version="0.7.0", manifest_url=URL, now=T0,
        policy=Policy(stages=(0.3, 0.7), success_threshold=1.0, error_threshold=0.5),
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    return row.id


def ordered(s: Session) -> list[str]:
    due = rs.due_orders(s)
    for d in due:
        assert d.order.release == 7 and d.order.rollout_id == d.rollout_id
        assert d.order.scope == "station" and d.order.target == d.station_id
        rs.mark_ordered(s, d.rollout_id, d.station_id, now=T0)
    return sorted(d.station_id for d in due)


def test_stages_advance_on_reports_and_pause_holds_the_next_stage(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        rid = start(s, group="north", canaries=["st-2"])
        assert ordered(s) == ["st-2"]
        assert ordered(s) == []  # published once
        assert rs.apply_report(s, report(rid, "st-2", "in_progress", "download"), now=T0)
        assert ordered(s) == []
        rs.pause(s, None, now=T0)
        assert rs.apply_report(s, report(rid, "st-2", "succeeded"), now=T0)
        assert ordered(s) == []  # paused: the finished stage does not open the next
        assert s.get(RolloutRow, rid).state == "paused"  # type: ignore[union-attr]
        rs.resume(s, None, now=T0)
        assert ordered(s) == ["st-0", "st-1"]
        rs.apply_report(s, report(rid, "st-0", "succeeded"), now=T0)
        rs.apply_report(s, report(rid, "st-1", "succeeded"), now=T0)
        info = rs.overview(s, rid)
        assert info["state"] == "completed"
        stations = [m["station"] for m in info["stations"]]
        assert stations[0] == "st-2" and sorted(stations[1:]) == ["st-0", "st-1"]
        assert [s["succeeded"] for s in info["stages"]] == [1, 2]
        assert "st-3" not in {m["station"] for m in info["stations"]}  # other group


def test_failures_stop_the_rollout_and_its_pending_orders_are_cleared(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        rid = start(s, canaries=["st-0", "st-1"])
        assert ordered(s) == ["st-0", "st-1"]
        rs.apply_report(s, report(rid, "st-0", "refused"), now=T0)
        assert s.get(RolloutRow, rid).state == "running"  # type: ignore[union-attr]
        rs.apply_report(s, report(rid, "st-1", "waiting", "wait_visit"), now=T0)
        # A retained copy of the first result again changes nothing.
        rs.apply_report(s, report(rid, "st-0", "succeeded"), now=T0)
        assert rs.overview(s, rid)["stations"][0]["outcome"] == "refused"
        rs.apply_report(s, report(rid, "st-1", "rolled_back"), now=T0)
        row = s.get(RolloutRow, rid)
        assert row is not None and row.state == "stopped"
        assert row.reason.startswith("stage 1: 2 of 2 stations failed")
        assert rs.due_orders(s) == []
        assert rs.due_clears(s) == {rid: []}  # both finished: nothing to withdraw


def test_abort_withdraws_orders_not_finished(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        rid = start(s, canaries=["st-0", "st-1"])
        ordered(s)
        rs.apply_report(s, report(rid, "st-0", "succeeded"), now=T0)
        rs.abort(s, rid, now=T0, by="admin")
        assert rs.due_clears(s) == {rid: ["st-1"]}
        rs.mark_cleared(s, rid, now=T0)
        assert rs.due_clears(s) == {}
        with pytest.raises(RolloutError, match="cannot resume"):
            rs.resume(s, rid, now=T0)


def test_one_active_rollout_at_a_time_and_unknown_reports_are_ignored(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        rid = start(s)
        with pytest.raises(RolloutError, match="abort it or let it finish"):
            start(s)
        assert not rs.apply_report(s, report("r9-elsewhere", "st-0", "succeeded"), now=T0)
        assert not rs.apply_report(s, report("", "st-0", "succeeded"), now=T0)
        assert rs.get(s, None).id == rid
        rs.abort(s, rid, now=T0)
    with Session(engine) as s, s.begin(), pytest.raises(RolloutError, match="no registered"):
        rs.start(s, release=8, version="", manifest_url=URL, policy=Policy(), now=T0, group="east")
