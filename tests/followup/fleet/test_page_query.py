"""The fleet page's SQL (counts per alert kind, "needing attention first", filters and
paging) agrees with the alert rules in Python, on SQLite and PostgreSQL, at each
rule's edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.models import Station, status_columns
from followup.fleet.alerts import AlertKind, StationView, station_alerts
from followup.fleet.view import FleetFilters, load_fleet_page
from followup.ingest.store import IngestStore
from sync.schema import StatusMessage, to_dict
from tests.support.web import DISTRICT

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _status(sid: str, **kw: Any) -> dict[str, Any]:
    devices = kw.pop("devices", [])
    return to_dict(
        StatusMessage.model_validate({
            "schema": "hk.status/1", "station_id": sid, "online": True, "boot_id": "b",
            "seq": 1, "version": "0.4.0", "backlog": 0, "disk_free_percent": 50.0,
            "devices": [{"role": "glucose", "model": "GA-3", "connected": True, **d}
                        for d in devices],
            **kw,
        })
    )  # fmt: skip


def _stations() -> list[Station]:
    """Stations on either side of every rule's edge."""
    h = timedelta(hours=1)
    m = timedelta(minutes=1)
    day = timedelta(days=1)
    specs: list[tuple[str, dict[str, Any]]] = [
        ("quiet", {}),
        ("never", {"last_seen": None, "status": None, "online": False}),
        ("off-59m", {"online": False, "last_seen": NOW - h + m}),
        ("off-61m", {"online": False, "last_seen": NOW - h - m}),
        ("on-old", {"online": True, "last_seen": NOW - 5 * h}),
        ("backlog-100", {"status": {"backlog": 100}}),
        ("backlog-101", {"status": {"backlog": 101}}),
        ("backlog-none", {"status": {"backlog": None}}),
        ("disk-10", {"status": {"disk_free_percent": 10.0}}),
        ("disk-9", {"status": {"disk_free_percent": 9.99}}),
        ("dev-23h", {"status": {"devices": [{"last_seen": NOW - day + h}]}}),
        ("dev-25h", {"status": {"devices": [{"last_seen": NOW - day - h}]}}),
        ("dev-never", {"status": {"devices": [{"last_seen": NOW}, {"last_seen": None}]}}),
        ("battery-20", {"status": {"devices": [{"last_seen": NOW, "battery_percent": 20}]}}),
        ("battery-19", {"status": {"devices": [{"last_seen": NOW, "battery_percent": 80},
                                               {"last_seen": NOW, "battery_percent": 19}]}}),
        ("many", {"online": False, "last_seen": NOW - 3 * h,
                  "status": {"backlog": 500, "disk_free_percent": 1.0, "version": "0.3.9",
                             "devices": [{"last_seen": NOW - 3 * day}]}}),
        ("unreadable", {"status": {"schema": "hk.status/9"}}),
    ]  # fmt: skip
    out = []
    for i, (name, spec) in enumerate(specs):
        sid = f"st-{name}"
        status: dict[str, Any] | None
        if "status" in spec and spec["status"] is None:
            status = None
        elif spec.get("status", {}).get("schema"):
            status = {"schema": "hk.status/9", "station_id": sid}
        else:
            status = _status(sid, **spec.get("status", {}))
        out.append(
            Station(
                id=sid,
                name=f"Station {name.upper()}",
                group="north" if i % 2 else "south",
                online=spec.get("online", True),
                last_seen=spec.get("last_seen", NOW - m),
                status=status,
            )
        )
    return out


def _python_alerts(st: Station) -> set[AlertKind]:
    try:
        msg = StatusMessage.model_validate(st.status) if st.status else None
    except ValueError:
        msg = None
    view = StationView(st.id, st.online, st.last_seen, msg)
    return {a.kind for a in station_alerts(view, now=NOW)}


