"""Backup and restore of readings as ``hk.reading/1`` lines (JSON Lines).

Import is idempotent (a reading whose UUID is already in the store is
skipped), rejects bad lines with their line numbers while importing the good
ones, and gives every imported reading an outbox row, so it reaches the
doctor's side (which keeps one copy per UUID).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.errors import SchemaError
from healthkiosk.idnumber import mask_in_text
from sync.schema import ReadingMessage, decode, encode
from sync.store import meta, wire
from sync.store.db import store_path, write_session
from sync.store.diskspace import ensure_free_space
from sync.store.idhash import IdHasher
from sync.store.models import Base, Reading, Resident
from sync.store.residents import new_resident, refresh_resident

log = logging.getLogger(__name__)

CHUNK = 1000


def export_messages(
    factory: sessionmaker[Session], *, station_id: str, since: datetime | None = None
) -> Iterator[ReadingMessage]:
    """Every stored reading (measured at or after ``since``), in station order."""
    query = select(Reading).order_by(Reading.station_seq)
    if since is not None:
        query = query.where(Reading.measured_at >= since)
    with factory() as session:
        for row in session.scalars(query.execution_options(yield_per=CHUNK)):
            yield wire.to_message(row, station_id)


def export_lines(
    factory: sessionmaker[Session], *, station_id: str, since: datetime | None = None
) -> Iterator[bytes]:
    for msg in export_messages(factory, station_id=station_id, since=since):
        yield encode(msg) + b"\n"


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    reason: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}: {self.message}"


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    renumbered: int = 0
    """Readings whose station_seq was taken by another reading here, given a new one."""
    bad: list[BadLine] = field(default_factory=list)


def _parse(number: int, text: str, station_id: str) -> ReadingMessage | BadLine:
    try:
        msg = decode(text)
    except SchemaError as err:
        return BadLine(number, err.reason, mask_in_text(str(err)))
    if not isinstance(msg, ReadingMessage):
        return BadLine(number, "wrong_type", f"expected hk.reading/1, got {msg.schema_}")
    if msg.station_id != station_id:
        return BadLine(
            number,
            "wrong_station",
            f"reading of station {msg.station_id!r}, this store is {station_id!r}",
        )
    return msg


def import_lines(
    factory: sessionmaker[Session],
    lines: Iterable[bytes | str],
    *,
    hasher: IdHasher,
    station_id: str,
    min_free_mb: int,
) -> ImportReport:
    """Import ``hk.reading/1`` lines; see the module's docstring."""
    report = ImportReport()
    chunk: list[ReadingMessage] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        parsed = _parse(number, text, station_id)
        if isinstance(parsed, BadLine):
            report.bad.append(parsed)
            continue
        chunk.append(parsed)
        if len(chunk) >= CHUNK:
            _import_chunk(factory, chunk, hasher=hasher, min_free_mb=min_free_mb, report=report)
            chunk = []
    if chunk:
        _import_chunk(factory, chunk, hasher=hasher, min_free_mb=min_free_mb, report=report)
    log.info(
        "import: %d readings imported, %d already present, %d renumbered, %d bad lines",
        report.imported,
        report.duplicates,
        report.renumbered,
        len(report.bad),
    )
    return report


def _import_chunk(
    factory: sessionmaker[Session],
    chunk: list[ReadingMessage],
    *,
    hasher: IdHasher,
    min_free_mb: int,
    report: ImportReport,
) -> None:
    ensure_free_space(store_path(factory), min_free_mb=min_free_mb)
    now = datetime.now(UTC)
    with write_session(factory) as session, session.no_autoflush:
        uuids = [str(m.uuid) for m in chunk]
        present = set(session.scalars(select(Reading.uuid).where(Reading.uuid.in_(uuids))))
        incoming: list[tuple[str, wire.WireReading]] = []
        for msg in chunk:
            if str(msg.uuid) in present:
                report.duplicates += 1
                continue
            present.add(str(msg.uuid))
            item = wire.from_message(msg, created_at=now)
            incoming.append((hasher.hash(item.resident.id_number), item))
        if not incoming:
            return

        # Residents: one query for those already here, the others created.
        digests = {digest for digest, _ in incoming}
        people = {
            r.id_hash: r
            for r in session.scalars(select(Resident).where(Resident.id_hash.in_(digests)))
        }
        for digest, item in incoming:
            at = item.columns["measured_at"]
            person = people.get(digest)
            if person is None:
                person = new_resident(hasher, item.resident, now=at)
                people[digest] = person
                session.add(person)
            else:
                refresh_resident(person, item.resident, now=at)
        session.flush()

        seqs = [item.columns["station_seq"] for _, item in incoming]
        taken = set(
            session.scalars(select(Reading.station_seq).where(Reading.station_seq.in_(seqs)))
        )
        keep: list[dict[str, Any]] = []
        renumber: list[dict[str, Any]] = []
        for digest, item in incoming:
            row = {**item.columns, "resident_id": people[digest].id}
            if row["station_seq"] in taken:
                renumber.append(row)
            else:
                taken.add(row["station_seq"])
                keep.append(row)
        if keep:
            meta.raise_seq_floor(session, max(r["station_seq"] for r in keep))
        for row in renumber:
            row["station_seq"] = meta.next_seq(session)
        rows = keep + renumber
        # Core executemany (the ORM's bulk path splits the batch on NULLs).
        session.execute(insert(Base.metadata.tables["readings"]), rows)
        session.execute(
            insert(Base.metadata.tables["outbox"]),
            [{"reading_uuid": r["uuid"], "enqueued_at": now, "attempts": 0} for r in rows],
        )
        report.imported += len(rows)
        report.renumbered += len(renumber)
