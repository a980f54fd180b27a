"""Fleet data as the ingest stores it: statuses, config reports, update steps."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from followup.db.models import Station
from followup.fleet.reports import FleetStore
from sync.schema import ConfigReport, StatusMessage, UpdateReport, to_dict


def set_status(session: Session, station_id: str, msg: StatusMessage, *, seen: datetime) -> None:
    st = session.get(Station, station_id)
    assert st is not None
    st.online = msg.online
    st.status_boot_id = msg.boot_id
    st.status_seq = msg.seq
    st.status = to_dict(msg)
    st.last_seen = seen


def seed_fleet(session: Session, now: datetime) -> None:
    """st-001 (group east, online): backlog 150 and 8 % disk free; st-002 (group
    west, offline for 3 h): healthy before it went away. Both in the world fixture."""
    east = session.get(Station, "st-001")
    west = session.get(Station, "st-002")
    assert east is not None and west is not None
    east.group, west.group = "east", "west"
    set_status(
        session,
        "st-001",
        StatusMessage.model_validate({
            "schema": "hk.status/1", "station_id": "st-001", "online": True,
            "boot_id": "0000000003-aa", "seq": 12, "sent_at": now - timedelta(seconds=30),
            "version": "0.4.0", "config_version": 5, "uptime_s": 7200.0, "backlog": 150,
            "last_receipt": now - timedelta(minutes=4), "disk_free_percent": 8.0,
            "disk_free_mb": 1200.0, "store_size_mb": 12.5, "cpu_temp_c": 51.2,
            "devices": [
                {"role": "blood_pressure", "model": "Omron HEM-7361T", "connected": True,
                 "battery_percent": 64, "last_seen": now - timedelta(minutes=10),
                 "last_reading": now - timedelta(hours=1), "clock_drift_s": -754.4,
                 "memory_records": 3, "last_memory_record": now - timedelta(hours=2)},
            ],
        }),
        seen=now - timedelta(seconds=30),
    )  # fmt: skip
    set_status(
        session,
        "st-002",
        StatusMessage.model_validate({
            "schema": "hk.status/1", "station_id": "st-002", "online": False,
            "boot_id": "0000000001-bb", "seq": 999_999, "version": "0.3.9", "backlog": 2,
            "disk_free_percent": 55.0, "last_receipt": now - timedelta(hours=3),
            "devices": [
                {"role": "glucose", "model": "Sinocare GA-3", "connected": False,
                 "battery_percent": 20, "last_seen": now - timedelta(days=2)},
            ],
        }),
        seen=now - timedelta(hours=3),
    )  # fmt: skip


def seed_reports(store: FleetStore, now: datetime) -> None:
    for msg in (
        ConfigReport(station_id="st-001", outcome="applied", group_version=2, station_version=5,
                     at=now - timedelta(hours=2)),
        ConfigReport(station_id="st-001", outcome="rejected", group_version=2, station_version=6,
                     running_group_version=2, running_station_version=5,
                     reason="kiosk.rest_s: Input should be greater than or equal to 30",
                     at=now - timedelta(hours=1)),
        UpdateReport(station_id="st-001", rollout_id="r-7", release=7, running_release=6,
                     step="download", outcome="in_progress", at=now - timedelta(minutes=50)),
        UpdateReport(station_id="st-001", rollout_id="r-7", release=7, running_release=6,
                     step="health", outcome="rolled_back", reason="no READY within 90 s",
                     at=now - timedelta(minutes=40)),
    ):  # fmt: skip
        assert store.apply(msg, received_at=now) is True


def add_quiet_stations(
    session: Session, now: datetime, n: int, *, group: str = "north", version: str = "0.4.0"
) -> list[str]:
    """``n`` healthy stations (online, seen a minute ago, nothing to do) as the ingest
    stores them; their ids, ``st-q000`` onwards."""
    ids = [f"st-q{i:03d}" for i in range(n)]
    for sid in ids:
        st = Station(id=sid, name=f"Quiet {sid[4:]}", area="North", group=group)
        session.add(st)
        session.flush()
        set_status(
            session,
            sid,
            StatusMessage.model_validate({
                "schema": "hk.status/1", "station_id": sid, "online": True, "boot_id": "b1",
                "seq": 1, "version": version, "backlog": 0, "disk_free_percent": 70.0,
                "devices": [{"role": "blood_pressure", "model": "Omron HEM-7361T",
                             "connected": True, "last_seen": now - timedelta(minutes=5)}],
            }),
            seen=now - timedelta(minutes=1),
        )  # fmt: skip
    return ids
