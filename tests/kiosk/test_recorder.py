"""The kiosk's recorder on a real SQLite store: the store's one save path
(one transaction per reading), the history, names, events and status."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healthkiosk.errors import StoreFullError
from healthkiosk.readings import DeviceInfo, Transport
from kiosk.flow.ports import BpValues, CompletedReading, GlucoseValues, ResidentIdentity
from kiosk.recorder import StoreRecorder
from sync.store.db import open_store
from sync.store.idhash import IdHasher
from tests.support.fake_devices import demo_card

CARD = demo_card()
WHO = ResidentIdentity(
    CARD.id_number, "110***********" + CARD.id_number[-4:], "王秀英", "female", None
)
DEV = DeviceInfo(model="M1", transport=Transport.BLE, manufacturer="Acme", serial="S1")
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def reading(
    n: int,
    *,
    kind: str = "blood_pressure",
    who: ResidentIdentity = WHO,
    category: str = "high_normal",
) -> CompletedReading:
    values: BpValues | GlucoseValues
    if kind == "blood_pressure":
        one = {
            "systolic": 120 + n,
            "diastolic": 80,
            "pulse": 70,
            "measured_at": (T0 + timedelta(minutes=n)).isoformat(),
            "device_time": None,
            "irregular_pulse": n % 2 == 1,
        }
        values = BpValues(120 + n, 80, 70, 93, n % 2 == 1, (one,))
    else:
        values = GlucoseValues(5.0 + n / 10, "fasting", 90.0, "mg/dL", None)
    return CompletedReading(
        uuid=f"00000000-0000-4000-8000-{n:012d}",
        visit_uuid="10000000-0000-4000-8000-000000000001",
        kind=kind,  # type: ignore[arg-type]
        measured_at=T0 + timedelta(minutes=n),
        device_time=None,
        resident=who,
        device=DEV,
        values=values,
        category=category,
        urgent=False,
        isolated_systolic=False if kind == "blood_pressure" else None,
        close_to_limit=False,
        rule="bp.high_normal.systolic",
    )


def open_recorder(tmp_path: Path, *, min_free_mb: int = 1) -> StoreRecorder:
    return StoreRecorder(
        open_store(tmp_path / "kiosk.sqlite"),
        hasher=IdHasher.from_file(tmp_path / "key"),
        min_free_mb=min_free_mb,
    )


@pytest.fixture
def recorder(tmp_path: Path) -> StoreRecorder:
    return open_recorder(tmp_path)


async def test_reading_and_outbox_in_one_transaction(
    recorder: StoreRecorder, tmp_path: Path
) -> None:
    await recorder.save(reading(1))
    await recorder.save(reading(2, kind="glucose"))
    with sqlite3.connect(tmp_path / "kiosk.sqlite") as db:
        rows = db.execute(
            "SELECT r.station_seq, r.kind, r.systolic_mmhg, r.glucose_mmol_per_l, r.device_serial,"
            " p.id_masked, p.name, o.reading_uuid IS NOT NULL FROM readings r"
            " JOIN residents p ON p.id = r.resident_id"
            " LEFT JOIN outbox o ON o.reading_uuid = r.uuid"
            " ORDER BY r.station_seq"
        ).fetchall()
        ids = db.execute("SELECT id_hash, id_number FROM residents").fetchall()
        visits = db.execute("SELECT uuid, started_at, ended_at FROM visits").fetchall()
    assert rows == [
        (1, "blood_pressure", 121, None, "S1", WHO.masked_id, "王秀英", 1),
        (2, "glucose", None, 5.2, "S1", WHO.masked_id, "王秀英", 1),
    ]
    key = (tmp_path / "key").read_bytes()
    assert ids == [(IdHasher(key).hash(CARD.id_number), CARD.id_number)]
    assert [(v[0], v[2]) for v in visits] == [("10000000-0000-4000-8000-000000000001", None)]
    assert oct((tmp_path / "key").stat().st_mode & 0o777) == "0o600"


async def test_a_failed_save_leaves_nothing(recorder: StoreRecorder, tmp_path: Path) -> None:
    await recorder.save(reading(1))
    with pytest.raises(Exception, match="UNIQUE"):
        await recorder.save(reading(1))  # same UUID: the whole transaction rolls back
    with sqlite3.connect(tmp_path / "kiosk.sqlite") as db:
        assert db.execute("SELECT count(*) FROM readings").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM outbox").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM residents").fetchone() == (1,)


async def test_store_full_writes_nothing(tmp_path: Path) -> None:
    free_mb = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize // 2**20
    rec = open_recorder(tmp_path, min_free_mb=free_mb + 1024)
    with pytest.raises(StoreFullError):
        await rec.save(reading(1))
    with sqlite3.connect(tmp_path / "kiosk.sqlite") as db:
        assert db.execute("SELECT count(*) FROM readings").fetchone() == (0,)


async def test_an_unsendable_reading_is_refused_before_anything_is_written(
    recorder: StoreRecorder, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="category"):
        await recorder.save(reading(1, category="hypertension"))
    with pytest.raises(ValueError, match="kind"):
        await recorder.save(replace(reading(2), kind="glucose"))
    with pytest.raises(ValueError, match="offset"):
        await recorder.save(replace(reading(3), measured_at=datetime(2026, 3, 1, 8, 0)))
    with sqlite3.connect(tmp_path / "kiosk.sqlite") as db:
        for table in ("residents", "visits", "readings", "outbox"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


async def test_trend_names_visits_events_and_status(
    recorder: StoreRecorder, tmp_path: Path
) -> None:
    other = ResidentIdentity("11010519500101023X", "110***", None, "male", None)
    for n in range(1, 11):
        await recorder.save(reading(n))
    await recorder.save(reading(11, kind="glucose"))
    trend = await recorder.recent(WHO, limit=8)
    assert len(trend) == 8 and trend[0].values == (124.0, 80.0) and trend[-1].kind == "glucose"
    assert await recorder.recent(other, limit=8) == []
    assert await recorder.known_name(CARD.id_number) == "王秀英"
    assert await recorder.known_name(other.id_number) is None
    await recorder.end_visit("10000000-0000-4000-8000-000000000001", outcome="timeout", at=T0)
    await recorder.record_event(device="M1", kind="body_movement", detail={"systolic_mmhg": 150})
    status = await recorder.status()
    assert (status.pending, status.delivered, status.last_delivered) == (11, 0, None)
    with sqlite3.connect(tmp_path / "kiosk.sqlite") as db:
        db.execute("UPDATE outbox SET delivered_at = '2026-03-02 08:00:00.000000' WHERE rowid <= 3")
        assert db.execute("SELECT outcome FROM visits").fetchall() == [("timeout",)]
        assert db.execute("SELECT kind FROM device_events").fetchall() == [("body_movement",)]
    status = await recorder.status()
    assert (status.pending, status.delivered) == (8, 3)
    assert status.last_delivered == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


async def test_what_the_kiosk_saves_is_sendable_as_hk_reading(tmp_path: Path) -> None:
    """The outbox row leaves as hk.reading/1 with every measurement averaged into it."""
    from sqlalchemy import select

    from sync.schema import BloodPressureValues, ReadingMessage, decode, encode
    from sync.store.models import Reading
    from sync.store.wire import to_message

    rec = open_recorder(tmp_path)
    await rec.save(replace(reading(3), clock_synced=False))
    with open_store(tmp_path / "kiosk.sqlite")() as s:
        row = s.scalars(select(Reading)).one()
        msg = decode(encode(to_message(row, "st-1")))
    assert isinstance(msg, ReadingMessage)
    assert msg.clock_synced is False  # the kiosk's clock state travels with the reading
    assert isinstance(msg.values, BloodPressureValues)
    assert (msg.values.systolic, msg.values.diastolic) == (123, 80)
    [m] = msg.values.measurements
    assert (m.systolic, m.measured_at, m.irregular_pulse) == (123, T0 + timedelta(minutes=3), True)
    assert msg.resident.id_number == CARD.id_number


async def test_the_rule_set_travels_with_the_reading(tmp_path: Path) -> None:
    """Kept in the store and sent in the classification (issue #14, one meaning)."""
    from sqlalchemy import select

    from healthkiosk.rules import load_rules, rule_set_id
    from sync.schema import ReadingMessage, decode, encode
    from sync.store.models import Reading
    from sync.store.wire import to_message

    home = rule_set_id(load_rules({"blood_pressure": {"profile": "cn2018_home"}}))
    rec = open_recorder(tmp_path)
    await rec.save(replace(reading(1), rule_set=home))
    await rec.save(reading(2))  # a reading from before the rule set was carried
    with open_store(tmp_path / "kiosk.sqlite")() as s:
        rows = s.scalars(select(Reading).order_by(Reading.station_seq)).all()
        msgs = [decode(encode(to_message(row, "st-1"))) for row in rows]
    assert all(isinstance(m, ReadingMessage) and m.classification for m in msgs)
    first, second = (m.classification for m in msgs if isinstance(m, ReadingMessage))
    assert first is not None and first.rules is not None
    assert (first.rules.name, first.rules.digest) == ("cn2018_home", home.digest)
    assert second is not None and second.rules is None


async def test_device_memory_is_kept_apart_from_readings_and_never_sent(
    recorder: StoreRecorder, tmp_path: Path
) -> None:
    """A record from outside any visit's step: a row of device_memory with its
    values and the device's time, no resident, no visit, no outbox row."""
    from healthkiosk.readings import (
        BloodPressureMeasurement,
        BloodPressureStatus,
        DeviceMemoryRecord,
        MemoryReason,
    )
    from sync.store.devices import device_memory_counts

    device = DeviceInfo(model="BPS-EMU-1", transport=Transport.BLE, serial="EMU-1")
    when = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
    m = BloodPressureMeasurement(
        152,
        96,
        88,
        device=device,
        device_time=when,
        status=BloodPressureStatus(irregular_pulse=True),
    )
    record = DeviceMemoryRecord(m, MemoryReason.STORED_AT_CONNECT, T0)
    await recorder.record_memory(role="blood_pressure", record=record)
    with sqlite3.connect(tmp_path / "kiosk.sqlite") as db:
        row = db.execute(
            'SELECT role, device, kind, reason, device_time, "values" FROM device_memory'
        ).fetchone()
        for table in ("residents", "visits", "readings", "outbox"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
    role, label, kind, reason, device_time, values = row
    assert (role, kind, reason) == ("blood_pressure", "blood_pressure", "stored_at_connect")
    assert "BPS-EMU-1" in label and device_time.startswith("2026-03-01 05:00")
    assert '"systolic_mmhg": 152' in values and '"irregular_pulse": true' in values
    assert device_memory_counts(recorder._sessions) == {"blood_pressure": 1}


async def test_a_refused_value_is_stored_and_sent_as_a_device_event(tmp_path: Path) -> None:
    """Issue 14, finding 9: the outbox row leaves as hk.reading/1 kind
    device_event (no classification), and it is not a point of the trend."""
    from sqlalchemy import select

    from kiosk.flow.ports import CouldNotMeasure
    from sync.schema import DeviceEventValues, ReadingMessage, decode, encode
    from sync.store.models import Reading
    from sync.store.wire import to_message

    rec = open_recorder(tmp_path)
    await rec.save(reading(1, kind="glucose"))
    await rec.save_event(
        CouldNotMeasure(
            uuid="20000000-0000-4000-8000-000000000001",
            visit_uuid="10000000-0000-4000-8000-000000000001",
            measurement="glucose",
            reason="glucose_out_of_range",
            measured_at=T0 + timedelta(minutes=5),
            device_time=None,
            resident=WHO,
            device=DEV,
            values={"mmol_per_l": 0.9, "meal_context": "fasting", "original_value": 16.2,
                    "original_unit": "mg/dL"},
            clock_synced=True,
        )
    )  # fmt: skip
    with open_store(tmp_path / "kiosk.sqlite")() as s:
        row = s.scalars(select(Reading).where(Reading.kind == "device_event")).one()
        msg = decode(encode(to_message(row, "st-1")))
    assert isinstance(msg, ReadingMessage) and msg.kind == "device_event"
    assert msg.classification is None and msg.clock_synced is True
    assert isinstance(msg.values, DeviceEventValues)
    assert (msg.values.measurement, msg.values.reason, msg.values.mmol_per_l) == (
        "glucose", "glucose_out_of_range", 0.9,
    )  # fmt: skip
    assert msg.resident.id_number == CARD.id_number
    assert [p.kind for p in await rec.recent(WHO, limit=8)] == ["glucose"]
    status = await rec.status()
    assert status.pending == 2  # both wait for the doctor's receipt
