"""The one save path (:func:`sync.store.readings.save_reading`): resident, visit,
reading and outbox row in one transaction; the keyed hash, the sequence under
two writing processes, a full disk (checked first, and SQLite's own), visits,
device events."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.errors import StoreError, StoreFullError
from healthkiosk.idnumber import parse
from sync.schema import WireClassification
from sync.store import meta
from sync.store.devices import record_device_event
from sync.store.idhash import IdHasher, load_or_create_key
from sync.store.models import DeviceEvent, OutboxEntry, Reading, Resident, Visit
from sync.store.readings import recent_readings, save_reading
from sync.store.residents import seen_resident
from sync.store.visits import end_visit
from tests.support.store_builders import (
    REPO,
    T0,
    bp_average,
    glucose,
    make_id,
    new_reading,
    resident,
    save,
)

VISIT = "10000000-0000-4000-8000-000000000001"


def _counts(factory: sessionmaker[Session]) -> tuple[int, int, int]:
    with factory() as s:
        return (
            s.scalar(select(func.count()).select_from(Resident)) or 0,
            s.scalar(select(func.count()).select_from(Reading)) or 0,
            s.scalar(select(func.count()).select_from(OutboxEntry)) or 0,
        )


def test_blood_pressure_reading_with_its_outbox_row(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    number = make_id(seq=123)
    avg = bp_average(((142, 91, 70), (150, 95, 74), (146, 93, None)), irregular=True)
    saved = save(factory, hasher, avg, who=resident(number))
    assert saved.station_seq == 1
    assert saved.measured_at == T0 + timedelta(seconds=90)  # the last measurement's time
    with factory() as s:
        row = s.get_one(Reading, str(saved.uuid))
        assert (row.systolic_mmhg, row.diastolic_mmhg, row.pulse_bpm) == (146, 93, 72)
        assert row.kind == "blood_pressure" and row.irregular_pulse is True
        assert row.measurements is not None and len(row.measurements) == 3
        assert row.measurements[0] == {
            "systolic": 142,
            "diastolic": 91,
            "pulse": 70,
            "measured_at": "2026-03-01T08:30:15.123456Z",
            "device_time": "2026-03-01T08:30:12.123456Z",
            "irregular_pulse": True,
        }
        assert row.measurements[2]["pulse"] is None
        assert (row.device_model, row.device_serial, row.device_transport) == (
            "BP-7000",
            "SN123",
            "ble",
        )
        assert (row.category, row.urgent, row.isolated_systolic, row.rule) == (
            "grade_1",
            False,
            False,
            "bp.g1",
        )
        assert row.device_time == T0 + timedelta(seconds=87)
        assert row.visit_id is None
        person = row.resident
        assert person.id_hash == hasher.hash(number) and len(person.id_hash) == 64
        assert person.id_masked == number[:3] + "*" * 11 + number[-4:]
        assert number not in repr(person)
        assert person.sex == "male" and person.name == "张三"
        assert (person.first_seen, person.last_seen) == (saved.measured_at, saved.measured_at)
        box = s.get_one(OutboxEntry, str(saved.uuid))
        assert box.delivered_at is None and box.attempts == 0


def test_glucose_reading_and_lo_hi(factory: sessionmaker[Session], hasher: IdHasher) -> None:
    a = save(factory, hasher, glucose(6.4), measured_at=T0)
    b = save(
        factory,
        hasher,
        glucose(1.0, meal="random", out_of_range="LO"),
        classification=WireClassification(category="very_low", urgent=True),
        measured_at=T0 + timedelta(minutes=5),
    )
    with factory() as s:
        ra, rb = s.get_one(Reading, str(a.uuid)), s.get_one(Reading, str(b.uuid))
        assert (ra.glucose_mmol_per_l, ra.meal_context, ra.original_unit) == (
            6.4,
            "fasting",
            "mg/dL",
        )
        assert ra.original_value == round(6.4 * 18.016, 1) and ra.measured_at == T0
        assert (rb.glucose_mmol_per_l, rb.out_of_range, rb.meal_context, rb.urgent) == (
            None,
            "LO",
            "random",
            True,
        )
        person = s.scalars(select(Resident)).one()  # one resident, found again by the hash
        assert (person.first_seen, person.last_seen) == (T0, T0 + timedelta(minutes=5))
    assert (a.station_seq, b.station_seq) == (1, 2)
    assert _counts(factory) == (1, 2, 2)


def test_a_later_reading_adds_what_is_newly_known_of_the_resident(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    number = make_id(seq=9)
    save(factory, hasher, glucose(), who=resident(number, name=None))
    save(factory, hasher, glucose(), who=resident(number, name="李四"))
    save(factory, hasher, glucose(), who=resident(number, name=None))  # typed, no card
    with factory() as s:
        person = s.scalars(select(Resident)).one()
        assert person.name == "李四"
    seen = seen_resident(factory, hasher=hasher, id_number=number)
    assert seen is not None and seen.name == "李四"
    assert seen.last_seen.tzinfo is not None
    assert seen_resident(factory, hasher=hasher, id_number=make_id(seq=10)) is None


def test_a_time_without_its_offset_is_refused_before_anything_is_written(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    with pytest.raises(ValueError, match="offset"):
        save(factory, hasher, glucose(), measured_at=datetime(2026, 1, 1))
    naive_device_clock = new_reading(glucose())
    object.__setattr__(naive_device_clock, "device_time", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="device_time"):
        save_reading(factory, hasher=hasher, reading=naive_device_clock, min_free_mb=1)
    assert _counts(factory) == (0, 0, 0)


def test_the_same_reading_twice_fails_whole(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    reading = new_reading(bp_average(), visit_uuid=VISIT)
    save_reading(factory, hasher=hasher, reading=reading, min_free_mb=1)
    again = new_reading(glucose(), who=resident(make_id(seq=2)), visit_uuid=VISIT + "0")
    object.__setattr__(again, "uuid", reading.uuid)
    with pytest.raises(Exception, match="UNIQUE"):
        save_reading(factory, hasher=hasher, reading=again, min_free_mb=1)
    assert _counts(factory) == (1, 1, 1)  # no second resident, reading or outbox row
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Visit)) == 1
        assert meta.last_seq(s) == 1


def test_full_disk_writes_nothing(factory: sessionmaker[Session], hasher: IdHasher) -> None:
    with pytest.raises(StoreFullError) as info:
        save(factory, hasher, bp_average(), min_free_mb=10**12)
    assert info.value.reason == "store_full" and "MB free" in str(info.value)
    assert _counts(factory) == (0, 0, 0)
    with factory() as s:
        assert meta.last_seq(s) == 0


def test_sqlite_disk_full_is_a_store_full_error_and_writes_nothing(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    save(factory, hasher, glucose())
    engine = factory.kw["bind"]
    engine.dispose()

    @event.listens_for(engine, "connect")
    def _cap(dbapi_conn: object, _rec: object) -> None:
        cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
        pages = cur.execute("PRAGMA page_count").fetchone()[0]
        cur.execute(f"PRAGMA max_page_count = {pages}")  # the "disk" is full now
        cur.close()

    big = bp_average(((150, 95, 70), (152, 96, 71), (149, 94, 72)))
    with pytest.raises(StoreFullError):
        for i in range(200):  # enough rows to need a new page
            save(factory, hasher, big, who=resident(make_id(seq=i)), visit_uuid=f"v{i}")
    event.remove(engine, "connect", _cap)
    engine.dispose()
    with factory() as s:
        n = s.scalar(select(func.count()).select_from(Reading))
        assert n == s.scalar(select(func.count()).select_from(OutboxEntry))  # never one alone
        assert n == s.scalar(select(func.count()).select_from(Visit)) + 1
        assert n == meta.last_seq(s)


def test_id_hash_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "id-hash.key"
    key = load_or_create_key(path)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key  # reused, not replaced
    number = make_id()
    a, b = IdHasher(key), IdHasher.from_file(path)
    assert a.hash(number) == b.hash(parse(number)) == a.hash(number[:6] + " " + number[6:])
    other = IdHasher(load_or_create_key(tmp_path / "other.key"))
    assert other.hash(number) != a.hash(number)
    import hashlib

    assert a.hash(number) != hashlib.sha256(number.encode()).hexdigest()
    assert "key" in repr(a) and key.hex() not in repr(a)
    (tmp_path / "short.key").write_bytes(b"x" * 5)
    with pytest.raises(StoreError, match="shorter"):
        load_or_create_key(tmp_path / "short.key")


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from sync.store.db import open_store
    from sync.store.idhash import IdHasher
    from tests.support.store_builders import bp_average, make_id, resident, save

    path, key, who, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    factory = open_store(path)
    hasher = IdHasher.from_file(key)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(n):
        save(factory, hasher, bp_average(), who=resident(make_id(seq=who * 100 + i % 3)))
    """
)


