"""The station's side of update orders, without a broker: choosing the order,
and turning the runner's progress lines into reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sync.schema import UpdateOrder
from sync.update_orders import OrderBook, order_key, report_for

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
