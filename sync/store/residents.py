"""Residents seen at this station: found by the keyed hash of their ID number."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.store.idhash import IdHasher
from sync.store.models import Resident
from sync.store.records import ResidentDetails


def find_resident(session: Session, hasher: IdHasher, details: ResidentDetails) -> Resident | None:
    digest = hasher.hash(details.id_number)
    return session.scalar(select(Resident).where(Resident.id_hash == digest))


def new_resident(hasher: IdHasher, details: ResidentDetails, *, now: datetime) -> Resident:
    number = details.id_number
    return Resident(
        id_hash=hasher.hash(number),
        id_number=number.value,
        id_masked=number.masked,
        name=details.name,
        sex=details.sex,
        birth_date=details.birth_date,
        first_seen=now,
        last_seen=now,
    )


def refresh_resident(resident: Resident, details: ResidentDetails, *, now: datetime) -> None:
    """What is newly known (name, sex, birth date) and when they were seen."""
    if details.name:
        resident.name = details.name
    if details.sex != "unknown":
        resident.sex = details.sex
    if details.birth_date:
        resident.birth_date = details.birth_date
    resident.last_seen = max(resident.last_seen, now)
    resident.first_seen = min(resident.first_seen, now)


def upsert_resident(
    session: Session, hasher: IdHasher, details: ResidentDetails, *, now: datetime
) -> Resident:
    """The resident's row, created or refreshed. Flushed, so its ``id`` is set."""
    resident = find_resident(session, hasher, details)
    if resident is None:
        resident = new_resident(hasher, details, now=now)
        session.add(resident)
    else:
        refresh_resident(resident, details, now=now)
    session.flush()
    return resident
