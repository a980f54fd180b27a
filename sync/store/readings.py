"""Saving a reading: resident, reading and outbox row in one transaction.

The kiosk shows a reading as saved only after :func:`save_reading` returns.
Free disk is checked before anything is written; the station sequence number
comes from the store's counter under the write lock, so the kiosk app and
any other writer sharing the file never hand out the same number.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID, uuid4

from sqlalchemy.orm import Session, sessionmaker

from drivers.readings import GlucoseMeasurement
from healthkiosk import __version__
from sync.schema import WireBpMeasurement
from sync.store import meta, wire
from sync.store.db import store_path, write_session
from sync.store.diskspace import ensure_free_space
from sync.store.idhash import IdHasher
from sync.store.models import OutboxEntry, Reading
from sync.store.records import (
    BloodPressureAverage,
    ClassificationLike,
    ResidentDetails,
    SavedReading,
)
from sync.store.residents import upsert_resident

log = logging.getLogger(__name__)


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must carry its UTC offset")
    return value.astimezone(UTC)


def _blood_pressure_row(reading: BloodPressureAverage, measured_at: datetime) -> Reading:
    if not reading.measurements:
        raise ValueError("a blood pressure reading needs the measurements it averages")
    if any(m.value.status.discards_reading for m in reading.measurements):
        raise ValueError("a measurement with movement, cuff fit or position problems is no reading")
    last = reading.measurements[-1].value
    device = last.device
    return Reading(
        kind="blood_pressure",
        measured_at=measured_at,
        device_time=last.device_time,
        systolic_mmhg=reading.systolic_mmhg,
        diastolic_mmhg=reading.diastolic_mmhg,
        mean_arterial_mmhg=reading.mean_arterial_mmhg,
        pulse_bpm=reading.pulse_bpm,
        irregular_pulse=any(m.value.status.irregular_pulse for m in reading.measurements),
        measurements=[
            wire.measurement_dict(
                WireBpMeasurement(
                    systolic=m.value.systolic_mmhg,
                    diastolic=m.value.diastolic_mmhg,
                    pulse=m.value.pulse_bpm,
                    measured_at=_aware(m.measured_at, "a measurement's time"),
                    device_time=m.value.device_time,
                    irregular_pulse=m.value.status.irregular_pulse,
                )
            )
            for m in reading.measurements
        ],
        device_model=device.model,
        device_manufacturer=device.manufacturer,
        device_serial=device.serial,
        device_firmware=device.firmware,
        device_transport=device.transport.value,
    )


def _glucose_row(reading: GlucoseMeasurement, measured_at: datetime) -> Reading:
    device = reading.device
    return Reading(
        kind="glucose",
        measured_at=measured_at,
        device_time=reading.device_time,
        glucose_mmol_per_l=None if reading.out_of_range else reading.mmol_per_l,
        meal_context=(reading.meal.value if reading.meal else "random"),
        original_value=reading.original_value,
        original_unit=reading.original_unit.value,
        out_of_range=reading.out_of_range,
        irregular_pulse=False,
        device_model=device.model,
        device_manufacturer=device.manufacturer,
        device_serial=device.serial,
        device_firmware=device.firmware,
        device_transport=device.transport.value,
    )


def save_reading(
    factory: sessionmaker[Session],
    *,
    hasher: IdHasher,
    resident: ResidentDetails,
    reading: BloodPressureAverage | GlucoseMeasurement,
    classification: ClassificationLike,
    min_free_mb: int,
    measured_at: datetime | None = None,
    visit_id: int | None = None,
    software_version: str = __version__,
    reading_uuid: UUID | None = None,
) -> SavedReading:
    """Store one reading with its outbox row, atomically; returns its uuid and
    station sequence number.

    ``measured_at`` is the kiosk's clock when the reading was complete (default:
    the last measurement's time for blood pressure, now for glucose).

    Raises :class:`~healthkiosk.errors.StoreFullError` (nothing written) when
    the disk has less than ``min_free_mb`` free, ``ValueError`` (nothing
    written) for a reading the wire schema could not carry.
    """
    ensure_free_space(store_path(factory), min_free_mb=min_free_mb)
    now = datetime.now(UTC)
    if isinstance(reading, BloodPressureAverage):
        if not reading.measurements:
            raise ValueError("a blood pressure reading needs the measurements it averages")
        when = measured_at or max(m.measured_at for m in reading.measurements)
        row = _blood_pressure_row(reading, _aware(when, "measured_at"))
    else:
        row = _glucose_row(reading, _aware(measured_at or now, "measured_at"))
    row.uuid = str(reading_uuid or uuid4())
    row.visit_id = visit_id
    row.category = classification.category
    row.urgent = classification.urgent
    row.isolated_systolic = classification.isolated_systolic
    row.close_to_limit = classification.close_to_limit
    row.rule = classification.rule
    row.software_version = software_version
    row.created_at = now
    if row.device_time is not None:
        row.device_time = _aware(row.device_time, "device_time")
    # What enters the outbox must be sendable: validate the parts now, while
    # the elder is still at the screen, not at publish time.
    wire.values_of(row)
    wire.device_of(row)
    wire.classification_of(row)

    with write_session(factory) as session:
        person = upsert_resident(session, hasher, resident, now=now)
        row.resident_id = person.id
        row.station_seq = meta.next_seq(session)
        session.add(row)
        session.add(OutboxEntry(reading_uuid=row.uuid, enqueued_at=now, attempts=0))
        session.flush()
        saved = SavedReading(
            uuid=UUID(row.uuid),
            station_seq=row.station_seq,
            resident_id=person.id,
            measured_at=row.measured_at,
        )
    log.info(
        "saved %s reading seq %d (%s%s) for resident #%d",
        row.kind,
        saved.station_seq,
        row.category,
        ", urgent" if row.urgent else "",
        saved.resident_id,
    )
    return saved
