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


def upsert_resident(
    session: Session, hasher: IdHasher, details: ResidentDetails, *, now: datetime
) -> Resident:
    """The resident's row, created or refreshed (name, sex, birth date when
    given; ``last_seen``). Flushed, so its ``id`` is set."""
    number = details.id_number
    resident = session.scalar(select(Resident).where(Resident.id_hash == hasher.hash(number)))
    if resident is None:
        resident = Resident(
            id_hash=hasher.hash(number),
            id_number=number.value,
            id_masked=number.masked,
            name=details.name,
            sex=details.resolved_sex,
            birth_date=details.resolved_birth_date,
            first_seen=now,
            last_seen=now,
        )
        session.add(resident)
    else:
        if details.name:
            resident.name = details.name
        if details.sex:
            resident.sex = details.sex
        if details.birth_date:
            resident.birth_date = details.birth_date
        resident.last_seen = max(resident.last_seen, now)
        resident.first_seen = min(resident.first_seen, now)
    session.flush()
    return resident
