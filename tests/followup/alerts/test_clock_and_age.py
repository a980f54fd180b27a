"""Urgent alerts and ordering when a station's clock is wrong, and for a late backlog.

A station that booted without network keeps a wrong time. Its readings say
``clock_synced: false``; the doctor's side then uses its own arrival time
for the reading (the list, the resident's page, the review dates, the alert),
keeps the station's time beside it, and never drops an urgent alert for its
age alone. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from followup.alerts.urgent import alert_payload
from followup.db.alerts import Alert
from followup.db.engine import make_engine
from followup.db.models import Reading
from followup.db.status import ResidentStatusRow
from followup.ingest.store import IngestStore
from followup.web.app import refresh_once
from followup.web.common import AppState, WebSettings, make_templates
from healthkiosk.idnumber import check_character
from healthkiosk.rules import load_rules
from sync.schema import ReadingMessage
from tests.support.web import DISTRICT, district_day

FIRST17 = "31010419460823041"
NUMBER = FIRST17 + check_character(FIRST17)
STATION = "st-clock"


def message(
    *, measured_at: datetime, clock_synced: bool | None, seq: int, systolic: int = 186
) -> ReadingMessage:
    """An urgent blood pressure reading (186/112) as a station sends it."""
    doc: dict[str, Any] = {
        "schema": "hk.reading/1",
        "uuid": str(uuid.uuid4()),
        "station_id": STATION,
        "station_seq": seq,
        "resident": {"id_number": NUMBER, "name": "Zhou Lan", "sex": "female"},
        "kind": "blood_pressure",
        "measured_at": measured_at.isoformat(),
        "values": {"systolic": systolic, "diastolic": 112, "pulse": 80, "unit": "mmHg"},
        "device": {"model": "BP-7000", "transport": "ble"},
        "classification": {"category": "grade_3", "urgent": True, "isolated_systolic": False},
        "software_version": "0.9.0",
    }
    if clock_synced is not None:
        doc["clock_synced"] = clock_synced
    return ReadingMessage.model_validate(doc)


@pytest.fixture
def engine(followup_url: str) -> Iterator[Engine]:
    e = make_engine(followup_url)
    yield e
    e.dispose()


def app_state(engine: Engine, now: datetime) -> AppState:
    return AppState(
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        rules=load_rules(),
        settings=WebSettings(secret_key="k" * 40),
        templates=make_templates(),
        clock=lambda: now,
    )


def test_an_urgent_reading_on_a_wrong_old_station_clock_still_raises_its_alert(
    engine: Engine,
) -> None:
    """The station's clock is a year behind (a Pi without a real-time clock that
    booted without network). Before: the reading counted as a year old, its alert
    was skipped ("older than 24 h") and it sat at the bottom of the resident's
    history. Now: it arrives, it is urgent now, its alert is raised."""
    now = datetime.now(UTC).replace(microsecond=0)
    wrong = now - timedelta(days=400)
    IngestStore(engine, key=b"k" * 32, tz=DISTRICT).store(
        [message(measured_at=wrong, clock_synced=False, seq=1)], [], received_at=now
    )
    assert asyncio.run(refresh_once(app_state(engine, now), None)) == 1
    with Session(engine) as s:
        alert = s.scalars(select(Alert)).one()
        reading = s.scalars(select(Reading)).one()
        status = s.get(ResidentStatusRow, reading.resident_id)
    assert alert.measured_at == now  # the arrival, not the station's wrong time
    assert (reading.measured_at, reading.station_measured_at) == (now, wrong)
    assert reading.clock_synced is False
    assert status is not None and status.level == 2 and status.trigger_at == now
    assert status.review_due_on == district_day(now)  # urgent: today, not a year ago


def test_a_late_backlog_from_a_trusted_clock_raises_its_alert_marked_late(
    engine: Engine,
) -> None:
    """A station offline for three days delivers an urgent reading it made then:
    its time is its own (its clock was synchronised), the alert is raised, late."""
    now = datetime.now(UTC).replace(microsecond=0)
    made = now - timedelta(days=3)
    IngestStore(engine, key=b"k" * 32, tz=DISTRICT).store(
        [message(measured_at=made, clock_synced=True, seq=1)], [], received_at=now
    )
    assert asyncio.run(refresh_once(app_state(engine, now), None)) == 1
    with Session(engine) as s:
        alert = s.scalars(select(Alert)).one()
        reading = s.scalars(select(Reading)).one()
        payload = alert_payload(reading, raised_at=now, late_after=timedelta(hours=24))
    assert alert.measured_at == made and reading.station_measured_at is None
    assert payload["late"] is True and payload["clock_synced"] is True
    fresh = alert_payload(reading, raised_at=made + timedelta(minutes=1), late_after=timedelta(1))
    assert fresh["late"] is False


@pytest.mark.parametrize(
    ("offset", "said", "from_arrival"),
    [
        (timedelta(days=-3), None, False),  # an older station, a backlog: its own time
        (timedelta(minutes=4), None, False),  # a little ahead of the server: tolerated
        (timedelta(days=20 * 365), None, True),  # 2046: in the future, said or not
        (timedelta(hours=2), True, True),  # ahead of the arrival: no right clock does that
        (timedelta(seconds=-5), False, True),  # not synchronised: the arrival, however close
    ],
)
def test_which_time_a_reading_is_given(
    engine: Engine, offset: timedelta, said: bool | None, from_arrival: bool
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    claimed = now + offset
    IngestStore(engine, key=b"k" * 32, tz=DISTRICT).store(
        [message(measured_at=claimed, clock_synced=said, seq=1)], [], received_at=now
    )
    with Session(engine) as s:
        r = s.scalars(select(Reading)).one()
    assert r.clock_synced is said
    if from_arrival:
        assert (r.measured_at, r.station_measured_at) == (now, claimed)
    else:
        assert (r.measured_at, r.station_measured_at) == (claimed, None)


def test_readings_of_an_unsynchronised_station_are_ordered_by_arrival(engine: Engine) -> None:
    """Two readings of one resident: one an hour ago from a good clock, one now
    from a clock a year behind. The newer is the one that arrived last."""
    now = datetime.now(UTC).replace(microsecond=0)
    store = IngestStore(engine, key=b"k" * 32, tz=DISTRICT)
    hour_ago = now - timedelta(hours=1)
    store.store(
        [message(measured_at=hour_ago, clock_synced=True, seq=1, systolic=150)],
        [],
        received_at=hour_ago,
    )
    store.store(
        [message(measured_at=now - timedelta(days=365), clock_synced=False, seq=2, systolic=190)],
        [],
        received_at=now,
    )
    with Session(engine) as s:
        newest = s.scalars(select(Reading).order_by(Reading.measured_at.desc())).first()
    assert newest is not None and newest.systolic_mmhg == 190


def test_the_residents_page_says_when_a_time_is_the_arrival(engine: Engine) -> None:
    from starlette.testclient import TestClient

    from followup.web.accounts import add_user
    from followup.web.app import create_app
    from tests.support.web import PASSWORD, login

    now = datetime.now(UTC).replace(microsecond=0)
    wrong = datetime(2001, 1, 1, 8, 0, tzinfo=UTC)
    IngestStore(engine, key=b"k" * 32, tz=DISTRICT).store(
        [message(measured_at=wrong, clock_synced=False, seq=1)], [], received_at=now
    )
    with Session(engine) as s, s.begin():
        add_user(s, username="dr.li", password=PASSWORD, role="doctor", now=now)
        rid = s.scalars(select(Reading.resident_id)).one()
    app = create_app(engine, load_rules(), WebSettings(secret_key="k" * 64), run_refresher=False)
    with TestClient(app, base_url="http://testserver", headers={"Accept-Language": "en"}) as c:
        login(c, "dr.li")
        html = c.get(f"/residents/{rid}").text
    assert "the station's clock was not synchronised (it said 2001-01-01 16:00 CST (UTC+8))" in html


def test_how_far_ahead_a_station_is_believed_is_configured(engine: Engine) -> None:
    """``followup.max_clock_ahead_s``: 30 minutes ahead is a wrong clock by default
    (the arrival time), and the station's own time where the district allows an hour."""
    now = datetime.now(UTC).replace(microsecond=0)
    ahead = now + timedelta(minutes=30)
    IngestStore(engine, key=b"k" * 32, tz=DISTRICT).store(
        [message(measured_at=ahead, clock_synced=True, seq=1)], [], received_at=now
    )
    IngestStore(engine, key=b"k" * 32, tz=DISTRICT, max_ahead=timedelta(hours=1)).store(
        [message(measured_at=ahead, clock_synced=True, seq=2)], [], received_at=now
    )
    with Session(engine) as s:
        rows = s.scalars(select(Reading).order_by(Reading.station_seq)).all()
    assert [(r.measured_at, r.station_measured_at) for r in rows] == [(now, ahead), (ahead, None)]