def test_counts_order_and_filters_agree_with_the_rules(followup_url: str) -> None:
    engine = make_engine(followup_url)
    stations = _stations()
    expected = {st.id: _python_alerts(st) for st in stations}
    with Session(engine) as s, s.begin():
        s.add_all(stations)
    assert {k for k, v in expected.items() if v} == {
        "st-never", "st-off-61m", "st-backlog-101", "st-disk-9", "st-dev-25h", "st-dev-never",
        "st-battery-19", "st-many",
    }  # fmt: skip
    with Session(engine) as s:
        whole = load_fleet_page(s, now=NOW, page_size=100)
        by_kind = dict(whole.summary.by_kind)
        assert by_kind == {k: sum(k in v for v in expected.values()) for k in AlertKind}
        assert by_kind[AlertKind.DEVICE_UNSEEN] == 3
        assert by_kind[AlertKind.DEVICE_BATTERY] == 1
        assert whole.summary.alerting == 8 and whole.summary.total == len(stations)
        order = [r.station_id for r in whole.rows]
        # needing attention first, the most alert kinds first, then by group and id
        assert order[0] == "st-many"
        assert [sid for sid in order if expected[sid]] == order[:8]
        for row in whole.rows:
            assert {a.kind for a in row.alerts} == expected[row.station_id]
        assert dict(whole.summary.versions) == {"0.4.0": 14, "0.3.9": 1, "unknown": 2}

        def ids(**kw: Any) -> list[str]:
            page = load_fleet_page(s, now=NOW, filters=FleetFilters(**kw), page_size=4)
            return [r.station_id for r in page.rows]

        assert set(ids(alert="any", page=1) + ids(alert="any", page=2)) == {
            k for k, v in expected.items() if v
        }
        assert ids(alert="disk") == ["st-many", "st-disk-9"]
        assert ids(alert="device_unseen") == ["st-many", "st-dev-25h", "st-dev-never"]
        assert ids(alert="device_battery") == ["st-battery-19"]
        assert ids(version="0.3.9") == ["st-many"]
        assert sorted(ids(version="unknown")) == ["st-never", "st-unreadable"]
        assert ids(search="backlog") == ["st-backlog-101", "st-backlog-100", "st-backlog-none"]
        assert ids(search="station disk-9") == ["st-disk-9"]  # the name, any case
        assert ids(search="%") == [] and ids(search="_") == []  # LIKE wildcards are literal
        south = load_fleet_page(s, now=NOW, filters=FleetFilters(group="south"), page_size=4)
        assert south.summary.total == 9 and {r.group for r in south.rows} == {"south"}
        assert south.matched == 9 and south.pages == 3
        # past the last page: the last page
        last = load_fleet_page(s, now=NOW, filters=FleetFilters(page=99), page_size=4)
        assert (last.page, last.pages, len(last.rows), last.first) == (5, 5, 1, 17)
        nothing = load_fleet_page(s, now=NOW, filters=FleetFilters(search="zzz"))
        assert (nothing.rows, nothing.matched, nothing.page, nothing.first) == ((), 0, 1, 0)
    engine.dispose()


def test_status_columns_follow_the_status_and_can_be_recomputed(followup_url: str) -> None:
    engine = make_engine(followup_url)
    with Session(engine) as s, s.begin():
        st = Station(id="st-a", status=_status("st-a", backlog=7, version="1.0"))
        s.add(st)
    with Session(engine) as s, s.begin():
        st = s.get(Station, "st-a")
        assert st is not None
        assert (st.status_backlog, st.status_version) == (7, "1.0")
        st.status = _status("st-a", backlog=300, devices=[{"last_seen": None}])
    with Session(engine) as s, s.begin():
        st = s.get(Station, "st-a")
        assert st is not None
        assert (st.status_backlog, st.status_device_never_seen) == (300, True)
    assert status_columns({"schema": "nonsense"})["status_version"] is None
    engine.dispose()


def test_the_ingest_keeps_the_status_columns(followup_url: str) -> None:
    engine = make_engine(followup_url)
    store = IngestStore(engine, key=b"k" * 32, tz=DISTRICT)
    first = StatusMessage.model_validate(_status("st-new", backlog=250, version="0.5.0"))
    assert store.apply_status(first, received_at=NOW) is True
    with Session(engine) as s:
        page = load_fleet_page(s, now=NOW)
        assert dict(page.summary.by_kind)[AlertKind.BACKLOG] == 1
        assert page.summary.versions == (("0.5.0", 1),)
    later = first.model_copy(update={"seq": 2, "backlog": 0})
    assert store.apply_status(later, received_at=NOW) is True
    with Session(engine) as s:
        st = s.get(Station, "st-new")
        assert st is not None and (st.status_backlog, st.status_version) == (0, "0.5.0")
        assert load_fleet_page(s, now=NOW).summary.alerting == 0
    engine.dispose()


def test_the_clock_alert_in_sql_agrees_with_the_rule(followup_url: str) -> None:
    engine = make_engine(followup_url)
    store = IngestStore(engine, key=b"k" * 32, tz=DISTRICT)
    for sid, synced in (("st-clock-ok", True), ("st-clock-off", False), ("st-clock-old", None)):
        msg = StatusMessage.model_validate(_status(sid, clock_synced=synced))
        assert store.apply_status(msg, received_at=NOW) is True
    with Session(engine) as s:
        page = load_fleet_page(s, now=NOW)
        assert dict(page.summary.by_kind)[AlertKind.CLOCK] == 1
        assert page.rows[0].station_id == "st-clock-off"  # needing attention first
        for row in page.rows:
            st = s.get(Station, row.station_id)
            assert st is not None
            assert {a.kind for a in row.alerts} == _python_alerts(st)
        only = load_fleet_page(s, now=NOW, filters=FleetFilters(alert="clock"))
        assert [r.station_id for r in only.rows] == ["st-clock-off"]
        assert s.get(Station, "st-clock-old").status_clock_synced is None  # type: ignore[union-attr]
    engine.dispose()
