"""Counts for ``healthkiosk store stats`` and the station's status message."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.store import meta
from sync.store.db import store_path
from sync.store.diskspace import MB, free_mb
from sync.store.models import OutboxEntry, Reading, Resident, Visit


@dataclass(frozen=True, slots=True)
class StoreStats:
    readings_by_kind: dict[str, int]
    residents: int
    visits: int
    outbox_backlog: int
    outbox_delivered: int
    outbox_rejected: int
    oldest_undelivered: datetime | None
    """When the oldest reading still waiting for its receipt was measured."""
    last_station_seq: int
    store_id: str | None
    store_size_mb: float
    """The file and its write-ahead log."""
    disk_free_mb: float

    @property
    def readings(self) -> int:
        return sum(self.readings_by_kind.values())

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["readings"] = self.readings
        out["oldest_undelivered"] = (
            self.oldest_undelivered.isoformat() if self.oldest_undelivered else None
        )
        return out


_PENDING = OutboxEntry.delivered_at.is_(None) & OutboxEntry.rejected_at.is_(None)


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    pending: int
    """Neither delivered nor rejected yet."""
    delivered: int
    rejected: int
    last_delivered: datetime | None


def outbox_counts(session: Session) -> OutboxCounts:
    """The outbox at a glance (the kiosk's technician screen, ``store stats``)."""
    pending, delivered, rejected, last = session.execute(
        select(
            func.count().filter(_PENDING),
            func.count(OutboxEntry.delivered_at),
            func.count(OutboxEntry.rejected_at),
            func.max(OutboxEntry.delivered_at),
        )
    ).one()
    return OutboxCounts(
        pending=int(pending), delivered=int(delivered), rejected=int(rejected), last_delivered=last
    )


def outbox_status(factory: sessionmaker[Session]) -> OutboxCounts:
    with factory() as session:
        return outbox_counts(session)


def store_stats(factory: sessionmaker[Session]) -> StoreStats:
    path = store_path(factory)
    with factory() as session:
        by_kind = {
            str(kind): int(n)
            for kind, n in session.execute(
                select(Reading.kind, func.count()).group_by(Reading.kind).order_by(Reading.kind)
            )
        }
        box = outbox_counts(session)
        oldest = session.scalar(
            select(func.min(Reading.measured_at)).join(OutboxEntry).where(_PENDING)
        )
        return StoreStats(
            readings_by_kind=by_kind,
            residents=session.scalar(select(func.count()).select_from(Resident)) or 0,
            visits=session.scalar(select(func.count()).select_from(Visit)) or 0,
            outbox_backlog=box.pending,
            outbox_delivered=box.delivered,
            outbox_rejected=box.rejected,
            oldest_undelivered=oldest,
            last_station_seq=meta.last_seq(session),
            store_id=meta.get(session, meta.STORE_ID),
            store_size_mb=round(_size(path) + _size(path.with_name(path.name + "-wal")), 2),
            disk_free_mb=round(free_mb(path), 1),
        )


def _size(path: Path) -> float:
    try:
        return path.stat().st_size / MB
    except FileNotFoundError:
        return 0.0
