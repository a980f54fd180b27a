"""What the fleet page shows, read from the follow-up database.

:func:`load_fleet` gives every station (optionally one group) with its last
status, its latest configuration and update reports and its alerts
(:mod:`followup.fleet_alerts`), plus the counts and the per-group version
summary; :func:`load_station` adds one station's report history and
commands. Rollouts come through :class:`RolloutSource`, so the rollout
tables (another module's) plug in without touching this one.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from followup.db.fleet import StationCommand, StationConfigReport, StationUpdateReport
from followup.db.models import Station
from followup.fleet_alerts import Alert, AlertRules, StationView, station_alerts
from sync.schema import DeviceStatus, StatusMessage

log = logging.getLogger(__name__)

HISTORY = 50
"""How many config reports, update steps and commands the station page lists."""


@dataclass(frozen=True, slots=True)
class ConfigSummary:
    outcome: str
    at: datetime
    group_version: int | None
    station_version: int | None
    running_group_version: int | None
    running_station_version: int | None
    reason: str
    restart_needed: bool


@dataclass(frozen=True, slots=True)
class UpdateSummary:
    step: str
    outcome: str
    at: datetime
    rollout_id: str
    release: int | None
    running_release: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class FleetRow:
    station_id: str
    name: str
    group: str
    area: str
    online: bool
    last_seen: datetime | None
    status: StatusMessage | None
    status_error: str | None
    config: ConfigSummary | None
    update: UpdateSummary | None
    alerts: tuple[Alert, ...]

    @property
    def version(self) -> str | None:
        return self.status.version if self.status else None

    @property
    def devices(self) -> Sequence[DeviceStatus]:
        return self.status.devices if self.status else ()


@dataclass(frozen=True, slots=True)
class GroupSummary:
    group: str
    stations: int
    online: int
    alerting: int
    versions: tuple[tuple[str, int], ...]
    """(version, stations running it), most stations first; "unknown" if never reported."""


@dataclass(frozen=True, slots=True)
class Fleet:
    rows: tuple[FleetRow, ...]
    groups: tuple[GroupSummary, ...]
    """Every group of the fleet (whatever the filter), by name."""
    total: int
    online: int
    offline: int
    alerting: int


@dataclass(frozen=True, slots=True)
class CommandView:
    id: str
    command: str
    args: dict[str, object]
    issued_at: datetime
    expires_at: datetime
    issued_by: str
    published_at: datetime | None
    publish_error: str | None
    result_ok: bool | None
    result_detail: str | None
    result_output: str | None
    result_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.result_ok is not None:
            return "succeeded" if self.result_ok else "failed"
        if self.publish_error:
            return "not sent"
        if now > self.expires_at:
            return "no answer"
        return "waiting"


@dataclass(frozen=True, slots=True)
class RolloutSummary:
    rollout_id: str
    release: str
    """The release number, with its version when known."""
    state: str
    detail: str = ""
    """Why it stopped, when it did."""
    group: str = ""
    stage: str = ""
    """e.g. "2 of 3"."""
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    updated_at: datetime | None = None


class RolloutSource(Protocol):
    """Where the fleet page reads rollouts from (the rollout module's tables)."""

    def rollouts(self, session: Session) -> list[RolloutSummary]: ...


class NoRollouts:
    """The fleet page's rollouts until the rollout tables are there: none."""

    def rollouts(self, session: Session) -> list[RolloutSummary]:
        return []


@dataclass(frozen=True, slots=True)
class StationDetail:
    row: FleetRow
    configs: tuple[ConfigSummary, ...]
    updates: tuple[UpdateSummary, ...]
    commands: tuple[CommandView, ...] = field(default=())


def _status(raw: object, station_id: str) -> tuple[StatusMessage | None, str | None]:
    if raw is None:
        return None, None
    try:
        return StatusMessage.model_validate(raw), None
    except ValidationError as err:
        # Stored by an older or newer ingest: show the station, say why no status.
        log.warning("station %s: stored status unreadable: %s", station_id, err.errors()[0])
        return None, "the stored status could not be read"


def _config(r: StationConfigReport) -> ConfigSummary:
    return ConfigSummary(
        outcome=r.outcome,
        at=r.at,
        group_version=r.group_version,
        station_version=r.station_version,
        running_group_version=r.running_group_version,
        running_station_version=r.running_station_version,
        reason=r.reason,
        restart_needed=r.restart_needed,
    )


def _update(r: StationUpdateReport) -> UpdateSummary:
    return UpdateSummary(
        step=r.step,
        outcome=r.outcome,
        at=r.at,
        rollout_id=r.rollout_id,
        release=r.release,
        running_release=r.running_release,
        reason=r.reason,
    )


def _latest(
    session: Session, model: type[StationConfigReport] | type[StationUpdateReport]
) -> dict[str, Any]:
    """The newest report per station (by the station's ``at``, then arrival)."""
    rank = (
        select(
            model.id,
            func.row_number()
            .over(partition_by=model.station_id, order_by=(model.at.desc(), model.id.desc()))
            .label("n"),
        )
    ).subquery()
    q = select(model).join(rank, model.id == rank.c.id).where(rank.c.n == 1)
    rows: list[Any] = list(session.scalars(q))
    return {r.station_id: r for r in rows}


def _row(
    st: Station,
    now: datetime,
    rules: AlertRules,
    config: StationConfigReport | None,
    update: StationUpdateReport | None,
) -> FleetRow:
    status, error = _status(st.status, st.id)
    view = StationView(st.id, st.online, st.last_seen, status)
    return FleetRow(
        station_id=st.id,
        name=st.name,
        group=st.group,
        area=st.area,
        online=st.online,
        last_seen=st.last_seen,
        status=status,
        status_error=error,
        config=_config(config) if config else None,
        update=_update(update) if update else None,
        alerts=tuple(station_alerts(view, now=now, rules=rules)),
    )


def load_fleet(
    session: Session, *, now: datetime, group: str | None = None, rules: AlertRules | None = None
) -> Fleet:
    rules = rules or AlertRules()
    stations = list(session.scalars(select(Station).order_by(Station.group, Station.id)))
    configs = _latest(session, StationConfigReport)
    updates = _latest(session, StationUpdateReport)
    rows = [_row(s, now, rules, configs.get(s.id), updates.get(s.id)) for s in stations]
    groups: dict[str, list[FleetRow]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)
    summaries = tuple(
        GroupSummary(
            group=g,
            stations=len(members),
            online=sum(r.online for r in members),
            alerting=sum(bool(r.alerts) for r in members),
            versions=tuple(
                sorted(
                    Counter(r.version or "unknown" for r in members).items(),
                    key=lambda kv: (-kv[1], kv[0]),
                )
            ),
        )
        for g, members in sorted(groups.items())
    )
    shown = tuple(r for r in rows if group is None or r.group == group)
    return Fleet(
        rows=shown,
        groups=summaries,
        total=len(shown),
        online=sum(r.online for r in shown),
        offline=sum(not r.online for r in shown),
        alerting=sum(bool(r.alerts) for r in shown),
    )


def _command(c: StationCommand) -> CommandView:
    return CommandView(
        id=c.id,
        command=c.command,
        args=dict(c.args or {}),
        issued_at=c.issued_at,
        expires_at=c.expires_at,
        issued_by=c.issued_by,
        published_at=c.published_at,
        publish_error=c.publish_error,
        result_ok=c.result_ok,
        result_detail=c.result_detail,
        result_output=c.result_output,
        result_at=c.result_at,
    )


def load_commands(session: Session, station_id: str) -> tuple[CommandView, ...]:
    q = (
        select(StationCommand)
        .where(StationCommand.station_id == station_id)
        .order_by(StationCommand.issued_at.desc(), StationCommand.id)
        .limit(HISTORY)
    )
    return tuple(_command(c) for c in session.scalars(q))


def load_station(
    session: Session, station_id: str, *, now: datetime, rules: AlertRules | None = None
) -> StationDetail | None:
    st = session.get(Station, station_id)
    if st is None:
        return None
    configs = list(
        session.scalars(
            select(StationConfigReport)
            .where(StationConfigReport.station_id == station_id)
            .order_by(StationConfigReport.at.desc(), StationConfigReport.id.desc())
            .limit(HISTORY)
        )
    )
    updates = list(
        session.scalars(
            select(StationUpdateReport)
            .where(StationUpdateReport.station_id == station_id)
            .order_by(StationUpdateReport.at.desc(), StationUpdateReport.id.desc())
            .limit(HISTORY)
        )
    )
    row = _row(
        st,
        now,
        rules or AlertRules(),
        configs[0] if configs else None,
        updates[0] if updates else None,
    )
    return StationDetail(
        row=row,
        configs=tuple(_config(c) for c in configs),
        updates=tuple(_update(u) for u in updates),
        commands=load_commands(session, station_id),
    )
