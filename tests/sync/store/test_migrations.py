"""Migrations: a fresh store at head, an older store upgraded in place with its
data, models and migrations in agreement, downgrade→upgrade, corrupt files
moved aside."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.errors import StoreError
from sync.store import meta, migrate
from sync.store.db import check_integrity, make_engine, open_store
from sync.store.idhash import IdHasher
from sync.store.models import Base, OutboxEntry, Reading, Resident
from tests.support.store_builders import bp_average, make_id, resident, save

HEAD = "vital_signs"


def _pragma(factory: sessionmaker[Session], name: str) -> object:
    with factory() as session:
        return session.connection().exec_driver_sql(f"PRAGMA {name}").scalar()


def test_fresh_store_is_at_head_in_wal_with_full_sync(factory: sessionmaker[Session]) -> None:
    assert migrate.head_revision() == HEAD
    assert migrate.current_revision(factory.kw["bind"]) == HEAD
    assert _pragma(factory, "journal_mode") == "wal"
    assert _pragma(factory, "synchronous") == 2  # FULL
    assert _pragma(factory, "foreign_keys") == 1
    assert _pragma(factory, "busy_timeout") == 10_000


def test_wal_and_full_sync_on_every_connection(store_file: Path) -> None:
    factory = open_store(store_file)
    engine = factory.kw["bind"]
    conns = [engine.connect() for _ in range(3)]  # three pooled connections at once
    try:
        for conn in conns:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        for conn in conns:
            conn.close()
        engine.dispose()
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    with sqlite3.connect(store_file) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_models_and_migrations_agree(factory: sessionmaker[Session]) -> None:
    with factory.kw["bind"].connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def _fill_at_0001(path: Path, hasher: IdHasher) -> None:
    """Rows as the first schema held them, written with plain SQL."""
    engine = make_engine(path)
    migrate.upgrade(engine, "0001")
    number = make_id()
    at = "2026-01-02 03:04:05.000000"
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO residents (id, id_hash, id_number, id_masked, name, sex, birth_date,"
            " first_seen, last_seen) VALUES (1, ?, ?, ?, '李四', 'male', '1950-01-31', ?, ?)",
            (hasher.hash(number), number, "110*******0012", at, at),
        )
        raw.execute(
            "INSERT INTO visits (id, uuid, resident_id, started_at) VALUES (1, 'v-1', 1, ?)", (at,)
        )
        for seq, uid in (
            (5, "00000000-0000-4000-8000-000000000005"),
            (9, "00000000-0000-4000-8000-000000000009"),
        ):
            raw.execute(
                "INSERT INTO readings (uuid, station_seq, resident_id, visit_id, kind, measured_at,"
                " systolic_mmhg, diastolic_mmhg, irregular_pulse, measurements, device_model,"
                " device_manufacturer, device_serial, device_firmware, device_transport,"
                " category, urgent, close_to_limit, software_version, created_at)"
                " VALUES (?, ?, 1, 1, 'blood_pressure', ?, 150, 95, 0, '[]', 'BP-1', '', '', '',"
                " 'ble', 'grade_1', 0, 0, '0.0.9', ?)",
                (uid, seq, at, at),
            )
            raw.execute(
                "INSERT INTO outbox (reading_uuid, enqueued_at, attempts) VALUES (?, ?, 0)",
                (uid, at),
            )
    engine.dispose()


def test_upgrade_from_0001_keeps_data_and_seeds_the_counter(
    store_file: Path, hasher: IdHasher
) -> None:
    _fill_at_0001(store_file, hasher)
    factory = open_store(store_file)
    engine = factory.kw["bind"]
    try:
        assert migrate.current_revision(engine) == HEAD
        with factory() as session:
            assert session.scalars(
                select(Reading.station_seq).order_by(Reading.station_seq)
            ).all() == [5, 9]
            assert session.scalar(select(Resident.name)) == "李四"
            # made before the clock state was kept: not known
            assert session.scalars(select(Reading.clock_synced)).all() == [None, None]
            assert len(session.scalars(select(OutboxEntry)).all()) == 2
            assert meta.last_seq(session) == 9
            assert len(meta.store_id(session)) == 36
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("readings")}
        assert "ix_readings_visit_id" in indexes
        saved = save(factory, hasher, bp_average(), who=resident(make_id()))
        assert saved.station_seq == 10
        with factory() as session:  # the same resident as the old rows: found by hash
            assert (
                session.scalar(
                    select(Resident.id).where(Resident.id_hash == hasher.hash(make_id()))
                )
                == 1
            )
    finally:
        engine.dispose()


def test_store_from_before_migrations_is_adopted(store_file: Path, hasher: IdHasher) -> None:
    _fill_at_0001(store_file, hasher)
    with sqlite3.connect(store_file) as raw:  # as create_all left it: no version table
        raw.execute("DROP TABLE alembic_version")
    factory = open_store(store_file)
    try:
        assert migrate.current_revision(factory.kw["bind"]) == HEAD
        with factory() as session:
            assert meta.last_seq(session) == 9
    finally:
        factory.kw["bind"].dispose()


def test_downgrade_then_upgrade_round_trip(
    factory: sessionmaker[Session], hasher: IdHasher
) -> None:
    engine = factory.kw["bind"]
    for _ in range(3):
        save(factory, hasher, bp_average(), who=resident())
    with factory() as session:
        store_id = meta.store_id(session)
    migrate.downgrade(engine, "0001")
    assert migrate.current_revision(engine) == "0001"
    assert "ix_readings_visit_id" not in {
        ix["name"] for ix in inspect(engine).get_indexes("readings")
    }
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == HEAD
    with factory() as session:
        assert meta.last_seq(session) == 3  # re-seeded from the readings kept
        assert meta.store_id(session) != store_id  # a new id: it was dropped
        assert session.scalar(select(Reading.station_seq).order_by(Reading.station_seq.desc())) == 3
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
    # All the way down and up again on the emptied schema.
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == HEAD


def test_corrupt_file_is_moved_aside_never_deleted(
    store_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store_file.parent.mkdir(parents=True)
    junk = b"this is not a database, but it may be all that is left " * 200
    store_file.write_bytes(junk)
    wal = store_file.with_name(store_file.name + "-wal")
    wal.write_bytes(b"wal bytes")
    with caplog.at_level(logging.DEBUG):
        factory = open_store(store_file)
    try:
        moved = sorted(store_file.parent.glob("kiosk.sqlite.corrupt-*"))
        main = [p for p in moved if p.name.endswith("Z")]
        assert len(main) == 1 and main[0].read_bytes() == junk
        assert main[0].with_name(main[0].name + "-wal").read_bytes() == b"wal bytes"
        stamp = main[0].name.removeprefix("kiosk.sqlite.corrupt-")
        assert datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) > datetime.now(
            UTC
        ) - timedelta(minutes=5)
        assert migrate.current_revision(factory.kw["bind"]) == HEAD
        assert check_integrity(store_file).ok
        assert any(
            "integrity check" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records
        )
    finally:
        factory.kw["bind"].dispose()


def test_damaged_pages_are_detected_and_the_sequence_continues(
    store_file: Path, hasher: IdHasher, caplog: pytest.LogCaptureFixture
) -> None:
    factory = open_store(store_file)
    for i in range(40):
        save(factory, hasher, bp_average(), who=resident(make_id(seq=i)))
    factory.kw["bind"].dispose()
    with sqlite3.connect(store_file) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = raw.execute("PRAGMA page_size").fetchone()[0]
        root = raw.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'ix_readings_measured_at'"
        ).fetchone()[0]
    with store_file.open("r+b") as f:  # scribble over an index page
        f.seek((root - 1) * page + 8)
        f.write(b"\xff" * 64)
    assert not check_integrity(store_file).ok
    with caplog.at_level(logging.INFO):
        factory = open_store(store_file)
    try:
        assert list(store_file.parent.glob("kiosk.sqlite.corrupt-*"))
        saved = save(factory, hasher, bp_average(), who=resident())
        assert saved.station_seq == 41  # carried over from the damaged file
        text = caplog.text
        for i in range(40):
            assert make_id(seq=i) not in text
    finally:
        factory.kw["bind"].dispose()


_OPENER = """
import sys
from pathlib import Path
from sync.store.db import open_store
sys.stdin.readline()
factory = open_store(Path(sys.argv[1]))
with factory() as s:
    print(s.connection().exec_driver_sql("SELECT value FROM meta WHERE key='store_id'").scalar())
