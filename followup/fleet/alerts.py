"""Which stations need a visit: alerts from a station's last status (pure).

The fleet page lists them; the rules are the issue's: offline for more than an
hour, a backlog of more than 100 readings, less than 10 % disk free, a device
not seen for a day; a device whose battery (when it reports one) is below
20 %; a station whose clock is not synchronised (its readings then take
their arrival time here, and it sets no device clock); and three or more
wrong technician PINs in a row (someone may be guessing); and a day for
which the station's daily counts differ from what the doctor's side stored
(issue 19, loss you can see). Inputs are what the
follow-up database keeps per station (online flag, last seen, the last
``hk.status/1``); nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from sync.schema import StatusMessage


class AlertKind(StrEnum):
    OFFLINE = "offline"
    NEVER_SEEN = "never_seen"
    BACKLOG = "backlog"
    DISK = "disk"
    DEVICE_UNSEEN = "device_unseen"
    DEVICE_BATTERY = "device_battery"
    CLOCK = "clock"
    TECH_PIN = "tech_pin"
    COUNTS = "counts"


@dataclass(frozen=True, slots=True)
class AlertRules:
    offline_after: timedelta = timedelta(hours=1)
    backlog_over: int = 100
    disk_free_below_percent: float = 10.0
    device_unseen_after: timedelta = timedelta(days=1)
    device_battery_below_percent: int = 20
    tech_pin_failures_from: int = 3
    """Wrong technician PINs in a row from which someone may be guessing."""


@dataclass(frozen=True, slots=True)
class Alert:
    station_id: str
    kind: AlertKind
    detail: str
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class DayGap:
    """A day whose counts differ: the station's ``held`` and ``acknowledged``
    (its ``hk.counts/1``) and what the doctor's side had ``stored``."""

    day: date
    held: int
    acknowledged: int
    stored: int


@dataclass(frozen=True, slots=True)
class StationView:
    """What the fleet page knows of one station."""

    station_id: str
    online: bool
    last_seen: datetime | None
    status: StatusMessage | None
    count_gaps: tuple[DayGap, ...] = ()


def station_alerts(
    view: StationView, *, now: datetime, rules: AlertRules | None = None
) -> list[Alert]:
    rules = rules or AlertRules()
    sid = view.station_id
    alerts: list[Alert] = []
    if view.last_seen is None:
        alerts.append(Alert(sid, AlertKind.NEVER_SEEN, "never reported a status"))
    elif not view.online and now - view.last_seen > rules.offline_after:
        hours = (now - view.last_seen).total_seconds() / 3600
        alerts.append(
            Alert(sid, AlertKind.OFFLINE, f"offline for {hours:.1f} h", since=view.last_seen)
        )
    alerts.extend(
        Alert(
            sid,
            AlertKind.COUNTS,
            f"{g.day:%Y-%m-%d} (UTC): the station holds {g.held}, "
            f"{g.acknowledged} acknowledged, {g.stored} stored here",
        )
        for g in view.count_gaps
    )
    st = view.status
    if st is None:
        return alerts
    if st.backlog is not None and st.backlog > rules.backlog_over:
        alerts.append(
            Alert(
                sid,
                AlertKind.BACKLOG,
                f"{st.backlog} readings not yet delivered",
                since=st.oldest_undelivered,
            )
        )
    if st.disk_free_percent is not None and st.disk_free_percent < rules.disk_free_below_percent:
        alerts.append(Alert(sid, AlertKind.DISK, f"{st.disk_free_percent:.1f} % disk free"))
    for device in st.devices:
        seen = device.last_seen
        if seen is None or now - seen > rules.device_unseen_after:
            what = (
                "never seen"
                if seen is None
                else f"not seen since {seen.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            )
            alerts.append(
                Alert(sid, AlertKind.DEVICE_UNSEEN, f"{device.role} {device.model}: {what}", seen)
            )
        battery = device.battery_percent
        if battery is not None and battery < rules.device_battery_below_percent:
            alerts.append(
                Alert(
                    sid,
                    AlertKind.DEVICE_BATTERY,
                    f"{device.role} {device.model}: battery {battery} %",
                )
            )
    if st.clock_synced is False:
        alerts.append(Alert(sid, AlertKind.CLOCK, _clock_words(st)))
    pins = st.tech_pin_failures
    if pins is not None and pins >= rules.tech_pin_failures_from:
        until = st.tech_pin_locked_until
        locked = f", refused until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if until else ""
        alerts.append(
            Alert(sid, AlertKind.TECH_PIN, f"technician PIN: {pins} wrong in a row{locked}")
        )
    return alerts


def _clock_words(st: StatusMessage) -> str:
    words = "clock not synchronised"
    if st.clock_max_error_s is not None:
        words += f" (error up to {st.clock_max_error_s:.1f} s)"
    if st.clock_last_sync is not None:
        words += f", last synchronised {st.clock_last_sync.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return words