def test_two_processes_get_distinct_consecutive_sequence_numbers(
    store_file: Path, tmp_path: Path
) -> None:
    n = 60
    key = tmp_path / "shared.key"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(store_file), str(key), str(w), str(n)],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in (1, 2)
    ]
    for p in procs:  # both have opened (and migrated) the store: start together
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        p.communicate(timeout=120)  # closes the pipes
        assert p.returncode == 0
    from sync.store.db import open_store

    factory = open_store(store_file)
    try:
        with factory() as s:
            seqs = s.scalars(select(Reading.station_seq).order_by(Reading.station_seq)).all()
            assert seqs == list(range(1, 2 * n + 1))
            assert s.scalar(select(func.count()).select_from(Resident)) == 6
            assert s.scalar(select(func.count()).select_from(OutboxEntry)) == 2 * n
            assert meta.last_seq(s) == 2 * n
    finally:
        factory.kw["bind"].dispose()


def test_visits(factory: sessionmaker[Session], hasher: IdHasher) -> None:
    end_visit(factory, VISIT, outcome="abandoned", at=T0)  # saved nothing: no row, no error
    first = save(factory, hasher, bp_average(), visit_uuid=VISIT, measured_at=T0)
    second = save(factory, hasher, glucose(), visit_uuid=VISIT, measured_at=T0 + timedelta(3))
    end_visit(factory, VISIT, outcome="completed", at=T0 + timedelta(minutes=4))
    end_visit(factory, VISIT, outcome="timeout", at=T0 + timedelta(minutes=9))  # no change
    with factory() as s:
        v = s.scalars(select(Visit)).one()
        assert (v.uuid, v.started_at, v.ended_at, v.outcome) == (
            VISIT,
            T0,
            T0 + timedelta(minutes=4),
            "completed",
        )
        assert v.resident_id == first.resident_id
        ids = {s.get_one(Reading, str(r.uuid)).visit_id for r in (first, second)}
        assert ids == {v.id}


