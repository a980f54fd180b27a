"""Escalation along the duty chain: the timer, the chain's order, skipped links, a failed
webhook, acknowledgement ending it, the audit log, and a help call on the same chain.
Through a real local webhook; every test on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from followup.alerts.escalation import (
    DutyChain,
    EscalationStep,
    Subject,
    escalate_once,
    open_alerts,
)
from followup.alerts.urgent import acknowledge
from followup.db.alerts import Alert
from followup.db.audit import AuditEvent
from followup.db.engine import make_engine
from followup.web.accounts import add_user
from tests.support.followup_data import add_reading, add_resident, add_station
from tests.support.web import PASSWORD

T0 = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)
CHAIN = DutyChain(
    after_minutes=15,
    doctor_phones={"dr.li": "13900000001"},
    station_phones={"st-001": "13900000002"},
    centre_phone="057100000003",
)


class _Hook(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []  # noqa: RUF012
    code = 204

    def do_POST(self) -> None:
        n = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(n)))
        self.send_response(type(self).code)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.bodies, _Hook.code = [], 204
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_port}/sms"
    server.shutdown()
    server.server_close()


@dataclass
class Case:
    sessions: sessionmaker[Session]
    resident_id: int
    reading: str
    doctor_id: int


@pytest.fixture
def case(followup_url: str) -> Iterator[Case]:
    engine = make_engine(followup_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as s:
        add_station(s)
        doc = add_user(
            s, username="dr.li", password=PASSWORD, role="doctor", now=T0, display_name="Dr Li"
        )
        r = add_resident(s, name="Wang Fang", hypertension=True)
        r.responsible_doctor_id = doc.id
        u = add_reading(s, r, measured_at=T0 - timedelta(minutes=1), systolic=186, diastolic=112)
        s.add(Alert(reading_uuid=u.uuid, resident_id=r.id, measured_at=u.measured_at, raised_at=T0))
        c = Case(sessions, r.id, u.uuid, doc.id)
    yield c
    engine.dispose()


def _run(
    c: Case, url: str | None, minutes: float, chain: DutyChain = CHAIN, **kw: Any
) -> list[EscalationStep]:
    return asyncio.run(
        escalate_once(c.sessions, chain, webhook_url=url, now=T0 + timedelta(minutes=minutes), **kw)
    )


def _steps(c: Case) -> list[tuple[int, str, str, str]]:
    with c.sessions() as s:
        return [
            (st.step, st.role, st.target, st.status)
            for st in s.scalars(select(EscalationStep).order_by(EscalationStep.step))
        ]


def test_the_chain_in_order_on_its_timer(case: Case, hook: str) -> None:
    assert _run(case, hook, 14.9) == []
    assert [(s.step, s.role, s.status) for s in _run(case, hook, 15)] == [(1, "doctor", "sent")]
    assert _run(case, hook, 15.5) == []  # once per step
    assert _run(case, hook, 29.9) == []  # 15 minutes from the last step
    assert [s.role for s in _run(case, hook, 30)] == ["station"]
    assert [s.role for s in _run(case, hook, 45)] == ["centre"]
    assert _run(case, hook, 120) == []  # the chain ends with the centre
    assert [(b["step"], b["role"], b["to"]) for b in _Hook.bodies] == [
        (1, "doctor", "13900000001"),
        (2, "station", "13900000002"),
        (3, "centre", "057100000003"),
    ]
    first = _Hook.bodies[0]
    assert first["schema"] == "hk.escalation/1" and first["kind"] == "alert"
    assert first["ref"] == case.reading and first["path"] == f"/residents/{case.resident_id}"
    assert first["summary"].startswith("BP 186/112") and first["name"] == "Dr Li"
    assert _steps(case) == [
        (1, "doctor", "Dr Li", "sent"),
        (2, "station", "st-001", "sent"),
        (3, "centre", "centre", "sent"),
    ]
    with case.sessions() as s:
        ev = list(
            s.scalars(
                select(AuditEvent).where(AuditEvent.action == "escalation").order_by(AuditEvent.id)
            )
        )
    assert [
        (e.username, e.target, e.detail["step"], e.detail["role"], e.detail["status"]) for e in ev
    ] == [
        ("system:escalation", f"resident:{case.resident_id}", 1, "doctor", "sent"),
        ("system:escalation", f"resident:{case.resident_id}", 2, "station", "sent"),
        ("system:escalation", f"resident:{case.resident_id}", 3, "centre", "sent"),
    ]
    assert all("1390000" not in json.dumps(e.detail) for e in ev)  # no phone in the log


def test_acknowledging_stops_the_chain(case: Case, hook: str) -> None:
    _run(case, hook, 15)
    with case.sessions.begin() as s:
        assert [
            a.reading_uuid
            for a in acknowledge(
                s, case.resident_id, user_id=case.doctor_id, now=T0 + timedelta(minutes=20)
            )
        ] == [case.reading]
        assert open_alerts(s, T0 - timedelta(hours=1)) == []
    assert _run(case, hook, 60) == []
    assert [r for _n, r, _t, _s in _steps(case)] == ["doctor"]


def test_a_link_without_a_phone_is_skipped_and_the_next_told_at_once(case: Case, hook: str) -> None:
    chain = DutyChain(after_minutes=15, station_phones=dict(CHAIN.station_phones))
    assert _run(case, hook, 10, chain) == []
    got = _run(case, hook, 15, chain)
    assert [(s.role, s.status, s.detail) for s in got] == [
        ("doctor", "skipped", "no phone for dr.li"),
        ("station", "sent", "webhook 204"),
    ]
    got = _run(case, hook, 30, chain)
    assert [(s.role, s.status, s.detail) for s in got] == [("centre", "skipped", "no centre phone")]
    assert [b["role"] for b in _Hook.bodies] == ["station"]


def test_a_failed_webhook_is_recorded_and_the_chain_moves_on(case: Case, hook: str) -> None:
    _Hook.code = 500
    got = _run(case, hook, 15)
    assert [(s.role, s.status) for s in got] == [("doctor", "failed")]
    assert "500" in (got[0].detail or "")
    _Hook.code = 204
    assert [(s.role, s.status) for s in _run(case, hook, 30)] == [("station", "sent")]


def test_an_alert_older_than_the_give_up_time_is_not_escalated(case: Case, hook: str) -> None:
    assert _run(case, hook, 24 * 60 + 1) == []
    assert [s.role for s in _run(case, hook, 24 * 60 - 1)] == ["doctor"]


def test_without_a_webhook_nothing_is_escalated(case: Case) -> None:
    assert _run(case, None, 60) == []
    assert _steps(case) == []


def test_a_help_call_uses_the_same_chain(case: Case, hook: str) -> None:
    """Another source (a station's help call, branch elderhelp) plugs into the chain."""

    def help_calls(session: Session, since: datetime) -> list[Subject]:
        assert since == T0 + timedelta(minutes=15) - timedelta(hours=24)
        return [
            Subject(
                kind="help_call",
                ref="call-7",
                raised_at=T0,
                resident_id=None,
                station_id="st-001",
                doctor_id=None,
                summary="help button",
                path="/admin/fleet/st-001",
            )
        ]

    got = _run(case, hook, 15, sources=[help_calls])
    assert [(s.subject_kind, s.role, s.status) for s in got] == [
        ("help_call", "doctor", "skipped"),
        ("help_call", "station", "sent"),
    ]
    assert _Hook.bodies[-1]["kind"] == "help_call" and _Hook.bodies[-1]["to"] == "13900000002"
    with case.sessions() as s:
        targets = {
            e.target for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "escalation"))
        }
    assert targets == {"station:st-001"}


def test_each_step_shows_on_the_resident_page(case: Case, hook: str) -> None:
    from starlette.testclient import TestClient

    from followup.web.accounts import Lockout
    from followup.web.app import create_app
    from followup.web.common import WebSettings
    from healthkiosk.rules import load_rules
    from tests.support.web import login

    _run(case, hook, 15, DutyChain(after_minutes=15, station_phones=dict(CHAIN.station_phones)))
    settings = WebSettings(secret_key="k" * 64, lockout=Lockout(max_failures=5))
    engine = case.sessions.kw["bind"]
    app = create_app(engine, load_rules(), settings, clock=lambda: T0, run_refresher=False)
    with TestClient(app, headers={"Accept-Language": "zh-CN"}) as c:
        login(c, "dr.li")
        page = c.get(f"/residents/{case.resident_id}").text
    section = page[page.index('<section id="escalation">') : page.index('<section id="history">')]
    assert 'data-step="1" data-role="doctor"' in section and "跳过（未配置）" in section
    assert 'data-step="2" data-role="station"' in section and "站点值班电话 · st-001" in section
    assert "已发送" in section and "北京时间" in section
