"""Visits: one elder at the kiosk, from check-in to the attract screen.

A visit's row is made with its first reading (:func:`sync.store.readings.add_readings`);
a visit that saved nothing leaves no row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync.store.db import write_session
from sync.store.models import Visit


def end_visit(
    factory: sessionmaker[Session], visit_uuid: str, *, outcome: str, at: datetime
) -> None:
    """Close a visit with its outcome (completed, abandoned, timeout, error);
    closing it again, or a visit that saved nothing, changes nothing."""
    with write_session(factory) as session:
        visit = session.scalar(select(Visit).where(Visit.uuid == visit_uuid))
        if visit is not None and visit.ended_at is None:
            visit.ended_at = at
            visit.outcome = outcome
