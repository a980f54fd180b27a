"""Saving readings: one transaction with the outbox row, the keyed hash, the
sequence under two writing processes, a full disk, visits, device records."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from drivers.readings import BloodPressureStatus, MealContext
from healthkiosk.errors import StoreError, StoreFullError
from healthkiosk.idnumber import parse
from sync.store import meta
from sync.store.devices import get_cursor, recent_device_events, record_device_event, set_cursor
from sync.store.idhash import IdHasher, load_or_create_key
from sync.store.models import OutboxEntry, Reading, Resident, Visit
from sync.store.readings import save_reading
from sync.store.records import BloodPressureAverage, Classification
from sync.store.visits import end_visit, start_visit
from tests.store.builders import (
    BP_CLASS,
    GLU_CLASS,
    REPO,
    T0,
    bp_average,
    glucose,
    make_id,
    resident,
)


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
    saved = save_reading(
        factory,
        hasher=hasher,
        resident=resident(number),
        reading=avg,
        classification=BP_CLASS,
        min_free_mb=1,
    )
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
        person = row.resident
        assert person.id_hash == hasher.hash(number) and len(person.id_hash) == 64
        assert person.id_masked == number[:3] + "*" * 11 + number[-4:]
        assert number not in repr(person)
        assert person.sex == "male" and person.name == "张三"
        box = s.get_one(OutboxEntry, str(saved.uuid))
        assert box.delivered_at is None and box.attempts == 0


def test_glucose_reading_and_lo_hi(factory: sessionmaker[Session], hasher: IdHasher) -> None:
    a = save_reading(
        factory,
        hasher=hasher,
        resident=resident(),
        reading=glucose(6.4),
        classification=GLU_CLASS,
        min_free_mb=1,
        measured_at=T0,
    )
    b = save_reading(
        factory,
        hasher=hasher,
        resident=resident(),
        reading=glucose(1.0, meal=None, out_of_range="LO"),
        classification=Classification(category="very_low", urgent=True),
        min_free_mb=1,
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
    assert (a.station_seq, b.station_seq) == (1, 2)
    assert _counts(factory) == (1, 2, 2)  # one resident, found again by the hash


@dataclass(frozen=True, slots=True)
class RulesStyleClassification:
    """Shaped like ``healthkiosk.rules.Classification`` (more fields than the
    store keeps): the store takes any object with the five attributes."""

    kind: str
    category: str
    urgent: bool
    rule: str
    threshold: str
    isolated_systolic: bool | None = None
    close_to_limit: bool = False
    values: dict[str, float] = field(default_factory=dict)


def test_a_rules_style_classification_is_accepted_as_is(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    c = RulesStyleClassification(
        kind="glucose",
        category="high",
        urgent=False,
        rule="glucose.fasting.high",
        threshold="fasting >= 7.0 mmol/L",
        close_to_limit=True,
        values={"mmol_per_l": 7.2},
    )
    saved = save_reading(
        factory,
        hasher=hasher,
        resident=resident(),
        reading=glucose(7.2),
        classification=c,
        min_free_mb=1,
    )
    with factory() as s:
        row = s.get_one(Reading, str(saved.uuid))
        assert (row.category, row.rule, row.close_to_limit, row.isolated_systolic) == (
            "high",
            "glucose.fasting.high",
            True,
            None,
        )


def test_unsendable_reading_is_refused_before_anything_is_written(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    with pytest.raises(ValueError, match="category"):
        save_reading(
            factory,
            hasher=hasher,
            resident=resident(),
            reading=bp_average(),
            classification=Classification(category="hypertension", urgent=False),
            min_free_mb=1,
        )
    moved = bp_average()
    bad = BloodPressureAverage(
        systolic_mmhg=140,
        diastolic_mmhg=90,
        pulse_bpm=None,
        measurements=(
            type(moved.measurements[0])(
                measured_at=T0,
                value=type(moved.measurements[0].value)(
                    systolic_mmhg=140,
                    diastolic_mmhg=90,
                    pulse_bpm=None,
                    device=moved.measurements[0].value.device,
                    status=BloodPressureStatus(body_movement=True),
                ),
            ),
        ),
    )
    with pytest.raises(ValueError, match="movement"):
        save_reading(
            factory,
            hasher=hasher,
            resident=resident(),
            reading=bad,
            classification=BP_CLASS,
            min_free_mb=1,
        )
    with pytest.raises(ValueError, match="offset"):
        save_reading(
            factory,
            hasher=hasher,
            resident=resident(),
            reading=glucose(),
            classification=GLU_CLASS,
            min_free_mb=1,
            measured_at=datetime(2026, 1, 1),
        )
    assert _counts(factory) == (0, 0, 0)


def test_full_disk_writes_nothing(factory: sessionmaker[Session], hasher: IdHasher) -> None:
    with pytest.raises(StoreFullError) as info:
        save_reading(
            factory,
            hasher=hasher,
            resident=resident(),
            reading=bp_average(),
            classification=BP_CLASS,
            min_free_mb=10**12,
        )
    assert info.value.reason == "store_full" and "MB free" in str(info.value)
    assert _counts(factory) == (0, 0, 0)
    with factory() as s:
        assert meta.last_seq(s) == 0


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
    from sync.store.readings import save_reading
    from tests.store.builders import BP_CLASS, bp_average, make_id, resident

    path, key, who, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    factory = open_store(path)
    hasher = IdHasher.from_file(key)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(n):
        save_reading(factory, hasher=hasher, resident=resident(make_id(seq=who * 100 + i % 3)),
                     reading=bp_average(), classification=BP_CLASS, min_free_mb=1)
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
    visit = start_visit(factory, hasher=hasher, resident=resident(), now=T0)
    saved = save_reading(
        factory,
        hasher=hasher,
        resident=resident(),
        reading=glucose(),
        classification=GLU_CLASS,
        min_free_mb=1,
        visit_id=visit,
    )
    end_visit(factory, visit, outcome="completed", now=T0 + timedelta(minutes=4))
    end_visit(factory, visit, outcome="timeout")  # closing again changes nothing
    with factory() as s:
        v = s.get_one(Visit, visit)
        assert (v.started_at, v.ended_at, v.outcome) == (T0, T0 + timedelta(minutes=4), "completed")
        assert s.get_one(Reading, str(saved.uuid)).visit_id == visit
    with pytest.raises(StoreError, match="no visit"):
        end_visit(factory, 999, outcome="error")


def test_device_events_and_cursors(factory: sessionmaker[Session]) -> None:
    record_device_event(
        factory, device="GM-55 s/n G9", kind="implausible", detail={"mmol_per_l": 40.2}, at=T0
    )
    record_device_event(factory, device="BP-7000", kind="error_code", detail={"code": "E2"})
    events = recent_device_events(factory)
    assert [e.kind for e in events] == ["error_code", "implausible"]
    assert events[1].detail == {"mmol_per_l": 40.2}
    assert get_cursor(factory, "gm55:G9") is None
    set_cursor(factory, "gm55:G9", 17)
    set_cursor(factory, "gm55:G9", 21)
    assert get_cursor(factory, "gm55:G9") == 21
    set_cursor(factory, "gm55:G9", 0)  # the meter's memory was cleared
    assert get_cursor(factory, "gm55:G9") == 0


def test_no_log_line_of_a_save_contains_an_id_number(
    factory: sessionmaker[Session], hasher: IdHasher, caplog: pytest.LogCaptureFixture
) -> None:
    number = make_id(seq=77)
    with caplog.at_level(logging.DEBUG):
        visit = start_visit(factory, hasher=hasher, resident=resident(number))
        save_reading(
            factory,
            hasher=hasher,
            resident=resident(number),
            reading=glucose(meal=MealContext.RANDOM),
            classification=GLU_CLASS,
            min_free_mb=1,
            visit_id=visit,
        )
        end_visit(factory, visit, outcome="completed")
    assert caplog.records, "saving logs what it did"
    for record in caplog.records:  # raw records, before any masking filter
        text = record.getMessage() + str(record.args or "")
        assert number not in text and number[:17] not in text
        assert hasher.hash(number) not in text


def test_times_are_utc_aware(factory: sessionmaker[Session], hasher: IdHasher) -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 3, 1, 16, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    saved = save_reading(
        factory,
        hasher=hasher,
        resident=resident(),
        reading=glucose(),
        classification=GLU_CLASS,
        min_free_mb=1,
        measured_at=local,
    )
    with factory() as s:
        at = s.get_one(Reading, str(saved.uuid)).measured_at
    assert at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC) and at.utcoffset() == timedelta(0)


def test_numbers_written_by_another_writer_are_never_reused(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    first = save_reading(
        factory,
        hasher=hasher,
        resident=resident(),
        reading=glucose(),
        classification=GLU_CLASS,
        min_free_mb=1,
    )
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
    nxt = save_reading(
        factory,
        hasher=hasher,
        resident=resident(),
        reading=glucose(),
        classification=GLU_CLASS,
        min_free_mb=1,
    )
    assert (first.station_seq, nxt.station_seq) == (1, 51)
    with factory() as s:
        assert meta.last_seq(s) == 51
