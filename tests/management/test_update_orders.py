"""The station's side of update orders, without a broker: choosing the order,
and turning the runner's progress lines into reports."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from healthkiosk.config import Config
from management.update_orders import OrderBook, UpdateOrders, _boot_id, order_key, report_for
from sync.schema import UpdateOrder, to_dict

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def order(scope: str, target: str, release: int, issued: datetime = T0) -> UpdateOrder:
    return UpdateOrder(
        scope=scope, target=target, release=release,  # type: ignore[arg-type]
        manifest_url=f"http://r/{release}/manifest.json", rollout_id="r1", issued_at=issued,
    )  # fmt: skip


def test_the_stations_own_order_wins_over_its_groups() -> None:
    book = OrderBook()
    assert book.effective() is None
    book.group = order("group", "g1", 5)
    assert book.effective() == book.group
    book.station = order("station", "st-a", 4)
    assert book.effective() == book.station
    book.station = None  # cleared: the group's order applies again
    assert book.effective() == book.group


def test_a_reissued_order_is_a_new_order() -> None:
    later = datetime(2026, 11, 26, tzinfo=UTC)
    assert order_key(order("group", "g1", 5)) == order_key(order("group", "g1", 5))
    assert order_key(order("group", "g1", 5)) != order_key(order("group", "g1", 5, later))


@pytest.mark.parametrize(
    ("line", "outcome", "reason"),
    [
        ({"event": "start", "pid": 1}, "in_progress", "updater started"),
        ({"event": "progress", "step": "download", "detail": "w.whl", "done": 50,
          "total": 200}, "in_progress", "w.whl 25% of 200 bytes"),
        ({"event": "progress", "step": "wait_visit", "detail": "x", "visit": True},
         "waiting", "a visit is in progress"),
        ({"event": "result", "outcome": "installed", "detail": ""}, "succeeded", "installed"),
        ({"event": "result", "outcome": "refused", "reason": "downgrade",
          "detail": "release 1 <= 2"}, "refused", "downgrade: release 1 <= 2"),
        ({"event": "result", "outcome": "rolled_back", "reason": "hangs without READY",
          "detail": "back on release 1"}, "rolled_back",
         "hangs without READY; back on release 1"),
        ({"event": "result", "outcome": "interrupted", "reason": "deadline", "detail": "slow"},
         "failed", "interrupted (deadline): slow"),
        ({"event": "error", "reason": "visit_in_progress", "message": "4 h"}, "failed",
         "visit_in_progress: 4 h"),
    ],
)  # fmt: skip
def test_progress_lines_become_reports(line: dict[str, Any], outcome: str, reason: str) -> None:
    o = order("station", "st-a", 2)
    rep = report_for(line, station="st-a", order=o, running=1)
    assert rep is not None
    assert (rep.outcome, rep.reason) == (outcome, reason)
    assert (rep.station_id, rep.release, rep.rollout_id) == ("st-a", 2, "r1")
    assert rep.running_release == 1


def test_the_done_step_waits_for_the_result_line() -> None:
    line = {"event": "progress", "step": "done", "detail": "x"}
    assert report_for(line, station="st-a", order=order("station", "st-a", 2), running=1) is None


def _orders(tmp_path: Path) -> UpdateOrders:
    cfg = Config.model_validate(
        {
            "station": {"id": "st-a", "group": "g1", "data_dir": str(tmp_path / "data")},
            "update": {"root": str(tmp_path / "opt"), "trusted_keys": [str(tmp_path / "k")]},
        }
    )
    (tmp_path / "data").mkdir()
    return UpdateOrders(cfg, spawn=lambda cmd, log: None)


def _lines(key: str, *events: dict[str, Any]) -> bytes:
    return b"".join(json.dumps({"key": key, **e}).encode() + b"\n" for e in events)


async def test_a_restarted_kiosk_sync_reports_from_the_first_unreported_step(
    tmp_path: Path,
) -> None:
    uo = _orders(tmp_path)
    o = order("station", "st-a", 2)
    key = order_key(o)
    head = _lines(key, {"event": "start", "pid": 999_999_999, "boot": "another boot"},
                  {"event": "progress", "step": "install", "detail": "begins"})  # fmt: skip
    tail = _lines(key, {"event": "progress", "step": "switch", "detail": "current -> x"},
                  {"event": "progress", "step": "first_start", "detail": "start 1/3"},
                  {"event": "result", "outcome": "installed", "detail": "2 installed"})  # fmt: skip
    uo.progress_path.write_bytes(head + tail)
    uo._save(
        launched={"key": key, "order": to_dict(o)},
        reported={"key": key, "offset": len(head)},  # the old process got this far
    )
    assert uo._runner_pid(key) == 0  # started in another boot: gone
    worker = asyncio.create_task(uo._worker())
    for _ in range(100):
        if any(r.outcome == "succeeded" for r, _ in uo._out.items):
            break
        await asyncio.sleep(0.05)
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    steps = [(r.step, r.outcome) for r, _ in uo._out.items]
    assert [r.reason for r, _ in uo._out.items][-1] == "2 installed"
    assert steps == [("switch", "in_progress"), ("first_start", "in_progress"),
                     ("done", "succeeded")]  # fmt: skip
    saved = json.loads(uo.state_path.read_text())
    assert saved["handled"] == key and saved["launched"] is None
    assert saved["final"]["outcome"] == "succeeded" and saved["final_sent"] is False


async def test_a_runner_gone_without_a_result_is_started_once_more_then_failed(
    tmp_path: Path,
) -> None:
    uo = _orders(tmp_path)
    spawned: list[list[str]] = []
    uo._spawn = lambda cmd, log: spawned.append(cmd)
    uo.cfg.update.order_command.append("runner")
    o = order("station", "st-a", 2)
    key = order_key(o)
    dead = {"event": "start", "pid": 999_999_999, "boot": _boot_id()}
    uo.progress_path.write_bytes(_lines(key, dead))
    uo._save(launched={"key": key, "order": to_dict(o)})
    worker = asyncio.create_task(uo._worker())
    for _ in range(100):
        if spawned and not uo.progress_path.read_bytes().count(b"\n") > 1:
            uo.progress_path.write_bytes(_lines(key, dead, dead))  # the second one dies too
        if any(r.outcome == "failed" for r, _ in uo._out.items):
            break
        await asyncio.sleep(0.05)
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    assert spawned == [["runner"]]
    final = [r for r, _ in uo._out.items if r.outcome == "failed"]
    assert final and final[0].reason == "the updater stopped twice without a result"
    assert json.loads(uo.order_path.read_text())["key"] == key  # handed over again
