"""What the fleet page shows, read from the follow-up database.

:func:`load_fleet_page` gives one page of stations (those needing attention
first: the alerts of :mod:`followup.fleet.alerts`), filtered by group, version,
alert kind and a search on the station id or name, with each station's last
status, its latest configuration and update reports and its alerts; plus the
counts per alert kind and per version for the group shown and every group's
summary. Counting, filtering, ordering and paging are done in SQL on the
``stations`` row (its ``status_*`` columns), so only the page's stations are
loaded. :func:`load_station` adds one station's report history and commands.
Rollouts come through :class:`RolloutSource`, so the rollout tables (another
module's) plug in without touching this one.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, case, func, literal, not_, or_, select
from sqlalchemy.orm import Session

from followup.db.fleet import (
    StationCommand,
    StationConfigReport,
    StationDayCount,
    StationUpdateReport,
)
from followup.db.models import Station
from followup.fleet.alerts import (
    Alert,
    AlertKind,
    AlertRules,
    DayGap,
    StationView,
    station_alerts,
)
from followup.messages import N_
from sync.schema import DeviceStatus, StatusMessage

log = logging.getLogger(__name__)
MAX_GAPS_SHOWN = 14
"""Days with differing counts shown per station (the newest)."""

HISTORY = 50
"""How many config reports, update steps and commands the station page lists."""
PAGE_SIZE = 50
"""Stations per fleet page."""
MAX_PAGE = 100_000
VERSION_UNKNOWN = "unknown"
"""The version filter's value for stations that never reported one."""
ALERTS_ANY = "any"
"""The alert filter's value for "needing attention" (any alert)."""


def _english(message: str, **params: Any) -> str:
    return message % params if params else message


ALERT_TITLES: dict[AlertKind, str] = {
    AlertKind.OFFLINE: N_("Offline over 1 h"),
    AlertKind.NEVER_SEEN: N_("Never reported"),
    AlertKind.BACKLOG: N_("Backlog over 100"),
    AlertKind.DISK: N_("Disk under 10 % free"),
    AlertKind.DEVICE_UNSEEN: N_("Device not seen for a day"),
    AlertKind.DEVICE_BATTERY: N_("Device battery under 20 %"),
    AlertKind.CLOCK: N_("Clock not synchronised"),
    AlertKind.TECH_PIN: N_("Technician PIN guessed at"),
    AlertKind.COUNTS: N_("Readings missing (daily counts differ)"),
}
ALERT_CODES = (
    N_("any"), N_("offline"), N_("never_seen"), N_("backlog"), N_("disk"),
    N_("device_unseen"), N_("device_battery"), N_("clock"), N_("tech_pin"), N_("counts"),
)  # fmt: skip
"""The alert filter's values as the pages name them (the ids are the values)."""
SEARCH_MAX = 63


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
class FleetFilters:
    group: str | None = None
    version: str | None = None
    """A version, or :data:`VERSION_UNKNOWN`."""
    alert: str | None = None
    """:data:`ALERTS_ANY` or an :class:`AlertKind` value."""
    search: str | None = None
    """Part of a station id or name (lower case)."""
    page: int = 1

    @classmethod
    def from_query(
        cls, q: Mapping[str, str], _: Callable[..., str] | None = None
    ) -> tuple[FleetFilters, list[str]]:
        """The filters of a query string, and what was wrong with it (a wrong value is
        dropped and said, never echoed back unescaped), in the words ``_`` translates
        (the page's gettext; English without it)."""
        if _ is None:
            _ = _english
        errors: list[str] = []

        def text(name: str, limit: int) -> str | None:
            return (q.get(name) or "").strip()[:limit] or None

        alert = text("alert", 20)
        allowed = (ALERTS_ANY, *(k.value for k in AlertKind))
        if alert is not None and alert not in allowed:
            errors.append(
                _("alert: not one of %(allowed)s", allowed=", ".join(_(v) for v in allowed))
            )
            alert = None
        page = 1
        raw_page = (q.get("page") or "").strip()
        if raw_page:
            if (
                len(raw_page) <= len(str(MAX_PAGE))
                and raw_page.isascii()
                and raw_page.isdigit()
                and 1 <= int(raw_page) <= MAX_PAGE
            ):
                page = int(raw_page)
            else:
                errors.append(_("page: not a page number (1 to %(max)s)", max=MAX_PAGE))
        search = text("q", SEARCH_MAX)
        return (
            cls(
                group=text("group", 63),
                version=text("version", 200),
                alert=alert,
                search=search.lower() if search else None,
                page=page,
            ),
            errors,
        )

    def query(self, **changes: object) -> dict[str, str]:
        """The query string of these filters (with ``changes``), empty values left out;
        page 1 is left out too."""
        values: dict[str, object] = {
            "group": self.group,
            "version": self.version,
            "alert": self.alert,
            "q": self.search,
            "page": self.page,
        }
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v and not (k == "page" and v == 1)}


