"""Residents seen at this station: found by the keyed hash of their ID number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.idnumber import IdNumber
from sync.store.idhash import IdHasher
from sync.store.models import Resident
from sync.store.records import ResidentDetails


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


@dataclass(frozen=True, slots=True)
class SeenResident:
    """A resident this station has seen: the name a card gave (if any) and
    when a reading of theirs was last saved here."""

    name: str | None
    last_seen: datetime


def seen_resident(
    factory: sessionmaker[Session], *, hasher: IdHasher, id_number: IdNumber | str
) -> SeenResident | None:
    """The resident of this ID number as this station knows them; None for a
    first visit here."""
    digest = hasher.hash(id_number)
    with factory() as session:
        row = session.execute(
            select(Resident.name, Resident.last_seen).where(Resident.id_hash == digest)
        ).first()
    return None if row is None else SeenResident(name=row.name, last_seen=row.last_seen)
