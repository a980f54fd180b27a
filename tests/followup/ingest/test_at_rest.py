"""Finding 9 of issue 19, the ingest's part: the whole ID number is kept once, in
``residents`` (shown only when a doctor reveals it), never in a reading's stored
payload or a dead letter; the inner blood pressure measurements are bounded.
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.models import DeadLetter, Reading, Resident
from followup.ingest.check import check_readings
from followup.ingest.store import DeadLetterIn, IngestStore
from healthkiosk.idnumber import mask
from sync.schema import encode
from tests.followup.alerts.test_clock_and_age import NUMBER, STATION, message
from tests.support.web import DISTRICT

TOPIC = f"hk/v1/st/{STATION}/readings"


@pytest.fixture
def engine(followup_url: str) -> Iterator[Engine]:
    e = make_engine(followup_url)
    yield e
    e.dispose()


def test_no_whole_id_number_in_payloads_or_dead_letters(engine: Engine) -> None:
    now = datetime.now(UTC)
    good = message(measured_at=now, clock_synced=True, seq=1)
    refused = json.loads(encode(message(measured_at=now, clock_synced=True, seq=2)))
    refused["values"]["systolic"] = "high"
    raw = json.dumps(refused).encode()
    escaped = raw.replace(NUMBER[:2].encode(), b"\\u0033\\u0031")  # "31" as escapes
    checked = check_readings(TOPIC, raw, max_bytes=65536)
    assert checked.rejections and not checked.readings
    letters = [
        DeadLetterIn(TOPIC, STATION, f"{checked.rejections[0].reason} {NUMBER}", raw),
        DeadLetterIn(TOPIC, STATION, "invalid", escaped),
        DeadLetterIn(TOPIC, STATION, "not_json", b"\xff\xfe " + NUMBER.encode() + b" \x00"),
    ]
    IngestStore(engine, key=b"k" * 32, tz=DISTRICT).store([good], letters, received_at=now)
    with Session(engine) as s:
        reading = s.scalars(select(Reading)).one()
        resident = s.scalars(select(Resident)).one()
        dead = s.scalars(select(DeadLetter)).all()
    assert resident.id_number == NUMBER  # kept once, where the reveal reads it
    assert reading.payload["resident"]["id_number"] == mask(NUMBER)
    assert NUMBER not in json.dumps(reading.payload)
    assert len(dead) == 3
    for d in dead:
        assert NUMBER.encode() not in d.payload and NUMBER not in d.reason
        assert mask(NUMBER).encode() in d.payload
    assert dead[2].payload.startswith(b"\xff\xfe ")  # other bytes kept as they came


def test_the_inner_measurements_of_a_blood_pressure_are_bounded() -> None:
    doc = json.loads(encode(message(measured_at=datetime.now(UTC), clock_synced=True, seq=1)))
    at = doc["measured_at"]
    for bad in (
        {"systolic": 2**40, "diastolic": 80, "measured_at": at},
        {"systolic": 120, "diastolic": -1, "measured_at": at},
        {"systolic": 120, "diastolic": 80, "pulse": 10**6, "measured_at": at},
        {"systolic": 120, "diastolic": 80, "measured_at": "9999-12-31T23:59:59-12:00"},
    ):
        doc["values"]["measurements"] = [bad]
        checked = check_readings(TOPIC, json.dumps(doc).encode(), max_bytes=65536)
        assert not checked.readings, bad
        assert "measurements" in checked.rejections[0].reason
