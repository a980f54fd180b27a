"""Fleet alerts: offline > 1 h, backlog > 100, disk < 10 %, device unseen for a day,
device battery < 20 %, a clock not synchronised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from followup.fleet.alerts import AlertKind, StationView, station_alerts
from sync.schema import StatusMessage

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def status(**fields: object) -> StatusMessage:
    base: dict[str, object] = {"schema": "hk.status/1", "station_id": "st-01", "online": True,
                               "boot_id": "b1", "seq": 3}  # fmt: skip
    return StatusMessage.model_validate({**base, **fields})


def kinds(view: StationView) -> list[AlertKind]:
    return [a.kind for a in station_alerts(view, now=NOW)]


def test_a_healthy_station_has_no_alerts() -> None:
    s = status(backlog=100, disk_free_percent=10.0, devices=[
        {"role": "blood_pressure", "model": "UA-651BLE", "connected": True,
         "last_seen": (NOW - timedelta(hours=23)).isoformat()},
    ])  # fmt: skip
    assert kinds(StationView("st-01", True, NOW - timedelta(minutes=1), s)) == []


def test_offline_for_more_than_an_hour() -> None:
    assert kinds(StationView("st-01", False, NOW - timedelta(minutes=59), None)) == []
    alerts = station_alerts(StationView("st-01", False, NOW - timedelta(minutes=90), None), now=NOW)
    assert [(a.kind, a.detail) for a in alerts] == [(AlertKind.OFFLINE, "offline for 1.5 h")]
    assert kinds(StationView("st-01", False, None, None)) == [AlertKind.NEVER_SEEN]


def test_backlog_disk_and_devices() -> None:
    s = status(backlog=101, disk_free_percent=9.5, devices=[
        {"role": "glucose", "model": "Contour", "connected": False,
         "last_seen": (NOW - timedelta(hours=25)).isoformat()},
        {"role": "id_card", "model": "CVR-100", "connected": False},
    ])  # fmt: skip
    alerts = station_alerts(StationView("st-01", True, NOW, s), now=NOW)
    expected = [AlertKind.BACKLOG, AlertKind.DISK, AlertKind.DEVICE_UNSEEN, AlertKind.DEVICE_UNSEEN]
    assert [a.kind for a in alerts] == expected
    assert alerts[0].detail == "101 readings not yet delivered"
    assert alerts[1].detail == "9.5 % disk free"
    assert alerts[3].detail == "id_card CVR-100: never seen"


def test_offline_and_never_seen_stations() -> None:
    views = [StationView("st-02", False, NOW - timedelta(hours=2), None),
             StationView("st-01", False, None, None)]  # fmt: skip
    assert [(a.station_id, a.kind) for v in views for a in station_alerts(v, now=NOW)] == [
        ("st-02", AlertKind.OFFLINE), ("st-01", AlertKind.NEVER_SEEN)
    ]  # fmt: skip


def test_a_device_battery_below_20_percent() -> None:
    seen = (NOW - timedelta(minutes=5)).isoformat()
    s = status(devices=[
        {"role": "blood_pressure", "model": "UA-651BLE", "connected": True,
         "battery_percent": 19, "last_seen": seen},
        {"role": "glucose", "model": "GA-3", "connected": True, "battery_percent": 20,
         "last_seen": seen},
        {"role": "id_card", "model": "CVR-100", "connected": True, "last_seen": seen},
    ])  # fmt: skip
    alerts = station_alerts(StationView("st-01", True, NOW, s), now=NOW)
    assert [(a.kind, a.detail) for a in alerts] == [
        (AlertKind.DEVICE_BATTERY, "blood_pressure UA-651BLE: battery 19 %")
    ]


def test_a_station_whose_clock_is_not_synchronised() -> None:
    s = status(clock_synced=False, clock_source="adjtimex", clock_max_error_s=16.0,
               clock_last_sync=(NOW - timedelta(hours=10)).isoformat())  # fmt: skip
    alerts = station_alerts(StationView("st-01", True, NOW, s), now=NOW)
    assert [(a.kind, a.detail) for a in alerts] == [
        (
            AlertKind.CLOCK,
            "clock not synchronised (error up to 16.0 s), last synchronised 2026-11-24 22:00 UTC",
        )
    ]
    assert kinds(StationView("st-01", True, NOW, status(clock_synced=True))) == []
    assert kinds(StationView("st-01", True, NOW, status())) == []  # an older station: not said
