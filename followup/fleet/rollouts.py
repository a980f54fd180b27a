"""The fleet page's rollouts section, read from the rollout tables by name.

The tables ``rollouts`` and ``rollout_stations`` belong to the rollout module
(``followup/db/rollouts.py``, written by ``healthkiosk admin rollout ...`` and
its driver). This module reads only the columns it documents, through plain
table and column names, so the fleet page does not depend on that module's
classes; while the tables do not exist (a database made before them) the
section says "No rollouts."
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, column, func, inspect, select, table
from sqlalchemy.orm import Session

from followup.fleet.view import RolloutSummary
from healthkiosk.dbtypes import UtcDateTime

ACTIVE = ("running", "paused")
RECENT_FINISHED = 5
"""Finished rollouts (completed, stopped, aborted) shown below the active ones."""
SUCCEEDED = "succeeded"
FAILED = ("failed", "rolled_back", "refused")

ROLLOUTS = table(
    "rollouts",
    column("id", String),
    column("release", Integer),
    column("version", String),
    column("group", String),
    column("state", String),
    column("current_stage", Integer),
    column("stages", JSON),
    column("reason", Text),
    column("updated_at", UtcDateTime()),
)
ROLLOUT_STATIONS = table(
    "rollout_stations",
    column("rollout_id", String),
    column("stage", Integer),
    column("outcome", String),
)


class RolloutTables:
    """A :class:`followup.fleet.view.RolloutSource` over ``rollouts`` / ``rollout_stations``."""

    def rollouts(self, session: Session) -> list[RolloutSummary]:
        if not inspect(session.connection()).has_table("rollouts"):
            return []
        r = ROLLOUTS.c
        active = list(session.execute(select(ROLLOUTS).where(r.state.in_(ACTIVE))))
        finished = list(
            session.execute(
                select(ROLLOUTS)
                .where(r.state.not_in(ACTIVE))
                .order_by(r.updated_at.desc())
                .limit(RECENT_FINISHED)
            )
        )
        rows = sorted(active, key=lambda x: x.updated_at, reverse=True) + finished
        if not rows:
            return []
        rs = ROLLOUT_STATIONS.c
        counts: dict[str, Counter[str]] = {}
        for rid, outcome, n in session.execute(
            select(rs.rollout_id, rs.outcome, func.count())
            .where(rs.rollout_id.in_([x.id for x in rows]))
            .group_by(rs.rollout_id, rs.outcome)
        ):
            c = counts.setdefault(rid, Counter())
            if outcome == SUCCEEDED:
                c["succeeded"] += n
            elif outcome in FAILED:
                c["failed"] += n
            else:
                c["pending"] += n
        return [_summary(x, counts.get(x.id, Counter())) for x in rows]


def _summary(x: Any, c: Counter[str]) -> RolloutSummary:
    stages = list(x.stages or [])
    release = f"{x.release}" + (f" ({x.version})" if x.version else "")
    return RolloutSummary(
        rollout_id=str(x.id),
        release=release,
        state=str(x.state),
        detail=str(x.reason or ""),
        group=str(x.group or "all stations"),
        stage=f"{int(x.current_stage or 0) + 1} of {len(stages)}" if stages else "",
        succeeded=c["succeeded"],
        failed=c["failed"],
        pending=c["pending"],
        updated_at=x.updated_at,
    )