"""


def test_opening_waits_for_another_process_opening_the_same_store(store_file: Path) -> None:
    import fcntl
    import os
    import subprocess
    import sys
    import time

    from tests.support.store_builders import REPO

    store_file.parent.mkdir(parents=True)
    store_file.write_bytes(b"\x00garbage" * 4096)
    lock = os.open(store_file.with_name("kiosk.sqlite.open-lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as if another process were opening it
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _OPENER, str(store_file)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(1.5)
        assert proc.poll() is None  # still waiting
        assert store_file.read_bytes() == b"\x00garbage" * 4096  # nothing moved yet
    finally:
        os.close(lock)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert len(out.strip()) == 36
    assert (
        len([p for p in store_file.parent.glob("kiosk.sqlite.corrupt-*") if p.name.endswith("Z")])
        == 1
    )


def test_a_locked_store_is_not_taken_for_a_corrupt_one(
    store_file: Path, hasher: IdHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = open_store(store_file)
    save(factory, hasher, bp_average(), who=resident())
    factory.kw["bind"].dispose()
    monkeypatch.setattr("sync.store.db.BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(store_file, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")  # another process holding the file
        with pytest.raises(StoreError, match="cannot"):
            open_store(store_file)
    finally:
        holder.close()
    assert not list(store_file.parent.glob("kiosk.sqlite.corrupt-*"))  # nothing moved
    factory = open_store(store_file)
    with factory() as session:
        assert session.scalar(select(Reading.station_seq)) == 1
    factory.kw["bind"].dispose()