def test_recent_readings_of_one_resident_oldest_first(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    number, other = make_id(seq=1), make_id(seq=2)
    for n in range(6):
        save(factory, hasher, bp_average(((120 + n, 80, 70),)), who=resident(number),
             measured_at=T0 + timedelta(hours=n))  # fmt: skip
    save(factory, hasher, glucose(7.1), who=resident(number), measured_at=T0 + timedelta(days=1))
    save(factory, hasher, glucose(), who=resident(other))
    past = recent_readings(factory, hasher=hasher, id_number=number, limit=4)
    assert [(p.kind, p.systolic_mmhg, p.glucose_mmol_per_l) for p in past] == [
        ("blood_pressure", 123, None),
        ("blood_pressure", 124, None),
        ("blood_pressure", 125, None),
        ("glucose", None, 7.1),
    ]
    assert past[0].measured_at == T0 + timedelta(hours=3) and past[0].category == "grade_1"
    assert recent_readings(factory, hasher=hasher, id_number=make_id(seq=3), limit=4) == []


def test_device_events_never_keep_an_id_number(factory: sessionmaker[Session]) -> None:
    number = make_id(seq=5)
    record_device_event(
        factory, device="GM-55 s/n G9", kind="implausible", detail={"mmol_per_l": 40.2}, at=T0
    )
    record_device_event(
        factory, device="sam-idcard /dev/ttyUSB1", kind="bad_frame", detail={"text": f"id={number}"}
    )
    with factory() as s:
        events = s.scalars(select(DeviceEvent).order_by(DeviceEvent.id)).all()
    assert [(e.kind, e.at == T0) for e in events] == [("implausible", True), ("bad_frame", False)]
    assert events[0].detail == {"mmol_per_l": 40.2}
    assert number not in json.dumps(events[1].detail) and events[1].detail == {
        "text": f"id={number[:3]}{'*' * 11}{number[-4:]}"
    }


def test_no_log_line_of_a_save_contains_an_id_number(
    factory: sessionmaker[Session], hasher: IdHasher, caplog: pytest.LogCaptureFixture
) -> None:
    number = make_id(seq=77)
    with caplog.at_level(logging.DEBUG):
        save(factory, hasher, glucose(meal="random"), who=resident(number), visit_uuid=VISIT)
        save(factory, hasher, bp_average(), who=resident(number), visit_uuid=VISIT)
        end_visit(factory, VISIT, outcome="completed", at=T0)
    assert caplog.records, "saving logs what it did"
    for record in caplog.records:  # raw records, before any masking filter
        text = record.getMessage() + str(record.args or "")
        assert number not in text and number[:17] not in text
        assert hasher.hash(number) not in text


def test_times_are_utc_aware(factory: sessionmaker[Session], hasher: IdHasher) -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 3, 1, 16, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    saved = save(factory, hasher, glucose(), measured_at=local)
    with factory() as s:
        at = s.get_one(Reading, str(saved.uuid)).measured_at
    assert at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC) and at.utcoffset() == timedelta(0)


def test_numbers_written_by_another_writer_are_never_reused(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    first = save(factory, hasher, glucose())
    with factory() as s:  # a writer that took max(station_seq)+1 style numbers itself
        row = s.get_one(Reading, str(first.uuid))
        clone = Reading(
            **{
                c.key: getattr(row, c.key)
                for c in Reading.__table__.columns
                if c.key not in {"uuid", "station_seq"}
            },
            uuid="00000000-0000-4000-8000-000000000050",
            station_seq=50,
        )
        s.add(clone)
        s.commit()
    nxt = save(factory, hasher, glucose())
    assert (first.station_seq, nxt.station_seq) == (1, 51)
    with factory() as s:
        assert meta.last_seq(s) == 51


def test_an_own_number_is_kept_when_free_and_replaced_when_taken(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    """The numbering ``store import`` relies on, through the same path."""
    mine = save(factory, hasher, glucose())  # 1
    kept = save(factory, hasher, glucose(), station_seq=7)
    taken = save(factory, hasher, glucose(), station_seq=7)
    after = save(factory, hasher, glucose())
    assert (mine.station_seq, kept.station_seq, taken.station_seq, after.station_seq) == (
        1,
        7,
        8,
        9,
    )
