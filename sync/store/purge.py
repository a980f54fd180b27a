"""Retention: delivered readings go after the retention period, undelivered
(and rejected) ones never do. Residents left with nothing are removed too, so
their ID numbers do not stay on the kiosk longer than needed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session, sessionmaker

from sync.store.db import write_session
from sync.store.models import DeviceEvent, DeviceMemory, OutboxEntry, Reading, Resident, Visit

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    readings: int
    visits: int
    residents: int
    device_events: int


def purge_delivered(
    factory: sessionmaker[Session],
    *,
    older_than: timedelta,
    now: datetime | None = None,
) -> PurgeReport:
    """Delete readings delivered more than ``older_than`` ago (with their outbox
    rows), then visits, residents and device events older than that which
    nothing refers to any more."""
    cutoff = (now or datetime.now(UTC)) - older_than
    with write_session(factory) as session:
        delivered = (
            select(OutboxEntry.reading_uuid)
            .where(OutboxEntry.delivered_at.is_not(None))
            .where(OutboxEntry.delivered_at < cutoff)
            .where(OutboxEntry.rejected_at.is_(None))
        )
        n_readings = session.execute(
            delete(Reading).where(Reading.uuid.in_(delivered)),
            execution_options={"synchronize_session": False},
        ).rowcount  # type: ignore[attr-defined]
        n_visits = session.execute(
            delete(Visit)
            .where(Visit.started_at < cutoff)
            .where(Visit.ended_at.is_not(None))
            .where(~exists().where(Reading.visit_id == Visit.id)),
            execution_options={"synchronize_session": False},
        ).rowcount  # type: ignore[attr-defined]
        n_residents = session.execute(
            delete(Resident)
            .where(Resident.last_seen < cutoff)
            .where(~exists().where(Reading.resident_id == Resident.id))
            .where(~exists().where(Visit.resident_id == Resident.id)),
            execution_options={"synchronize_session": False},
        ).rowcount  # type: ignore[attr-defined]
        n_events = session.execute(
            delete(DeviceEvent).where(DeviceEvent.at < cutoff),
            execution_options={"synchronize_session": False},
        ).rowcount  # type: ignore[attr-defined]
        n_events += session.execute(
            delete(DeviceMemory).where(DeviceMemory.received_at < cutoff),
            execution_options={"synchronize_session": False},
        ).rowcount  # type: ignore[attr-defined]
    report = PurgeReport(
        readings=int(n_readings),
        visits=int(n_visits),
        residents=int(n_residents),
        device_events=int(n_events),
    )
    log.info(
        "purged %d delivered readings, %d visits, %d residents, %d device events older than %s",
        report.readings,
        report.visits,
        report.residents,
        report.device_events,
        cutoff.isoformat(timespec="seconds"),
    )
    return report
