"""Rollouts in the follow-up database: the pure decisions of :mod:`followup.rollout.decisions`
kept in ``rollouts`` / ``rollout_stations`` (:mod:`followup.db.rollouts`).

Every function works in the caller's session and transaction. The CLI uses
:func:`start`, :func:`pause`, :func:`resume`, :func:`abort`, :func:`overview`;
the driver (:mod:`followup.rollout.driver`) uses :func:`apply_report`,
:func:`due_orders`, :func:`mark_ordered`, :func:`due_clears`, :func:`mark_cleared`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.db.audit_log import audit
from followup.db.models import Station
from followup.db.rollouts import RolloutRow, RolloutStationRow
from followup.rollout import decisions as pure
from healthkiosk.errors import RolloutError
from sync.schema import UpdateOrder, UpdateReport

ACTIVE = (pure.RolloutState.RUNNING.value, pure.RolloutState.PAUSED.value)
FINAL_OUTCOMES = ("succeeded", "failed", "rolled_back", "refused")


def _as_result(outcome: str) -> str:
    """The wire outcome as :mod:`followup.rollout.decisions` counts it."""
    return pure.SUCCESS if outcome == "succeeded" else outcome


def _stations(session: Session, row: RolloutRow) -> list[RolloutStationRow]:
    return list(
        session.scalars(
            select(RolloutStationRow)
            .where(RolloutStationRow.rollout_id == row.id)
            .order_by(RolloutStationRow.position)
        )
    )


def to_pure(session: Session, row: RolloutRow) -> pure.Rollout:
    members = _stations(session, row)
    n_stages = max((m.stage for m in members), default=-1) + 1
    stages = tuple(tuple(m.station_id for m in members if m.stage == i) for i in range(n_stages))
    return pure.Rollout(
        release=row.release,
        version=row.version,
        policy=pure.Policy(
            stages=tuple(row.stages),
            success_threshold=row.success_threshold,
            error_threshold=row.error_threshold,
        ),
        stages=stages,
        current=row.current_stage,
        state=pure.RolloutState(row.state),
        results={
            m.station_id: _as_result(m.outcome)
            for m in members
            if m.outcome in FINAL_OUTCOMES and m.stage <= row.current_stage
        },
        reason=row.reason,
    )


def _store(row: RolloutRow, r: pure.Rollout, now: datetime) -> None:
    if (row.state, row.current_stage, row.reason) != (r.state.value, r.current, r.reason):
        row.state, row.current_stage, row.reason = r.state.value, r.current, r.reason
        row.updated_at = now


def active(session: Session) -> RolloutRow | None:
    return session.scalars(
        select(RolloutRow).where(RolloutRow.state.in_(ACTIVE)).order_by(RolloutRow.created_at)
    ).first()


def get(session: Session, rollout_id: str | None) -> RolloutRow:
    """The named rollout, or the active one, or the latest."""
    if rollout_id:
        row = session.get(RolloutRow, rollout_id)
        if row is None:
            raise RolloutError(f"no rollout {rollout_id!r}")
        return row
    row = (
        active(session)
        or session.scalars(select(RolloutRow).order_by(RolloutRow.created_at.desc())).first()
    )
    if row is None:
        raise RolloutError("no rollout yet")
    return row


def start(
    session: Session,
    *,
    release: int,
    version: str,
    manifest_url: str,
    policy: pure.Policy,
    now: datetime,
    group: str | None = None,
    canaries: Sequence[str] = (),
    by: str = "",
    remote: str = "",
) -> RolloutRow:
    """Plan a rollout over the registered stations (of ``group``); the driver publishes."""
    running = active(session)
    if running is not None:
        raise RolloutError(
            f"rollout {running.id} (release {running.release}) is {running.state}: "
            "abort it or let it finish first"
        )
    query = select(Station.id)
    if group:
        query = query.where(Station.group == group)
    stations = list(session.scalars(query))
    if not stations:
        raise RolloutError(
            f"no registered stations{f' in group {group}' if group else ''}"
            " (healthkiosk admin station add)"
        )
    unknown = [c for c in canaries if c not in stations]
    if unknown:
        raise RolloutError(f"canary {unknown[0]!r} is not a registered station of this rollout")
    plan = pure.plan(
        release=release, version=version, stations=stations, policy=policy, canaries=canaries
    )
    row = RolloutRow(
        id=f"r{release}-{now.strftime('%Y%m%dT%H%M%S')}",
        release=release,
        version=version,
        manifest_url=manifest_url,
        group=group,
        state=plan.state.value,
        current_stage=plan.current,
        stages=list(policy.stages),
        success_threshold=policy.success_threshold,
        error_threshold=policy.error_threshold,
        reason="",
        created_by=by,
        created_at=now,
        updated_at=now,
        extra={},
    )
    if session.get(RolloutRow, row.id) is not None:
        raise RolloutError(f"rollout {row.id} exists already; try again in a second")
    session.add(row)
    session.flush()
    position = 0
    for index, stage in enumerate(plan.stages):
        for station in stage:
            session.add(
                RolloutStationRow(
                    rollout_id=row.id, station_id=station, stage=index, position=position
                )
            )
            position += 1
    audit(
        session,
        action="rollout.start",
        now=now,
        user_id=None,
        username=by,
        remote=remote,
        target=row.id,
        detail={"release": release, "stations": len(stations), "stages": list(policy.stages)},
    )
    return row


def _change(
    session: Session, rollout_id: str | None, action: str, now: datetime, *, by: str, remote: str
) -> RolloutRow:
    row = get(session, rollout_id)
    before = to_pure(session, row)
    if action == "pause":
        after = pure.pause(before)
    elif action == "resume":
        after = pure.resume(before)
    else:
        after = pure.abort(before)
    if after is before:
        raise RolloutError(f"rollout {row.id} is {row.state}: cannot {action} it")
    _store(row, after, now)
    audit(
        session,
        action=f"rollout.{action}",
        now=now,
        user_id=None,
        username=by,
        target=row.id,
        remote=remote,
    )
    return row


def pause(
    session: Session, rollout_id: str | None, *, now: datetime, by: str = "", remote: str = ""
) -> RolloutRow:
    return _change(session, rollout_id, "pause", now, by=by, remote=remote)


def resume(
    session: Session, rollout_id: str | None, *, now: datetime, by: str = "", remote: str = ""
) -> RolloutRow:
    return _change(session, rollout_id, "resume", now, by=by, remote=remote)


def abort(
    session: Session, rollout_id: str | None, *, now: datetime, by: str = "", remote: str = ""
) -> RolloutRow:
    return _change(session, rollout_id, "abort", now, by=by, remote=remote)


# --- the driver's side -------------------------------------------------------------------


def apply_report(session: Session, report: UpdateReport, *, now: datetime) -> bool:
    """Record a station's report; a final one feeds the rollout's decisions.
    False when the report belongs to no rollout here (or to no station of it)."""
    if not report.rollout_id:
        return False
    row = session.get(RolloutRow, report.rollout_id)
    member = session.get(RolloutStationRow, (report.rollout_id, report.station_id))
    if row is None or member is None:
        return False
    if member.outcome in FINAL_OUTCOMES:
        return True  # its first final outcome stands (a retained copy seen again)
    before = to_pure(session, row)
    member.step = report.step
    member.outcome = report.outcome
    member.reason = report.reason
    member.running_release = report.running_release
    member.reported_at = report.at
    if report.outcome in FINAL_OUTCOMES:
        member.finished_at = now
        _store(row, pure.record(before, report.station_id, _as_result(report.outcome)), now)
    return True


@dataclass(frozen=True, slots=True)
class DueOrder:
    rollout_id: str
    station_id: str
    order: UpdateOrder


def due_orders(session: Session) -> list[DueOrder]:
    """Orders to publish: the running rollout's current-stage stations not yet ordered."""
    out: list[DueOrder] = []
    for row in session.scalars(
        select(RolloutRow).where(RolloutRow.state == pure.RolloutState.RUNNING.value)
    ):
        targets = set(pure.targets(to_pure(session, row)))
        for m in _stations(session, row):
            if m.station_id in targets and m.ordered_at is None:
                order = UpdateOrder(
                    scope="station",
                    target=m.station_id,
                    release=row.release,
                    manifest_url=row.manifest_url,
                    rollout_id=row.id,
                    # The same order every time it is published: a station
                    # that has handled it does not run it again.
                    issued_at=row.created_at,
                )
                out.append(DueOrder(row.id, m.station_id, order))
    return out


