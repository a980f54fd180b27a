"""Fixtures for the web app tests: a real SQLite file, the real app, signed-in clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.accounts import Lockout, add_user
from followup.db.engine import make_engine
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from tests.followup_factory import add_reading, add_resident, add_station

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class World:
    engine: Engine
    now: datetime
    urgent_id: int
    abnormal_id: int
    overdue_id: int
    doctor_id: int
    admin_id: int


def csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    m = CSRF_RE.search(page.text)
    assert m, f"no CSRF token on {path}: {page.status_code}"
    return m.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> None:
    token = csrf(client)
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    engine = make_engine(f"sqlite:///{tmp_path / 'followup.sqlite'}")
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        add_station(s)
        add_station(s, "st-002", "West station")
        doctor = add_user(s, username="dr.wang", password=PASSWORD, role="doctor", now=now,
                          display_name="Dr Wang")  # fmt: skip
        admin = add_user(s, username="admin", password=PASSWORD, role="admin", now=now)
        u = add_resident(s, name="Zhang Wei", hypertension=True)
        add_reading(s, u, measured_at=now - timedelta(hours=1), systolic=186, diastolic=104)
        a = add_resident(s, name="Li Na", birth=datetime(1980, 2, 3).date())
        add_reading(s, a, measured_at=now - timedelta(days=1), glucose=7.4, meal="fasting",
                    station="st-002")  # fmt: skip
        o = add_resident(s, name="Chen Jie", diabetes=True)
        add_reading(s, o, measured_at=now - timedelta(days=120), glucose=5.5, meal="fasting")
        ids = (u.id, a.id, o.id, doctor.id, admin.id)
    yield World(engine, now, *ids)
    engine.dispose()


def make_client(world: World, **settings: object) -> TestClient:
    s = WebSettings(secret_key="k" * 64, lockout=Lockout(max_failures=5), **settings)  # type: ignore[arg-type]
    app = create_app(world.engine, load_rules(), s)
    return TestClient(app, base_url="http://testserver")


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with make_client(world) as c:
        _wait_refreshed(c)
        yield c


def _wait_refreshed(c: TestClient) -> None:
    """The app's refresher has processed the readings (first pass at start)."""
    import time

    from followup.db.status import ResidentStatusRow

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
