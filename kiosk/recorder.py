"""The kiosk's recorder on the local store (:mod:`sync.store`).

:meth:`StoreRecorder.save` hands a completed reading to the store's one save
path, :func:`sync.store.readings.save_reading` (resident found by the keyed
hash of the ID number, the visit, the reading and its outbox row, in one
transaction), and returns only after the commit, so the screen says "saved"
only for a reading that survives a power cut.

The reading is turned into the parts of its ``hk.reading/1`` message here,
while the elder is still at the screen: a reading the doctor's side could not
take is refused (``ValueError``) before anything is written. Database work
runs in a worker thread (``asyncio.to_thread``), never on the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.idnumber import parse as parse_id_number
from healthkiosk.readings import DeviceInfo, DeviceMemoryRecord
from kiosk.flow.ports import (
    BpValues,
    CompletedReading,
    CouldNotMeasure,
    ResidentIdentity,
    StoreStatus,
)
from kiosk.flow.state import TrendPoint
from sync.schema import (
    BloodPressureValues,
    DeviceEventValues,
    GlucoseValues,
    WireClassification,
    WireDevice,
)
from sync.store import devices, readings, residents, stats, visits
from sync.store.idhash import IdHasher
from sync.store.records import NewReading, ResidentDetails

log = logging.getLogger(__name__)


def new_reading(r: CompletedReading) -> NewReading:
    """The store's view of a completed reading (validated: raises ``ValueError``
    for anything ``hk.reading/1`` could not carry)."""
    v = r.values
    values: BloodPressureValues | GlucoseValues
    if isinstance(v, BpValues):
        values = BloodPressureValues.model_validate(
            {
                "systolic": v.systolic,
                "diastolic": v.diastolic,
                "pulse": v.pulse,
                "mean_arterial_pressure": v.mean_arterial,
                "irregular_pulse": v.irregular_pulse,
                "measurements": list(v.measurements),
            }
        )
    else:
        values = GlucoseValues.model_validate(
            {
                "mmol_per_l": v.mmol_per_l,
                "meal_context": v.meal,
                "original_value": v.original_value,
                "original_unit": v.original_unit or "mmol/L",
                "out_of_range": v.out_of_range,
            }
        )
    if (r.kind == "blood_pressure") != isinstance(values, BloodPressureValues):
        raise ValueError(f"values do not match kind {r.kind!r}")
    return NewReading(
        uuid=UUID(r.uuid),
        visit_uuid=r.visit_uuid,
        resident=_resident(r.resident),
        measured_at=r.measured_at,
        device_time=r.device_time,
        values=values,
        device=_device(r.device),
        classification=WireClassification.model_validate(
            {
                "category": r.category,
                "urgent": r.urgent,
                "isolated_systolic": r.isolated_systolic,
                "close_to_limit": r.close_to_limit,
                "rule": r.rule,
                "rules": r.rule_set.as_dict() if r.rule_set is not None else None,
            }
        ),
        clock_synced=r.clock_synced,
    )


def memory_values(record: DeviceMemoryRecord) -> dict[str, Any]:
    """A device-memory record's values as the store keeps them (JSON): every
    field of the reading but the device and its time (kept in their columns)."""
    fields = asdict(record.reading)
    fields.pop("device", None)
    fields.pop("device_time", None)
    out: dict[str, Any] = json.loads(json.dumps(fields, default=str))
    return out


def _resident(who: ResidentIdentity) -> ResidentDetails:
    return ResidentDetails(
        id_number=parse_id_number(who.id_number),
        name=who.name,
        sex=who.sex,
        birth_date=who.birth_date,
    )


def _device(d: DeviceInfo) -> WireDevice:
    return WireDevice.model_validate(
        {
            "model": d.model,
            "manufacturer": d.manufacturer,
            "serial": d.serial,
            "firmware": d.firmware,
            "transport": d.transport.value,
        }
    )


def new_event(e: CouldNotMeasure) -> NewReading:
    """The store's view of a refused value: an ``hk.reading/1`` device event
    (validated: ``ValueError`` for anything the message could not carry)."""
    values = DeviceEventValues.model_validate(
        {"event": "implausible_value", "measurement": e.measurement, "reason": e.reason} | e.values
    )
    return NewReading(
        uuid=UUID(e.uuid),
        visit_uuid=e.visit_uuid,
        resident=_resident(e.resident),
        measured_at=e.measured_at,
        device_time=e.device_time,
        values=values,
        device=_device(e.device),
        classification=None,
        clock_synced=e.clock_synced,
    )


class StoreRecorder:
    """Implements :class:`kiosk.flow.ports.Recorder` on the kiosk's SQLite store."""

    def __init__(
        self, sessions: sessionmaker[Session], *, hasher: IdHasher, min_free_mb: int
    ) -> None:
        self._sessions = sessions
        self._hasher = hasher
        self._min_free_mb = min_free_mb

    async def save(self, reading: CompletedReading) -> None:
        new = new_reading(reading)
        await asyncio.to_thread(
            readings.save_reading,
            self._sessions,
            hasher=self._hasher,
            reading=new,
            min_free_mb=self._min_free_mb,
        )

    async def save_event(self, event: CouldNotMeasure) -> None:
        new = new_event(event)
        await asyncio.to_thread(
            readings.save_reading,
            self._sessions,
            hasher=self._hasher,
            reading=new,
            min_free_mb=self._min_free_mb,
        )

    async def end_visit(self, visit_uuid: str, *, outcome: str, at: datetime) -> None:
        await asyncio.to_thread(
            visits.end_visit, self._sessions, visit_uuid, outcome=outcome, at=at
        )

    async def recent(self, resident: ResidentIdentity, *, limit: int) -> list[TrendPoint]:
        rows = await asyncio.to_thread(
            readings.recent_readings,
            self._sessions,
            hasher=self._hasher,
            id_number=resident.id_number,
            limit=limit,
        )
        points = []
        for row in rows:
            if row.kind == "blood_pressure":
                values = (float(row.systolic_mmhg or 0), float(row.diastolic_mmhg or 0))
                points.append(TrendPoint(row.measured_at, "blood_pressure", values, row.category))
            elif row.glucose_mmol_per_l is not None:
                points.append(
                    TrendPoint(row.measured_at, "glucose", (row.glucose_mmol_per_l,), row.category)
                )
        return points

    async def known_name(self, id_number: str) -> str | None:
        return await asyncio.to_thread(
            residents.known_name, self._sessions, hasher=self._hasher, id_number=id_number
        )

    async def record_event(self, *, device: str, kind: str, detail: dict[str, Any]) -> None:
        await asyncio.to_thread(
            devices.record_device_event, self._sessions, device=device, kind=kind, detail=detail
        )

    async def record_memory(self, *, role: str, record: DeviceMemoryRecord) -> None:
        reading = record.reading
        await asyncio.to_thread(
            devices.record_device_memory,
            self._sessions,
            role=role,
            device=reading.device.label,
            kind=record.kind,
            reason=record.reason.value,
            values=memory_values(record),
            device_time=reading.device_time,
            received_at=record.received_at,
        )

    async def status(self) -> StoreStatus:
        box = await asyncio.to_thread(stats.outbox_status, self._sessions)
        return StoreStatus(
            pending=box.pending, delivered=box.delivered, last_delivered=box.last_delivered
        )