def mark_ordered(session: Session, rollout_id: str, station_id: str, *, now: datetime) -> None:
    member = session.get(RolloutStationRow, (rollout_id, station_id))
    if member is not None and member.ordered_at is None:
        member.ordered_at = now


def due_clears(session: Session) -> dict[str, list[str]]:
    """Stopped or aborted rollouts whose retained orders are still out: for each,
    the ordered stations without a final outcome (they must not start)."""
    out: dict[str, list[str]] = {}
    for row in session.scalars(
        select(RolloutRow).where(
            RolloutRow.state.in_(
                (pure.RolloutState.STOPPED.value, pure.RolloutState.ABORTED.value)
            ),
            RolloutRow.orders_cleared_at.is_(None),
        )
    ):
        out[row.id] = [
            m.station_id
            for m in _stations(session, row)
            if m.ordered_at is not None and m.outcome not in FINAL_OUTCOMES
        ]
    return out


def mark_cleared(session: Session, rollout_id: str, *, now: datetime) -> None:
    row = session.get(RolloutRow, rollout_id)
    if row is not None:
        row.orders_cleared_at = now


def overview(session: Session, rollout_id: str | None = None) -> dict[str, Any]:
    """The rollout and its stations as plain data (``admin rollout status``)."""
    row = get(session, rollout_id)
    r = to_pure(session, row)
    stages = []
    for i in range(len(r.stages)):
        ok, failed, waiting = r.stage_counts(i)
        stages.append({"stage": i + 1, "stations": len(r.stages[i]), "succeeded": ok,
                       "failed": failed, "waiting": waiting})  # fmt: skip
    return {
        "id": row.id,
        "release": row.release,
        "version": row.version,
        "manifest_url": row.manifest_url,
        "group": row.group,
        "state": row.state,
        "stage": row.current_stage + 1,
        "reason": row.reason,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "stages": stages,
        "stations": [
            {
                "station": m.station_id,
                "stage": m.stage + 1,
                "ordered": m.ordered_at is not None,
                "outcome": m.outcome,
                "step": m.step,
                "reason": m.reason,
                "running_release": m.running_release,
            }
            for m in _stations(session, row)
        ],
    }
