"""Visits: one elder at the kiosk, from check-in to the attract screen."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import uuid4

from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.errors import StoreError
from sync.store.db import write_session
from sync.store.idhash import IdHasher
from sync.store.models import Visit
from sync.store.records import ResidentDetails
from sync.store.residents import upsert_resident

Outcome = Literal["completed", "abandoned", "timeout", "error"]


def start_visit(
    factory: sessionmaker[Session],
    *,
    hasher: IdHasher,
    resident: ResidentDetails,
    now: datetime | None = None,
) -> int:
    """Check a resident in; returns the visit's id (pass it to ``save_reading``)."""
    at = now or datetime.now(UTC)
    with write_session(factory) as session:
        person = upsert_resident(session, hasher, resident, now=at)
        visit = Visit(uuid=str(uuid4()), resident_id=person.id, started_at=at)
        session.add(visit)
        session.flush()
        return visit.id


def end_visit(
    factory: sessionmaker[Session],
    visit_id: int,
    *,
    outcome: Outcome,
    now: datetime | None = None,
) -> None:
    """Close a visit with its outcome; closing it again changes nothing."""
    with write_session(factory) as session:
        visit = session.get(Visit, visit_id)
        if visit is None:
            raise StoreError(f"no visit {visit_id}")
        if visit.ended_at is None:
            visit.ended_at = now or datetime.now(UTC)
            visit.outcome = outcome
