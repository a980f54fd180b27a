"""Store rows ↔ ``hk.reading/1``: the one mapping, both ways."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sync.schema import (
    BloodPressureValues,
    GlucoseValues,
    ReadingMessage,
    WireClassification,
    decode,
    encode,
)
from sync.store.idhash import IdHasher
from sync.store.models import OutboxEntry, Reading
from sync.store.wire import columns, from_message, to_message
from tests.support.store_builders import STATION, T0, bp_average, glucose, make_id, resident, save

COLUMNS = [c.key for c in Reading.__table__.columns if c.key not in {"resident_id", "created_at"}]


def _load(factory: sessionmaker[Session], uuid: UUID) -> Reading:
    with factory() as s:
        return s.get_one(Reading, str(uuid))


def test_blood_pressure_message(factory: sessionmaker[Session], hasher: IdHasher) -> None:
    number = make_id(seq=42)
    saved = save(factory, hasher, bp_average(irregular=True), who=resident(number))
    msg = to_message(_load(factory, saved.uuid), STATION)
    assert msg.schema_ == "hk.reading/1" and msg.uuid == saved.uuid and msg.station_seq == 1
    assert msg.station_id == STATION and msg.kind == "blood_pressure"
    assert msg.resident.id_number == number and msg.resident.sex == "female"
    assert msg.resident.name == "张三" and msg.resident.birth_date is not None
    v = msg.values
    assert isinstance(v, BloodPressureValues)
    assert (v.systolic, v.diastolic, v.pulse, v.unit, v.irregular_pulse) == (
        140,
        90,
        71,
        "mmHg",
        True,
    )
    assert [m.systolic for m in v.measurements] == [142, 138]
    assert v.measurements[0].measured_at == T0
    assert msg.device.model == "BP-7000" and msg.device.transport == "ble"
    assert msg.classification.category == "grade_1" and msg.classification.rule == "bp.g1"
    assert number not in repr(msg)  # the schema keeps the number out of reprs


def test_glucose_message_lo(factory: sessionmaker[Session], hasher: IdHasher) -> None:
    saved = save(
        factory,
        hasher,
        glucose(0.5, out_of_range="LO"),
        classification=WireClassification(category="very_low", urgent=True),
    )
    msg = to_message(_load(factory, saved.uuid), STATION)
    v = msg.values
    assert isinstance(v, GlucoseValues)
    assert (v.mmol_per_l, v.out_of_range, v.original_unit, v.meal_context) == (
        None,
        "LO",
        "mg/dL",
        "fasting",
    )
    assert msg.classification.urgent is True


@pytest.mark.parametrize("kind", ["blood_pressure", "glucose"])
def test_row_message_row_is_identity(
    factory: sessionmaker[Session], hasher: IdHasher, kind: str
) -> None:
    reading = (
        bp_average(((181, 111, 80), (175, 105, None)))
        if kind == "blood_pressure"
        else glucose(17.3)
    )
    saved = save(factory, hasher, reading)
    row = _load(factory, saved.uuid)
    msg = to_message(row, STATION)
    back = from_message(decode(encode(msg)))  # type: ignore[arg-type]
    assert back.resident.id_number.value == row.resident.id_number
    assert back.resident.name == row.resident.name
    assert back.station_seq == row.station_seq and back.visit_uuid is None
    cols = columns(back, station_seq=row.station_seq, created_at=row.created_at)
    assert set(cols) == {*COLUMNS, "created_at"} - {"visit_id"}
    for column in COLUMNS:
        if column != "visit_id":
            assert cols[column] == getattr(row, column), column
    again = Reading(**cols, resident_id=row.resident_id)
    again.resident = row.resident
    assert to_message(again, STATION) == msg


@pytest.mark.parametrize(
    "wrong",
    [datetime(1970, 1, 1, 0, 5, tzinfo=UTC), datetime(2099, 12, 31, 23, 0, tzinfo=UTC)],
    ids=["1970", "2099"],
)
def test_a_reading_on_an_unsynchronised_wrong_clock_is_kept_marked_and_sent(
    factory: sessionmaker[Session], hasher: IdHasher, wrong: datetime
) -> None:
    """A wrong clock never makes the store refuse or lose a reading: it is saved
    with its outbox row, marked, and its message says the clock was not synchronised."""
    saved = save(factory, hasher, glucose(2.1), measured_at=wrong, clock_synced=False)
    with factory() as s:
        row = s.get_one(Reading, str(saved.uuid))
        assert row.clock_synced is False and row.measured_at == wrong
        assert s.get(OutboxEntry, str(saved.uuid)) is not None
        msg = to_message(row, STATION)
    assert msg.clock_synced is False and msg.measured_at == wrong
    back = decode(encode(msg))
    assert isinstance(back, ReadingMessage) and back.clock_synced is False
    assert from_message(back).clock_synced is False
    synced = save(factory, hasher, glucose(5.0), clock_synced=True)
    unknown = save(factory, hasher, glucose(5.0))
    assert to_message(_load(factory, synced.uuid), STATION).clock_synced is True
    assert to_message(_load(factory, unknown.uuid), STATION).clock_synced is None
    assert b'"clock_synced"' in encode(to_message(_load(factory, unknown.uuid), STATION))
