"""The follow-up database's migrations, on SQLite and on PostgreSQL (each test
its own database, dropped after it): a fresh database at head, models and
migrations in agreement, a database made by the former ``create_all`` adopted
with its data, a database newer than the software refused, two processes
upgrading one database at once, and the ``followup db`` commands."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from followup.db import migrate
from followup.db import tables as _tables  # noqa: F401 - every table on Base.metadata
from followup.db.base import Base
from followup.db.engine import make_engine
from followup.db.models import Reading, Resident, Station
from followup.db.status import ResidentStatusRow
from healthkiosk.errors import StoreError
from tests.support.synckit import REPO

HEAD = "district_speed"
LEVEL_DUE_ON = "ix_resident_status_level_due_on"


def _diff(engine: Engine) -> list[object]:
    """What autogenerate would write to bring the database to the models."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def _indexes(engine: Engine, table: str) -> dict[str, list[str | None]]:
    return {ix["name"] or "": ix["column_names"] for ix in inspect(engine).get_indexes(table)}


def test_head_is_the_last_revision_alembic_knows() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    history = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert migrate.known_revisions() == history
    assert script.get_current_head() == migrate.head_revision() == HEAD


def test_fresh_database_is_at_head_and_agrees_with_the_models(followup_url: str) -> None:
    engine = make_engine(followup_url)
    try:
        assert migrate.current_revision(engine) == HEAD
        names = set(inspect(engine).get_table_names())
        assert names == {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}
        assert len(names) == 24  # every table module's 23, not only models.py's 4
        assert _indexes(engine, "resident_status")[LEVEL_DUE_ON] == ["level", "due_on"]
        assert _indexes(engine, "readings")["ix_readings_received_at"] == ["received_at"]
        uniques = {
            u["name"] for u in inspect(engine).get_unique_constraints("station_config_reports")
        }
        assert "uq_station_config_reports_dedup" in uniques
        fks = {fk["name"] for fk in inspect(engine).get_foreign_keys("alerts")}
        assert "fk_alerts_reading_uuid_readings" in fks
        assert _diff(engine) == []
    finally:
        engine.dispose()


def test_downgrade_to_nothing_and_up_again(followup_url: str) -> None:
    engine = make_engine(followup_url)
    try:
        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == HEAD
        assert _diff(engine) == []
    finally:
        engine.dispose()


STATUS = (
    '{"schema": "hk.status/1", "station_id": "st-001", "online": true, "boot_id": "b", '
    '"seq": 3, "version": "0.3.0", "backlog": 140, "disk_free_percent": 42.0, '
    '"devices": [{"role": "glucose", "model": "GA-3", "connected": true, '
    '"battery_percent": 12, "last_seen": "2026-03-01T08:00:00+00:00"}]}'
)


def _as_an_older_release_left_it(url: str) -> None:
    """``create_all`` of an older release: no ``alembic_version``, no rollout
    tables yet, no (level, due_on) index, and ``stations`` without the fleet
    page's columns (0001's shape, less what the oldest releases lacked); a
    station with a status, a resident, a reading."""
    from alembic import command

    engine = make_engine(url, create=False)
    try:
        with engine.begin() as conn:
            command.upgrade(migrate.alembic_config(conn), "0001")
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
            for table in reversed(Base.metadata.sorted_tables):
                if table.name.startswith("rollout"):
                    conn.execute(text(f"DROP TABLE {table.name}"))
            conn.execute(text(f"DROP INDEX {LEVEL_DUE_ON}"))
            conn.execute(
                text(
                    'INSERT INTO stations (id, "group", name, area, online, status)'
                    " VALUES ('st-001', 'default', 'East station', 'East', true, :status)"
                ),
                {"status": STATUS},
            )
        with Session(engine) as s, s.begin():
            # the resident in the columns 0001 had (0007 adds the enrolment dates)
            person_id = s.execute(
                text(
                    "INSERT INTO residents (id_hash, id_number, id_masked, name, sex,"
                    " hypertension_programme, diabetes_programme, created_at, updated_at)"
                    " VALUES ('h-1', '11010119550501001X', '110***********001X', 'Wang Fang',"
                    " 'female', false, false, :at, :at) RETURNING id"
                ),
                {"at": datetime(2026, 3, 1, 8, tzinfo=UTC)},
            ).scalar_one()
            # the reading in the columns 0001 had (later revisions add columns to readings)
            s.execute(
                text(
                    "INSERT INTO readings (uuid, station_id, station_seq, resident_id, kind,"
                    " measured_at, received_at, irregular_pulse, glucose_mmol_per_l,"
                    " meal_context, device_model, device_serial, category, urgent,"
                    " software_version, payload) VALUES ('r-1', 'st-001', 1, :rid, 'glucose',"
                    " :at, :at, false, 7.4, 'random', 'Sinocare GA-3', '', 'normal', false,"
                    " '0.1.0', '{}')"
                ),
                {"rid": person_id, "at": datetime(2026, 3, 1, 8, tzinfo=UTC)},
            )
    finally:
        engine.dispose()


