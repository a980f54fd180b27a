"""Saving readings: the one path.

:func:`save_reading` stores one completed reading, in one transaction: the
resident (found by the keyed hash of the ID number, created or updated), the
visit (created on its first reading), the reading and its outbox row. The
kiosk shows a reading as saved only after it returns (``synchronous=FULL``:
the commit survives a power cut).

:func:`add_readings` is the part inside the transaction, shared with
``healthkiosk store import`` (:mod:`sync.store.backup`), so the kiosk and an
import find residents and number readings the same way.

Free disk is checked before anything is written; the station sequence number
comes from the store's counter under the write lock (:func:`meta.next_seq`),
so the kiosk app and any other writer sharing the file never hand out the
same number.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.idnumber import IdNumber
from sync.store import meta, wire
from sync.store.db import store_path, write_session
from sync.store.diskspace import ensure_free_space
from sync.store.idhash import IdHasher
from sync.store.models import Base, Reading, Resident, Visit
from sync.store.records import NewReading, SavedReading
from sync.store.residents import new_resident, refresh_resident

log = logging.getLogger(__name__)


def _check_times(reading: NewReading) -> None:
    if reading.measured_at.tzinfo is None:
        raise ValueError("measured_at must carry its UTC offset")
    if reading.device_time is not None and reading.device_time.tzinfo is None:
        raise ValueError("device_time must carry its UTC offset")


def save_reading(
    factory: sessionmaker[Session],
    *,
    hasher: IdHasher,
    reading: NewReading,
    min_free_mb: int,
) -> SavedReading:
    """Store one completed reading with its resident, visit and outbox row, in
    one transaction; returns its uuid and station sequence number once committed.

    Raises :class:`~healthkiosk.errors.StoreFullError` (nothing written) when
    the disk has less than ``min_free_mb`` free or SQLite finds it full,
    ``ValueError`` (nothing written) for a time without its UTC offset.
    """
    _check_times(reading)
    ensure_free_space(store_path(factory), min_free_mb=min_free_mb)
    with write_session(factory) as session:
        (saved,) = add_readings(session, hasher, [reading], now=datetime.now(UTC)).saved
    c = reading.classification
    log.info(
        "saved %s reading seq %d (%s%s) for resident #%d",
        reading.kind,
        saved.station_seq,
        "could not measure" if c is None else c.category,
        ", urgent" if c is not None and c.urgent else "",
        saved.resident_id,
    )
    return saved


@dataclass(frozen=True, slots=True)
class Added:
    saved: list[SavedReading]
    renumbered: int
    """Readings whose own station_seq was taken here and that got a new one."""


def add_readings(
    session: Session, hasher: IdHasher, readings: Sequence[NewReading], *, now: datetime
) -> Added:
    """Inside the caller's write transaction: residents (one query; created or
    refreshed as of each reading's time), visits, station numbers, the readings
    and their outbox rows (``enqueued_at=now``).

    A reading without a ``station_seq`` gets the next from the counter; one
    with its own keeps it unless another reading here has it (then it gets the
    next), and the counter is raised past the numbers kept."""
    if not readings:
        return Added(saved=[], renumbered=0)
    digests = [hasher.hash(r.resident.id_number) for r in readings]
    people = {
        p.id_hash: p
        for p in session.scalars(select(Resident).where(Resident.id_hash.in_(set(digests))))
    }
    for digest, r in zip(digests, readings, strict=True):
        at = r.measured_at.astimezone(UTC)
        person = people.get(digest)
        if person is None:
            person = new_resident(hasher, r.resident, now=at)
            people[digest] = person
            session.add(person)
        else:
            refresh_resident(person, r.resident, now=at)
    session.flush()

    visit_ids = _visits(session, readings, [people[d].id for d in digests])

    own = [r.station_seq for r in readings if r.station_seq is not None]
    taken = set(session.scalars(select(Reading.station_seq).where(Reading.station_seq.in_(own))))
    seqs: list[int | None] = []
    for r in readings:
        if r.station_seq is not None and r.station_seq not in taken:
            taken.add(r.station_seq)
            seqs.append(r.station_seq)
        else:
            seqs.append(None)
    kept = [s for s in seqs if s is not None]
    if kept:
        meta.raise_seq_floor(session, max(kept))
    renumbered = sum(
        1 for r, s in zip(readings, seqs, strict=True) if s is None and r.station_seq is not None
    )
    numbers = [s if s is not None else meta.next_seq(session) for s in seqs]

    rows = [
        {
            **wire.columns(r, station_seq=seq, created_at=now),
            "resident_id": people[digest].id,
            "visit_id": visit_id,
        }
        for r, seq, digest, visit_id in zip(readings, numbers, digests, visit_ids, strict=True)
    ]
    # Core executemany (the ORM's bulk path splits the batch on NULLs).
    session.execute(insert(Base.metadata.tables["readings"]), rows)
    session.execute(
        insert(Base.metadata.tables["outbox"]),
        [{"reading_uuid": row["uuid"], "enqueued_at": now, "attempts": 0} for row in rows],
    )
    return Added(
        saved=[
            SavedReading(
                uuid=r.uuid,
                station_seq=row["station_seq"],
                resident_id=row["resident_id"],
                measured_at=row["measured_at"],
            )
            for r, row in zip(readings, rows, strict=True)
        ],
        renumbered=renumbered,
    )


def _visits(
    session: Session, readings: Sequence[NewReading], resident_ids: list[int]
) -> list[int | None]:
    """Each reading's visit id: found by its uuid, or created (started at the
    reading's time) for its resident."""
    wanted = {r.visit_uuid for r in readings if r.visit_uuid is not None}
    if not wanted:
        return [None] * len(readings)
    visits = {v.uuid: v for v in session.scalars(select(Visit).where(Visit.uuid.in_(wanted)))}
    for r, resident_id in zip(readings, resident_ids, strict=True):
        if r.visit_uuid is not None and r.visit_uuid not in visits:
            visit = Visit(uuid=r.visit_uuid, resident_id=resident_id, started_at=r.measured_at)
            visits[r.visit_uuid] = visit
            session.add(visit)
    session.flush()
    return [None if r.visit_uuid is None else visits[r.visit_uuid].id for r in readings]


@dataclass(frozen=True, slots=True)
class PastReading:
    """A stored reading as a resident's history shows it."""

    measured_at: datetime
    kind: str
    systolic_mmhg: int | None
    diastolic_mmhg: int | None
    glucose_mmol_per_l: float | None
    category: str


def recent_readings(
    factory: sessionmaker[Session], *, hasher: IdHasher, id_number: IdNumber | str, limit: int
) -> list[PastReading]:
    """A resident's last ``limit`` readings, oldest first."""
    digest = hasher.hash(id_number)
    with factory() as session:
        rows = session.execute(
            select(
                Reading.measured_at,
                Reading.kind,
                Reading.systolic_mmhg,
                Reading.diastolic_mmhg,
                Reading.glucose_mmol_per_l,
                Reading.category,
            )
            .join(Resident)
            .where(Resident.id_hash == digest)
            .order_by(Reading.measured_at.desc(), Reading.station_seq.desc())
            .limit(limit)
        ).all()
    return [PastReading(*row) for row in reversed(rows)]
