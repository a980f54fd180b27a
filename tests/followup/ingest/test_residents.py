"""A resident is created from their first reading with what the ID card gave
(name, sex, birth date), the ID number kept masked for display; later readings
never overwrite what a doctor has since edited."""

from __future__ import annotations

import uuid as uuidlib
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.models import Reading, Resident
from followup.ingest.store import IngestStore
from healthkiosk.idnumber import mask
from sync.schema import ReadingMessage, from_dict
from tests.support.synckit import id_number
from tests.support.web import DISTRICT

AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
ID = id_number(7)


def reading(seq: int, **resident: Any) -> ReadingMessage:
    msg = from_dict(
        {
            "schema": "hk.reading/1",
            "uuid": str(uuidlib.uuid4()),
            "station_id": "st-1",
            "station_seq": seq,
            "resident": {"id_number": ID, **resident},
            "kind": "blood_pressure",
            "measured_at": AT.isoformat(),
            "values": {"systolic": 150, "diastolic": 95, "pulse": 70},
            "device": {"model": "m", "transport": "emulated"},
            "classification": {"category": "grade_1", "urgent": False},
            "software_version": "t",
        }
    )
    assert isinstance(msg, ReadingMessage)
    return msg


def test_the_first_reading_makes_the_resident_and_later_ones_keep_the_doctors_edits(
    followup_url: str,
) -> None:
    engine = make_engine(followup_url)
    try:
        store = IngestStore(engine, key=b"k" * 32, tz=DISTRICT)
        first = reading(1, name="张三", sex="male", birth_date="1950-03-07")
        store.store([first], [], received_at=AT)
        with Session(engine) as s:
            (r,) = s.scalars(select(Resident)).all()
            assert (r.name, r.sex, r.birth_date) == ("张三", "male", date(1950, 3, 7))
            assert r.id_masked == mask(ID) and r.id_masked != ID
            assert r.home_station_id == "st-1"
            s.execute(update(Resident).values(phone="13800000000", name="张三 (edited)"))
            s.commit()
        # A fresh worker (no cache), a later reading with the card's words again.
        IngestStore(engine, key=b"k" * 32, tz=DISTRICT).store(
            [reading(2, name="张三", sex="male", birth_date="1950-03-07")], [], received_at=AT
        )
        with Session(engine) as s:
            (r,) = s.scalars(select(Resident)).all()
            assert (r.name, r.phone) == ("张三 (edited)", "13800000000")
            assert s.scalar(select(Reading.resident_id).where(Reading.uuid == str(first.uuid)))
            assert len(s.scalars(select(Reading)).all()) == 2
    finally:
        engine.dispose()
