"""Finding 2 of issue 19: one reading dated 9999-12-31 must not freeze the list
or the urgent alerts. The wire refuses such a date; a row that still gets into
``readings`` (another writer, an old release, a hand edit) is set aside by the
status refresher (dead-lettered with its reason, its resident's status computed
without it) and every reading after it still alerts. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from followup.db.alerts import Alert
from followup.db.engine import make_engine
from followup.db.models import DeadLetter, Reading
from followup.db.status import ResidentStatusRow, StatusWatermark
from followup.ingest.check import check_readings
from followup.ingest.store import IngestStore
from followup.web.app import refresh_once
from sync.schema import encode
from tests.followup.alerts.test_clock_and_age import STATION, app_state, message
from tests.support.followup_data import add_reading, add_resident, add_station
from tests.support.web import DISTRICT

FAR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)


@pytest.fixture
def engine(followup_url: str) -> Iterator[Engine]:
    e = make_engine(followup_url)
    yield e
    e.dispose()


@pytest.mark.parametrize("stamp", ["9999-12-31T00:00:00Z", "9999-12-31T23:59:59-12:00"])
def test_a_reading_dated_9999_is_refused_with_its_reason(stamp: str) -> None:
    good = message(measured_at=datetime.now(UTC), clock_synced=True, seq=1)
    raw = (
        encode(good)
        .replace(good.measured_at.isoformat().encode(), stamp.encode())
        .replace(good.measured_at.isoformat().replace("+00:00", "Z").encode(), stamp.encode())
    )
    assert stamp.encode() in raw
    checked = check_readings(f"hk/v1/st/{STATION}/readings", raw, max_bytes=65536)
    assert checked.readings == []
    assert [r.uuid for r in checked.rejections] == [str(good.uuid)]
    assert "measured_at" in checked.rejections[0].reason


def test_a_row_dated_9999_is_set_aside_and_a_later_urgent_reading_alerts(
    engine: Engine,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(engine) as s, s.begin():
        add_station(s, "st-001")
        bad_resident = add_resident(s, name="Wang Bad")
        bad = add_reading(
            s, bad_resident, measured_at=FAR, received_at=now, systolic=150, diastolic=95
        )
        bad_uuid, bad_rid = bad.uuid, bad_resident.id
    state = app_state(engine, now)
    asyncio.run(refresh_once(state, None))  # the bad row is set aside, not fatal
    later = now + timedelta(seconds=5)
    IngestStore(engine, key=b"k" * 32, tz=DISTRICT).store(
        [message(measured_at=later, clock_synced=True, seq=2, systolic=185)],
        [],
        received_at=later,
    )
    assert asyncio.run(refresh_once(app_state(engine, later), None)) == 1
    with Session(engine) as s:
        alert = s.scalars(select(Alert)).one()
        good = s.scalars(select(Reading).where(Reading.uuid != bad_uuid)).one()
        wm = s.get(StatusWatermark, 1)
        letters = list(s.scalars(select(DeadLetter)))
        bad_status = s.get(ResidentStatusRow, bad_rid)
        good_status = s.get(ResidentStatusRow, good.resident_id)
    assert alert.reading_uuid == good.uuid
    assert wm is not None and wm.received_at is not None
    assert wm.received_at.replace(tzinfo=UTC) >= later
    assert good_status is not None and good_status.level == 2
    # The bad row: dead-lettered once with its reason, its resident still listed.
    assert len(letters) == 1 and letters[0].topic == "followup/status-refresh"
    assert bad_uuid in letters[0].reason and "out of range" in letters[0].reason
    assert bad_status is not None
