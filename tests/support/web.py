"""Helpers for the web app tests: signing in and reading CSRF tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine
from starlette.testclient import TestClient

from followup.web.accounts import Lockout
from followup.web.app import create_app
from followup.web.common import WebSettings
from followup.web.i18n import DEFAULT_TIMEZONE, load_zone
from healthkiosk.rules import load_rules

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


DISTRICT = load_zone(DEFAULT_TIMEZONE)
"""The web app's time zone by default (``WebSettings.timezone``)."""


def district_day(at: datetime) -> date:
    """The district's calendar day at ``at``: the web app's "today" (from 16:00 UTC
    Beijing is already on the next day)."""
    return at.astimezone(DISTRICT).date()


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


def make_client(world: World, *, accept_language: str = "en", **settings: object) -> TestClient:
    """A client of the real app. Its browser asks for English by default (the
    tests that read the pages' words were written in English); the Chinese
    pages are tested with ``accept_language="zh-CN"`` (test_web_chinese.py)."""
    s = WebSettings(secret_key="k" * 64, lockout=Lockout(max_failures=5), **settings)  # type: ignore[arg-type]
    app = create_app(world.engine, load_rules(), s)
    return TestClient(
        app, base_url="http://testserver", headers={"Accept-Language": accept_language}
    )
