"""Backup and restore of readings as ``hk.reading/1`` lines (JSON Lines).

Import is idempotent (a reading whose UUID is already in the store is
skipped), rejects bad lines with their line numbers while importing the good
ones, and gives every imported reading an outbox row, so it reaches the
doctor's side (which keeps one copy per UUID). Readings are stored by
:func:`sync.store.readings.add_readings`, as the kiosk's own are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.errors import SchemaError
from healthkiosk.idnumber import mask_in_text
from sync.schema import ReadingMessage, decode, encode
from sync.store import wire
from sync.store.db import store_path, write_session
from sync.store.diskspace import ensure_free_space
from sync.store.idhash import IdHasher
from sync.store.models import Reading
from sync.store.readings import add_readings
from sync.store.records import NewReading

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
    if msg.kind == "device_event":
        return BadLine(number, "device_event", "a device event is not imported as a reading")
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
    with write_session(factory) as session:
        uuids = [str(m.uuid) for m in chunk]
        present = set(session.scalars(select(Reading.uuid).where(Reading.uuid.in_(uuids))))
        incoming: list[NewReading] = []
        for msg in chunk:
            if str(msg.uuid) in present:
                report.duplicates += 1
                continue
            present.add(str(msg.uuid))
            incoming.append(wire.from_message(msg))
        added = add_readings(session, hasher, incoming, now=datetime.now(UTC))
    report.imported += len(added.saved)
    report.renumbered += added.renumbered