@dataclass(frozen=True, slots=True)
class FleetSummary:
    """Counts for the group and version filtered (all stations without a filter)."""

    total: int
    online: int
    offline: int
    alerting: int
    by_kind: tuple[tuple[AlertKind, int], ...]
    """Stations with each kind of alert."""
    versions: tuple[tuple[str, int], ...]
    """(version, stations) in the group filtered (whatever the version filter), most first."""


@dataclass(frozen=True, slots=True)
class FleetPage:
    rows: tuple[FleetRow, ...]
    summary: FleetSummary
    groups: tuple[GroupSummary, ...]
    """Every group of the fleet (whatever the filter), by name."""
    matched: int
    """Stations matching every filter (on every page)."""
    page: int
    """The page shown (the last one when the one asked for is past the end)."""
    pages: int
    page_size: int

    @property
    def first(self) -> int:
        """The position of the page's first station (1-based; 0 when none)."""
        return (self.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.page_size + len(self.rows)


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
        return None, N_("the stored status could not be read")


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


Report = StationConfigReport | StationUpdateReport


def _newest(model: type[Report]) -> Any:
    """The key of a station's newest report (by the station's ``at``, then arrival),
    correlated to ``stations``: one probe of the ``(station_id, at)`` index."""
    return (
        select(model.id)
        .where(model.station_id == Station.id)
        .order_by(model.at.desc(), model.id.desc())
        .limit(1)
        .correlate(Station)
        .scalar_subquery()
    )


def _latest(
    session: Session, ids: Sequence[str]
) -> tuple[dict[str, StationConfigReport], dict[str, StationUpdateReport]]:
    """The newest configuration report and update step of each of these stations.

    Keys first, then the rows by key: a window over these stations' reports
    would make PostgreSQL scan every report ever kept.
    """
    if not ids:
        return {}, {}
    pairs = session.execute(
        select(_newest(StationConfigReport), _newest(StationUpdateReport)).where(
            Station.id.in_(ids)
        )
    ).all()

    def rows(model: type[Report], keys: list[int]) -> dict[str, Any]:
        if not keys:
            return {}
        found: list[Any] = list(session.scalars(select(model).where(model.id.in_(keys))))
        return {r.station_id: r for r in found}

    return (
        rows(StationConfigReport, [c for c, _ in pairs if c is not None]),
        rows(StationUpdateReport, [u for _, u in pairs if u is not None]),
    )


def _row(  # noqa: PLR0917  (one station's parts, in order)
    st: Station,
    now: datetime,
    rules: AlertRules,
    config: StationConfigReport | None,
    update: StationUpdateReport | None,
    gaps: tuple[DayGap, ...] = (),
) -> FleetRow:
    status, error = _status(st.status, st.id)
    view = StationView(st.id, st.online, st.last_seen, status, gaps)
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


def alert_conditions(now: datetime, rules: AlertRules) -> dict[AlertKind, ColumnElement[bool]]:
    """Each alert kind of :func:`followup.fleet.alerts.station_alerts` as a condition
    on the ``stations`` row (its ``status_*`` columns), in the same order."""
    return {
        AlertKind.NEVER_SEEN: Station.last_seen.is_(None),
        AlertKind.OFFLINE: and_(
            Station.last_seen.is_not(None),
            not_(Station.online),
            Station.last_seen < now - rules.offline_after,
        ),
        AlertKind.BACKLOG: Station.status_backlog > rules.backlog_over,
        AlertKind.DISK: Station.status_disk_free_percent < rules.disk_free_below_percent,
        AlertKind.DEVICE_UNSEEN: or_(
            Station.status_device_never_seen,
            Station.status_device_oldest_seen < now - rules.device_unseen_after,
        ),
        AlertKind.DEVICE_BATTERY: (
            Station.status_device_min_battery < rules.device_battery_below_percent
        ),
        AlertKind.CLOCK: Station.status_clock_synced.is_(False),
        AlertKind.TECH_PIN: Station.status_tech_pin_failures >= rules.tech_pin_failures_from,
        AlertKind.COUNTS: (
            select(StationDayCount.station_id)
            .where(StationDayCount.station_id == Station.id, StationDayCount.differs)
            .exists()
        ),
    }


def count_gaps(session: Session, ids: Sequence[str]) -> dict[str, tuple[DayGap, ...]]:
    """The days whose daily counts differ, per station (newest first)."""
    if not ids:
        return {}
    out: dict[str, list[DayGap]] = {}
    for r in session.scalars(
        select(StationDayCount)
        .where(StationDayCount.station_id.in_(ids), StationDayCount.differs)
        .order_by(StationDayCount.station_id, StationDayCount.day.desc())
    ):
        out.setdefault(r.station_id, []).append(DayGap(r.day, r.held, r.acknowledged, r.stored))
    return {k: tuple(v[:MAX_GAPS_SHOWN]) for k, v in out.items()}


def _counted(cond: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows meet ``cond`` (NULL counts as not)."""
    return func.count(case((cond, 1)))


def _version_matches(version: str) -> ColumnElement[bool]:
    if version == VERSION_UNKNOWN:  # never reported (or, oddly, reported as "unknown")
        return or_(Station.status_version.is_(None), Station.status_version == version)
    return Station.status_version == version


def load_fleet_page(
    session: Session,
    *,
    now: datetime,
    filters: FleetFilters | None = None,
    rules: AlertRules | None = None,
    page_size: int = PAGE_SIZE,
) -> FleetPage:
    """One page of stations, those needing attention first (most alert kinds first,
    then by group and id), with the counts for the filtered group and version and
    every group's summary. Counting, filtering, ordering and paging are SQL; only
    the page's stations are loaded."""
    f = filters or FleetFilters()
    rules = rules or AlertRules()
    conds = alert_conditions(now, rules)
    any_alert = or_(*conds.values())
    score = sum((case((c, 1), else_=0) for c in conds.values()), start=literal(0))

    # Stations, online, alerting and each alert kind per group and version: one
    # scan, a few rows (groups × versions) from which every count is summed.
    cells = [
        _Cell(group, version, stations, online, alerting, tuple(kinds))
        for group, version, stations, online, alerting, *kinds in session.execute(
            select(
                Station.group,
                Station.status_version,
                func.count(),
                _counted(Station.online.is_(True)),
                _counted(any_alert),
                *(_counted(c) for c in conds.values()),
            ).group_by(Station.group, Station.status_version)
        )
    ]
    by_group: dict[str, list[_Cell]] = {}
    for cell in cells:
        by_group.setdefault(cell.group, []).append(cell)
    summaries = tuple(
        GroupSummary(
            group=g,
            stations=sum(c.stations for c in members),
            online=sum(c.online for c in members),
            alerting=sum(c.alerting for c in members),
            versions=_versions(members),
        )
        for g, members in sorted(by_group.items())
    )
    in_group = [c for c in cells if f.group is None or c.group == f.group]
    in_scope = [c for c in in_group if f.version is None or c.label == f.version]
    total = sum(c.stations for c in in_scope)
    online = sum(c.online for c in in_scope)

    scope: list[ColumnElement[bool]] = []
    if f.group is not None:
        scope.append(Station.group == f.group)
    if f.version is not None:
        scope.append(_version_matches(f.version))
    where = list(scope)
    if f.alert == ALERTS_ANY:
        where.append(any_alert)
    elif f.alert is not None:
        where.append(conds[AlertKind(f.alert)])
    if f.search:
        where.append(
            or_(
                Station.id.contains(f.search, autoescape=True),
                func.lower(Station.name).contains(f.search, autoescape=True),
            )
        )
    matched = session.scalar(select(func.count()).select_from(Station).where(*where)) or 0
    pages = max(1, -(-matched // page_size))
    page = min(f.page, pages)
    stations = list(
        session.scalars(
            select(Station)
            .where(*where)
            .order_by(score.desc(), Station.group, Station.id)
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    )
    ids = [st.id for st in stations]
    configs, updates = _latest(session, ids)
    gaps = count_gaps(session, ids)
    return FleetPage(
        rows=tuple(
            _row(st, now, rules, configs.get(st.id), updates.get(st.id), gaps.get(st.id, ()))
            for st in stations
        ),
        summary=FleetSummary(
            total=total,
            online=online,
            offline=total - online,
            alerting=sum(c.alerting for c in in_scope),
            by_kind=tuple(
                (kind, sum(c.by_kind[i] for c in in_scope)) for i, kind in enumerate(conds)
            ),
            versions=_versions(in_group),
        ),
        groups=summaries,
        matched=matched,
        page=page,
        pages=pages,
        page_size=page_size,
    )


@dataclass(frozen=True, slots=True)
class _Cell:
    """The counts of one group's stations running one version."""

    group: str
    version: str | None
    stations: int
    online: int
    alerting: int
    by_kind: tuple[int, ...]

    @property
    def label(self) -> str:
        return VERSION_UNKNOWN if self.version is None else self.version


def _versions(cells: Iterable[_Cell]) -> tuple[tuple[str, int], ...]:
    """(version, stations), most stations first."""
    counts = Counter[str]()
    for c in cells:
        counts[c.label] += c.stations
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


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
        count_gaps(session, [station_id]).get(station_id, ()),
    )
    return StationDetail(
        row=row,
        configs=tuple(_config(c) for c in configs),
        updates=tuple(_update(u) for u in updates),
        commands=load_commands(session, station_id),
    )
