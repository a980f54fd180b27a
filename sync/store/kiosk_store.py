"""The kiosk's store in one object, made from the configuration.

The composition root for the kiosk app (and tools): it opens the store (check,
migrate), loads the ID hash key, and carries the settings every write needs.
Its methods block on SQLite (a reading is fsynced before it counts as saved):
call them from the asyncio loop with ``await asyncio.to_thread(store.save_reading, ...)``.
``close()`` is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy.orm import Session, sessionmaker

from drivers.readings import GlucoseMeasurement
from sync.store import devices, purge, readings, stats, visits
from sync.store.db import open_store
from sync.store.idhash import IdHasher
from sync.store.records import (
    BloodPressureAverage,
    ClassificationLike,
    ResidentDetails,
    SavedReading,
)

if TYPE_CHECKING:
    from healthkiosk.config import Config


@dataclass(slots=True)
class KioskStore:
    sessions: sessionmaker[Session]
    hasher: IdHasher
    station_id: str
    min_free_mb: int
    retention: timedelta
    _closed: bool = False

    @classmethod
    def open(cls, cfg: Config) -> KioskStore:
        return cls(
            sessions=open_store(cfg.store_path),
            hasher=IdHasher.from_file(cfg.id_hash_key_path),
            station_id=cfg.station.id,
            min_free_mb=cfg.store.min_free_mb,
            retention=timedelta(days=cfg.store.retention_days),
        )

    def save_reading(
        self,
        *,
        resident: ResidentDetails,
        reading: BloodPressureAverage | GlucoseMeasurement,
        classification: ClassificationLike,
        measured_at: datetime | None = None,
        visit_id: int | None = None,
        reading_uuid: UUID | None = None,
    ) -> SavedReading:
        return readings.save_reading(
            self.sessions,
            hasher=self.hasher,
            resident=resident,
            reading=reading,
            classification=classification,
            min_free_mb=self.min_free_mb,
            measured_at=measured_at,
            visit_id=visit_id,
            reading_uuid=reading_uuid,
        )

    def start_visit(self, resident: ResidentDetails) -> int:
        return visits.start_visit(self.sessions, hasher=self.hasher, resident=resident)

    def end_visit(self, visit_id: int, *, outcome: visits.Outcome) -> None:
        visits.end_visit(self.sessions, visit_id, outcome=outcome)

    def record_device_event(
        self, *, device: str, kind: str, detail: dict[str, Any] | None = None
    ) -> int:
        return devices.record_device_event(self.sessions, device=device, kind=kind, detail=detail)

    def get_cursor(self, device_key: str) -> int | None:
        return devices.get_cursor(self.sessions, device_key)

    def set_cursor(self, device_key: str, last_sequence: int) -> None:
        devices.set_cursor(self.sessions, device_key, last_sequence)

    def purge(self) -> purge.PurgeReport:
        return purge.purge_delivered(self.sessions, older_than=self.retention)

    def stats(self) -> stats.StoreStats:
        return stats.store_stats(self.sessions)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            bind = self.sessions.kw.get("bind")
            if bind is not None:
                bind.dispose()

    def __enter__(self) -> KioskStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
