"""Fixtures for the web app tests: a real database, the real app, signed-in clients.

``world`` runs every test twice: on a SQLite file and on its own PostgreSQL database
(``followup_url``, tests/conftest.py). The browser tests pin ``followup_url`` to SQLite.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.engine import make_engine
from followup.db.status import ResidentStatusRow
from followup.web.accounts import add_user
from tests.followup_web.factory import add_reading, add_resident, add_station
from tests.followup_web.webhelp import PASSWORD, World, login, make_client


@pytest.fixture
def world(followup_url: str) -> Iterator[World]:
    engine = make_engine(followup_url)
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        add_station(s)
        add_station(s, "st-002", "West station")
        doctor = add_user(
            s, username="dr.wang", password=PASSWORD, role="doctor", now=now, display_name="Dr Wang"
        )
        admin = add_user(s, username="admin", password=PASSWORD, role="admin", now=now)
        u = add_resident(s, name="Zhang Wei", hypertension=True)
        add_reading(s, u, measured_at=now - timedelta(hours=1), systolic=186, diastolic=104)
        a = add_resident(s, name="Li Na", birth=datetime(1980, 2, 3).date())
        add_reading(
            s, a, measured_at=now - timedelta(days=1), glucose=7.4, meal="fasting", station="st-002"
        )
        o = add_resident(s, name="Chen Jie", diabetes=True)
        add_reading(s, o, measured_at=now - timedelta(days=120), glucose=5.5, meal="fasting")
        ids = (u.id, a.id, o.id, doctor.id, admin.id)
    yield World(engine, now, *ids)
    engine.dispose()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with make_client(world) as c:
        _wait_refreshed(c)
        yield c


def _wait_refreshed(c: TestClient) -> None:
    """The app's refresher has processed the readings (first pass at start)."""
    engine = c.app.state.hk.engine  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with Session(engine) as s:
            if s.query(ResidentStatusRow).count() >= 3:
                return
        time.sleep(0.1)
    raise AssertionError("status refresher did not run")


@pytest.fixture
def doctor(client: TestClient) -> TestClient:
    login(client, "dr.wang")
    return client


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    login(client, "admin")
    return client