def test_database_made_by_create_all_is_adopted_with_its_data(followup_url: str) -> None:
    _as_an_older_release_left_it(followup_url)
    engine = make_engine(followup_url, create=False)
    try:
        assert migrate.current_revision(engine) is None
        assert migrate.has_tables(engine)
        assert _diff(engine) != []  # missing tables and index: not yet 0001
    finally:
        engine.dispose()

    engine = make_engine(followup_url)  # what every follow-up process does at start
    try:
        assert migrate.current_revision(engine) == HEAD
        assert _diff(engine) == []  # the missing tables and index were added
        assert LEVEL_DUE_ON in _indexes(engine, "resident_status")
        with Session(engine) as s:
            station = s.scalars(select(Station)).one()
            assert station.id == "st-001"
            # 0002 filled the fleet page's columns from the status the row held.
            assert (station.status_version, station.status_backlog) == ("0.3.0", 140)
            assert station.status_device_min_battery == 12
            assert station.status_device_oldest_seen == datetime(2026, 3, 1, 8, tzinfo=UTC)
            assert s.scalar(select(Resident.name)) == "Wang Fang"
            reading = s.scalars(select(Reading)).one()
            assert reading.glucose_mmol_per_l == 7.4
            assert reading.measured_at == datetime(2026, 3, 1, 8, tzinfo=UTC)
            # clock_trust: the station did not say; its time is the reading's own.
            assert (reading.clock_synced, reading.station_measured_at) == (None, None)
            assert station.status_clock_synced is None
            s.add(ResidentStatusRow(resident_id=reading.resident_id, updated_at=datetime.now(UTC)))
            s.commit()
    finally:
        engine.dispose()


def test_database_newer_than_the_software_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'followup.sqlite'}"
    make_engine(url).dispose()
    engine = make_engine(url, create=False)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(StoreError, match="0099") as err:
        make_engine(url)
    assert err.value.reason == "schema_unknown"


# Each process waits for "go", opens the database as every follow-up process
# does, and says whether it was the one that migrated it.
_OPENER = """
import logging, sys
from followup.db.engine import make_engine
from followup.db import migrate
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(name)s %(message)s")
sys.stdin.readline()
engine = make_engine(sys.argv[1])
print("revision", migrate.current_revision(engine), flush=True)
engine.dispose()
"""


def _open_in_processes(url: str, n: int) -> list[subprocess.Popen[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, url],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    return procs


def _waiting_for_the_schema_lock(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND objid = :key AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                ),
                {"key": migrate.SCHEMA_LOCK_KEY},
            ).scalar_one()
        )


@pytest.mark.postgres
@pytest.mark.parametrize("start", ["empty", "create_all"])
def test_two_processes_upgrading_at_once_on_postgresql(postgres_url: str, start: str) -> None:
    """Both wait on the schema lock (held here first, so they surely meet it);
    released, one migrates and the other finds the database at head."""
    if start == "create_all":
        _as_an_older_release_left_it(postgres_url)
    holder = make_engine(postgres_url, create=False)
    try:
        with holder.connect() as lock:
            lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": migrate.SCHEMA_LOCK_KEY})
            lock.commit()
            procs = _open_in_processes(postgres_url, 2)
            deadline = time.monotonic() + 60
            while _waiting_for_the_schema_lock(holder) < 2:
                assert time.monotonic() < deadline, "the processes never reached the schema lock"
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                time.sleep(0.05)
            assert migrate.current_revision(holder) is None  # nothing done while waiting
            lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": migrate.SCHEMA_LOCK_KEY})
            lock.commit()
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outs.append(out)
        assert all(f"revision {HEAD}" in out for out in outs)
        assert sum("schema migrated from" in out for out in outs) == 1
        if start == "create_all":
            assert any(f"from create_all (no version) to {HEAD}" in out for out in outs)
        assert _diff(holder) == []
        with holder.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [(HEAD,)]
            if start == "create_all":
                assert conn.execute(text("SELECT count(*) FROM readings")).scalar_one() == 1
    finally:
        holder.dispose()


