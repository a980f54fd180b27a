"""``healthkiosk store export/import/stats/check`` through the real command line."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.schema import decode, encode
from sync.store.backup import export_messages, import_lines
from sync.store.db import open_store
from sync.store.idhash import IdHasher
from sync.store.models import OutboxEntry, Reading, Resident
from sync.store.stats import store_stats
from tests.support.store_builders import (
    REPO,
    STATION,
    bp_average,
    bulk_fill,
    cli,
    glucose,
    make_id,
    resident,
    save,
    write_config,
)

ROUND_TRIP = 10_000


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        cli(*args), check=False, cwd=REPO, capture_output=True, input=stdin, timeout=300
    )


def open_for(cfg_dir: Path) -> tuple[sessionmaker[Session], IdHasher]:
    data = cfg_dir / "data"
    return open_store(data / "kiosk.sqlite"), IdHasher.from_file(data / "id-hash.key")


def _row_values(factory: sessionmaker[Session]) -> list[tuple[object, ...]]:
    skip = {"resident_id", "created_at"}
    cols = [c for c in Reading.__table__.columns if c.key not in skip]
    with factory() as s:
        rows = s.execute(
            select(*cols, Resident.id_number, Resident.name, Resident.sex, Resident.birth_date)
            .join(Resident)
            .order_by(Reading.station_seq)
        ).all()
    return [tuple(r) for r in rows]


def test_ten_thousand_readings_out_and_back_identical(tmp_path: Path) -> None:
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    a_cfg, b_cfg = write_config(a_dir), write_config(b_dir)
    fa, ha = open_for(a_dir)
    started = time.monotonic()
    bulk_fill(fa, ha, count=ROUND_TRIP)
    filled = time.monotonic()

    out = run("--config", str(a_cfg), "store", "export")
    assert out.returncode == 0, out.stderr.decode()
    exported = time.monotonic()
    lines = out.stdout.splitlines()
    assert len(lines) == ROUND_TRIP
    backup = tmp_path / "backup.jsonl"
    backup.write_bytes(out.stdout)

    imp = run("--config", str(b_cfg), "store", "import", str(backup))
    assert imp.returncode == 0, imp.stderr.decode()
    assert b"imported 10000, already present 0, renumbered 0, bad lines 0" in imp.stdout
    imported = time.monotonic()

    again = run("--config", str(b_cfg), "store", "export")
    assert again.returncode == 0
    reexported = time.monotonic()
    assert again.stdout == out.stdout  # byte for byte
    for a_line, b_line in zip(lines, again.stdout.splitlines(), strict=True):
        assert decode(a_line) == decode(b_line)  # and field by field, as messages
    fb, _ = open_for(b_dir)
    assert _row_values(fa) == _row_values(fb)  # and as stored rows
    stats = store_stats(fb)
    assert stats.outbox_backlog == ROUND_TRIP  # every imported reading goes to the doctor's side
    assert stats.residents == store_stats(fa).residents
    assert stats.last_station_seq == ROUND_TRIP
    for f in (fa, fb):
        f.kw["bind"].dispose()
    print(
        f"\n10k round trip: fill {filled - started:.2f}s, export {exported - filled:.2f}s, "
        f"import {imported - exported:.2f}s, re-export {reexported - imported:.2f}s, "
        f"comparisons {time.monotonic() - reexported:.2f}s"
    )


def _counts(f: sessionmaker[Session]) -> dict[str, object]:
    out = store_stats(f).as_dict()
    del out["disk_free_mb"], out["store_size_mb"]
    return out


def _good_lines(tmp_path: Path, n: int) -> list[bytes]:
    src = tmp_path / "src"
    src.mkdir()
    write_config(src)
    f, h = open_for(src)
    for i in range(n):
        save(f, h, bp_average() if i % 2 else glucose(5.5 + i / 10), who=resident(make_id(seq=i)))
    lines = [encode(m) for m in export_messages(f, station_id=STATION)]
    f.kw["bind"].dispose()
    return lines


def _bad_lines(good: bytes) -> dict[str, bytes]:
    doc = json.loads(good)
    number = doc["resident"]["id_number"]
    wrong_digit = number[:17] + ("0" if number[17] != "0" else "1")
    bad: dict[str, bytes] = {
        "not_json": b'{"schema": "hk.reading/1", "uuid": ',
        "schema_version": json.dumps({**doc, "schema": "hk.reading/2"}).encode(),
        "check_digit": json.dumps(
            {**doc, "resident": {**doc["resident"], "id_number": wrong_digit}}
        ).encode(),
        "missing": json.dumps({k: v for k, v in doc.items() if k != "measured_at"}).encode(),
        "wrong_kind": json.dumps(
            {**doc, "kind": "blood_pressure" if doc["kind"] == "glucose" else "glucose"}
        ).encode(),
        "bad_values": json.dumps(
            {**doc, "values": {**doc["values"], "meal_context": "brunch"}}
        ).encode(),
        "wrong_station": json.dumps({**doc, "station_id": "another-station"}).encode(),
        "receipt": json.dumps({"schema": "hk.receipt/1", "station_id": STATION}).encode(),
    }
    return bad


def test_bad_lines_are_named_by_number_and_good_lines_imported(tmp_path: Path) -> None:
    good = _good_lines(tmp_path, 6)
    bad = _bad_lines(good[0])
    # good, bad, good, bad, ... then a blank line (ignored) and the last good ones
    body: list[bytes] = []
    expected: dict[int, str] = {}
    good_iter = iter(good)
    for name, line in bad.items():
        body.append(next(good_iter, good[-1]))
        body.append(line)
        expected[len(body)] = name
    body += [b"", *good]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(body) + b"\n")
    dst = tmp_path / "dst"
    dst.mkdir()
    cfg = write_config(dst)

    res = run("--config", str(cfg), "store", "import", str(path))
    assert res.returncode == 1
    err = res.stderr.decode()
    reported = {
        int(line.split("line ")[1].split(":")[0]): line
        for line in err.splitlines()
        if ": line " in line
    }
    assert sorted(reported) == sorted(expected), err
    reasons = {
        "not_json": "not_json",
        "schema_version": "schema_version",
        "check_digit": "check digit",
        "missing": "measured_at",
        "wrong_kind": "invalid",
        "bad_values": "meal_context",
        "wrong_station": "wrong_station",
        "receipt": "wrong_type",
    }
    for number, name in expected.items():
        assert reasons[name] in reported[number], (name, reported[number])
    number = json.loads(good[0])["resident"]["id_number"]
    assert number not in err and number[:17] not in err  # the bad ID's line says why, not what
    assert b"imported 6, already present 8, renumbered 0, bad lines 8" in res.stdout
    f, _ = open_for(dst)
    assert store_stats(f).outbox_backlog == 6
    f.kw["bind"].dispose()

    # Only good lines: exit 0. The same file again: nothing added.
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"\n".join(good) + b"\n")
    res = run("--config", str(cfg), "store", "import", str(clean))
    assert res.returncode == 0, res.stderr.decode()
    assert b"imported 0, already present 6, renumbered 0, bad lines 0" in res.stdout


def test_import_is_idempotent_and_duplicates_within_a_file_count_once(tmp_path: Path) -> None:
    good = _good_lines(tmp_path, 5)
    dst = tmp_path / "dst"
    dst.mkdir()
    write_config(dst)
    f, h = open_for(dst)
    doubled = good + good[:2]
    first = import_lines(f, doubled, hasher=h, station_id=STATION, min_free_mb=1)
    assert (first.imported, first.duplicates, first.bad) == (5, 2, [])
    before = (_counts(f), _row_values(f))
    second = import_lines(f, doubled, hasher=h, station_id=STATION, min_free_mb=1)
    assert (second.imported, second.duplicates) == (0, 7)
    assert (_counts(f), _row_values(f)) == before
    f.kw["bind"].dispose()


def test_taken_sequence_numbers_are_renumbered_and_the_counter_moves_on(tmp_path: Path) -> None:
    good = _good_lines(tmp_path, 3)  # station_seq 1..3
    dst = tmp_path / "dst"
    dst.mkdir()
    write_config(dst)
    f, h = open_for(dst)
    mine = save(f, h, glucose())  # station_seq 1, another reading
    report = import_lines(f, good, hasher=h, station_id=STATION, min_free_mb=1)
    assert (report.imported, report.renumbered) == (3, 1)
    with f() as s:
        seqs = sorted(s.scalars(select(Reading.station_seq)))
    assert seqs == [1, 2, 3, 4] and mine.station_seq == 1
    nxt = save(f, h, glucose())
    assert nxt.station_seq == 5
    f.kw["bind"].dispose()


def test_import_with_a_full_disk_writes_nothing(tmp_path: Path) -> None:
    good = _good_lines(tmp_path, 3)
    path = tmp_path / "g.jsonl"
    path.write_bytes(b"\n".join(good))
    dst = tmp_path / "dst"
    dst.mkdir()
    cfg = write_config(dst, min_free_mb=10**12)
    res = run("--config", str(cfg), "store", "import", str(path))
    assert res.returncode == 2
    err = res.stderr.decode()
    assert err.splitlines()[-1].startswith("healthkiosk: only") and "MB free" in err
    assert "Traceback" not in err
    f, _ = open_for(dst)
    with f() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == 0
    f.kw["bind"].dispose()


def test_export_since_and_stats_and_check(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    f, h = open_for(tmp_path)
    bulk_fill(f, h, count=30, residents=5, delivered_every=3)  # 7 minutes apart from T0
    with f() as s:
        s.execute(
            OutboxEntry.__table__.update()
            .where(
                OutboxEntry.reading_uuid
                == s.scalar(select(Reading.uuid).where(Reading.station_seq == 2))
            )
            .values(rejected_at=func.now(), rejected_reason="test")
        )
        s.commit()
    # 2026-03-01 08:30 UTC is 16:30 in Asia/Shanghai; since 17:00 local = 09:00 UTC
    res = run("--config", str(cfg), "store", "export", "--since", "2026-03-01T17:00")
    assert res.returncode == 0, res.stderr.decode()
    seqs = [json.loads(line)["station_seq"] for line in res.stdout.splitlines()]
    assert seqs == list(range(6, 31))  # seq n is at 08:30 + 7(n-1) min
    later = datetime(2026, 3, 2, tzinfo=UTC)
    assert list(export_messages(f, station_id=STATION, since=later)) == []

    res = run("--config", str(cfg), "store", "stats", "--json")
    assert res.returncode == 0, res.stderr.decode()
    stats = json.loads(res.stdout)
    kinds = stats["readings_by_kind"]
    assert sum(kinds.values()) == 30 == stats["readings"] and set(kinds) <= {
        "blood_pressure",
        "glucose",
    }
    assert (stats["outbox_delivered"], stats["outbox_rejected"], stats["outbox_backlog"]) == (
        10,
        1,
        19,
    )
    assert stats["residents"] == 5 and stats["visits"] == 0
    assert stats["oldest_undelivered"].startswith("2026-03-01T08:44")  # seq 3
    text = run("--config", str(cfg), "store", "stats")
    assert text.returncode == 0 and b"outbox backlog:      19" in text.stdout

    res = run("--config", str(cfg), "store", "check")
    assert res.returncode == 0 and res.stdout.strip().endswith(b": ok")
    f.kw["bind"].dispose()


def test_check_reports_a_damaged_store(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    store = tmp_path / "data" / "kiosk.sqlite"
    store.parent.mkdir(parents=True)
    store.write_bytes(b"garbage" * 1000)
    res = run("--config", str(cfg), "store", "check")
    assert res.returncode == 1 and b"not a database" in res.stderr
    assert store.read_bytes() == b"garbage" * 1000  # check only looks


def test_no_log_line_of_an_import_contains_an_id_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = _good_lines(tmp_path, 4)
    bad = _bad_lines(good[0])
    dst = tmp_path / "dst"
    dst.mkdir()
    write_config(dst)
    f, h = open_for(dst)
    numbers = {json.loads(line)["resident"]["id_number"] for line in good}
    with caplog.at_level(logging.DEBUG):
        report = import_lines(
            f, [*good, *bad.values()], hasher=h, station_id=STATION, min_free_mb=1
        )
    assert report.imported == 4 and len(report.bad) == len(bad)
    text = caplog.text + "\n".join(str(b) for b in report.bad)
    for number in numbers:
        assert number not in text and number[:17] not in text
    f.kw["bind"].dispose()
