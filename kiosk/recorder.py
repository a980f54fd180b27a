"""The kiosk's recorder on the local store (:mod:`sync.store.models`).

One transaction per completed reading: the resident (found by the keyed
hash of the ID number, created or updated), the visit, the reading and its
outbox row. :meth:`StoreRecorder.save` returns only after the commit, so the
screen says "saved" only for a reading that survives a power cut
(``synchronous=FULL``).

The transaction, the station sequence number, the free-space check, the
keyed hash and the resident upsert are the store's own (:mod:`sync.store`),
so the kiosk and ``store import`` number and find residents the same way.
Database work runs in a worker thread (``asyncio.to_thread``), never on the
loop.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk import __version__
from healthkiosk.idnumber import parse as parse_id_number
from kiosk.flow.ports import BpValues, CompletedReading, ResidentIdentity, StoreStatus
from kiosk.flow.state import TrendPoint
from sync.store import idhash, wire
from sync.store.db import write_session
from sync.store.diskspace import ensure_free_space
from sync.store.meta import next_seq
from sync.store.models import DeviceEvent, OutboxEntry, Reading, Resident, Visit
from sync.store.records import ResidentDetails
from sync.store.residents import upsert_resident

log = logging.getLogger(__name__)


def load_or_create_key(path: Path) -> bytes:
    """The station's secret for hashing ID numbers (the store's, created once, 0600)."""
    return idhash.load_or_create_key(path)


def id_hash(key: bytes, id_number: str) -> str:
    return idhash.IdHasher(key).hash(id_number)


class StoreRecorder:
    """Implements :class:`kiosk.flow.ports.Recorder` on the kiosk's SQLite store."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        key: bytes,
        store_path: Path,
        min_free_mb: int,
    ) -> None:
        self._sessions = sessions
        self._key = key
        self._hasher = idhash.IdHasher(key)
        self._store_path = store_path
        self._min_free_mb = min_free_mb

    # --- Recorder --------------------------------------------------------------

    async def save(self, reading: CompletedReading) -> None:
        await asyncio.to_thread(self._save, reading)

    async def end_visit(self, visit_uuid: str, *, outcome: str, at: datetime) -> None:
        await asyncio.to_thread(self._end_visit, visit_uuid, outcome, at)

    async def recent(self, resident: ResidentIdentity, *, limit: int) -> list[TrendPoint]:
        return await asyncio.to_thread(self._recent, resident.id_number, limit)

    async def known_name(self, id_number: str) -> str | None:
        return await asyncio.to_thread(self._known_name, id_number)

    async def record_event(self, *, device: str, kind: str, detail: dict[str, Any]) -> None:
        await asyncio.to_thread(self._record_event, device, kind, detail)

    async def status(self) -> StoreStatus:
        return await asyncio.to_thread(self._status)

    # --- in the worker thread ----------------------------------------------------

    def _save(self, r: CompletedReading) -> None:
        ensure_free_space(self._store_path, min_free_mb=self._min_free_mb)
        with write_session(self._sessions) as s:
            details = ResidentDetails(
                id_number=parse_id_number(r.resident.id_number),
                name=r.resident.name,
                sex=r.resident.sex,
                birth_date=r.resident.birth_date,
            )
            resident = upsert_resident(s, self._hasher, details, now=r.measured_at)
            visit = s.scalar(select(Visit).where(Visit.uuid == r.visit_uuid))
            if visit is None:
                visit = Visit(uuid=r.visit_uuid, resident_id=resident.id, started_at=r.measured_at)
                s.add(visit)
                s.flush()
            row = Reading(
                uuid=r.uuid,
                station_seq=next_seq(s),
                resident_id=resident.id,
                visit_id=visit.id,
                kind=r.kind,
                measured_at=r.measured_at,
                device_time=r.device_time,
                device_model=r.device.model,
                device_manufacturer=r.device.manufacturer,
                device_serial=r.device.serial,
                device_firmware=r.device.firmware,
                device_transport=r.device.transport.value,
                category=r.category,
                urgent=r.urgent,
                isolated_systolic=r.isolated_systolic,
                close_to_limit=r.close_to_limit,
                rule=r.rule,
                software_version=__version__,
                created_at=r.measured_at,
            )
            v = r.values
            if isinstance(v, BpValues):
                row.systolic_mmhg = v.systolic
                row.diastolic_mmhg = v.diastolic
                row.pulse_bpm = v.pulse
                row.mean_arterial_mmhg = v.mean_arterial
                row.irregular_pulse = v.irregular_pulse
                row.measurements = [dict(m) for m in v.measurements]
            else:
                row.glucose_mmol_per_l = v.mmol_per_l
                row.meal_context = v.meal
                row.original_value = v.original_value
                row.original_unit = v.original_unit
                row.out_of_range = v.out_of_range
            # What enters the outbox must be sendable: checked now, while
            # the elder is still at the screen, not at publish time.
            wire.values_of(row)
            wire.device_of(row)
            wire.classification_of(row)
            s.add(row)
            s.add(OutboxEntry(reading_uuid=r.uuid, enqueued_at=r.measured_at))
        log.info("reading %s stored (%s, %s)", r.uuid, r.kind, r.device.label)

    def _end_visit(self, visit_uuid: str, outcome: str, at: datetime) -> None:
        with self._sessions.begin() as s:
            visit = s.scalar(select(Visit).where(Visit.uuid == visit_uuid))
            if visit is not None and visit.ended_at is None:
                visit.ended_at = at
                visit.outcome = outcome

    def _recent(self, id_number: str, limit: int) -> list[TrendPoint]:
        key = self._hasher.hash(id_number)
        with self._sessions() as s:
            rows = s.scalars(
                select(Reading)
                .join(Resident)
                .where(Resident.id_hash == key)
                .order_by(Reading.measured_at.desc(), Reading.station_seq.desc())
                .limit(limit)
            ).all()
            points = []
            for row in reversed(rows):
                if row.kind == "blood_pressure":
                    values: tuple[float, ...] = (
                        float(row.systolic_mmhg or 0),
                        float(row.diastolic_mmhg or 0),
                    )
                    points.append(
                        TrendPoint(row.measured_at, "blood_pressure", values, row.category)
                    )
                elif row.glucose_mmol_per_l is not None:
                    points.append(
                        TrendPoint(
                            row.measured_at, "glucose", (row.glucose_mmol_per_l,), row.category
                        )
                    )
            return points

    def _known_name(self, id_number: str) -> str | None:
        key = self._hasher.hash(id_number)
        with self._sessions() as s:
            return s.scalar(select(Resident.name).where(Resident.id_hash == key))

    def _record_event(self, device: str, kind: str, detail: dict[str, Any]) -> None:
        from datetime import UTC

        with self._sessions.begin() as s:
            s.add(DeviceEvent(at=datetime.now(UTC), device=device, kind=kind, detail=detail))

    def _status(self) -> StoreStatus:
        with self._sessions() as s:
            pending = s.scalar(
                select(func.count())
                .select_from(OutboxEntry)
                .where(OutboxEntry.delivered_at.is_(None), OutboxEntry.rejected_at.is_(None))
            )
            delivered = s.scalar(
                select(func.count())
                .select_from(OutboxEntry)
                .where(OutboxEntry.delivered_at.is_not(None))
            )
            last = s.scalar(select(func.max(OutboxEntry.delivered_at)))
        return StoreStatus(pending=pending or 0, delivered=delivered or 0, last_delivered=last)