def test_opening_a_database_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    """The usual start (web app, ingest workers) reads one row, nothing more."""
    url = f"sqlite:///{tmp_path / 'followup.sqlite'}"
    make_engine(url).dispose()
    check = (
        "import sys; from followup.db.engine import make_engine; make_engine(sys.argv[1]);"
        " print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    r = subprocess.run(
        [sys.executable, "-c", check, url],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "healthkiosk.toml"
    config.write_text(f'[station]\ndata_dir = "{tmp_path / "data"}"\n')
    return subprocess.run(
        [sys.executable, "-m", "healthkiosk", "--config", str(config), "followup", "db", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_db_current_and_upgrade_commands(followup_url: str, tmp_path: Path) -> None:
    url = ["--database-url", followup_url]
    r = _cli(tmp_path, "current", *url)
    assert r.returncode == 1 and "no revision (empty" in r.stdout, r.stderr
    r = _cli(tmp_path, "upgrade", *url)
    assert r.returncode == 0, r.stderr
    assert f"upgraded from no revision to {HEAD} (head)" in r.stdout
    r = _cli(tmp_path, "upgrade", *url)
    assert r.returncode == 0 and f"already at {HEAD} (head)" in r.stdout, r.stderr
    r = _cli(tmp_path, "current", *url)
    assert r.returncode == 0 and r.stdout.strip().endswith(f": {HEAD} (head)"), r.stderr


def test_db_commands_on_a_database_made_by_create_all(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'followup.sqlite'}"
    _as_an_older_release_left_it(url)
    r = _cli(tmp_path, "current", "--database-url", url)
    assert r.returncode == 1 and "made before migrations" in r.stdout, r.stderr
    r = _cli(tmp_path, "upgrade", "--database-url", url)
    assert r.returncode == 0 and f"to {HEAD} (head)" in r.stdout, r.stderr


def test_records_saved_before_versions_get_their_first_version(followup_url: str) -> None:
    """0013 (record_versions): a record saved before it is its own first version, by
    whoever saved it, when; its next correction is version 2."""
    from datetime import date

    from followup.db.records import FollowUpRecord, FollowUpRecordVersion, new_record
    from followup.db.reviews import RECORD_OUTCOME, save_review
    from followup.record.fields import RecordContent
    from followup.record.prefill import compute_prefill
    from followup.web.accounts import add_user
    from tests.support.followup_data import add_resident, add_station

    at = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    engine = make_engine(followup_url)
    try:
        with Session(engine) as s, s.begin():
            add_station(s)
            doctor = add_user(s, username="dr.li", password="x" * 12, role="doctor", now=at)
            res = add_resident(s, name="赵敏", hypertension=True)
            rev = save_review(
                s,
                resident_id=res.id,
                doctor_id=doctor.id,
                now=at,
                seen_until=None,
                method="clinic",
                outcome=RECORD_OUTCOME,
            )
            content = RecordContent(
                kind="hypertension",
                visit_date=date(2026, 12, 1),
                way="clinic",
                classification="satisfactory",
                next_visit_on=date(2027, 3, 1),
                doctor_signature="李医生",
            )
            s.add(
                new_record(
                    resident_id=res.id,
                    doctor_id=doctor.id,
                    review_id=rev.id,
                    content=content,
                    prefill=compute_prefill([], since=None),
                    now=at,
                )
            )
            doctor_id = doctor.id
        migrate.downgrade(engine, "triage")
        assert "followup_record_versions" not in inspect(engine).get_table_names()
        migrate.upgrade(engine)
        assert _diff(engine) == []
        with Session(engine) as s:
            rec = s.scalars(select(FollowUpRecord)).one()
            assert (rec.version, rec.updated_at, rec.updated_by) == (1, None, None)
            first = s.scalars(select(FollowUpRecordVersion)).one()
            assert (first.record_id, first.version, first.saved_by) == (rec.id, 1, doctor_id)
            assert first.saved_at == at and first.changed == []
            assert first.form == content == rec.form
    finally:
        engine.dispose()
