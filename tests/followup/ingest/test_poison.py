"""Finding 1 of issue 19: no single message stops the ingest.

A real ``healthkiosk followup ingest`` on a real Mosquitto and the follow-up
database (SQLite and PostgreSQL). Each message below stopped the worker for
good on main (an uncaught database or arithmetic error, never acknowledged, so
delivered again after every restart): numbers past the 32-bit columns, NaN and
Infinity, a time whose UTC form overflows. Now each is dead-lettered with its
reason and acknowledged, and an urgent reading published after them is stored.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.models import DeadLetter, Reading, Station
from healthkiosk.mqtt import connect
from sync.schema import encode
from tests.followup.alerts.test_clock_and_age import message
from tests.followup.ingest.test_worker import _station_settings
from tests.support.flowcheck import wait_until
from tests.support.synckit import Mosquitto, Notify, running, spawn, stop

STATION = "st-clock"  # the station of tests.followup.alerts.test_clock_and_age.message


def _status(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": "hk.status/1",
        "station_id": STATION,
        "online": True,
        "boot_id": "0000000001-abcd0123",
        "seq": 1_000_001,
        "sent_at": datetime.now(UTC).isoformat(),
        "backlog": 0,
        "devices": [{"role": "bp", "model": "BP-7000", "connected": True}],
    }
    doc.update(changes)
    return doc


def _reading(**changes: Any) -> dict[str, Any]:
    doc = json.loads(encode(message(measured_at=datetime.now(UTC), clock_synced=True, seq=7)))
    doc["uuid"] = str(uuidlib.uuid4())
    doc.update(changes)
    return doc


def _raw(doc: dict[str, Any], **literal: str) -> bytes:
    """``doc`` as JSON with ``literal`` values put in verbatim (NaN, Infinity)."""
    body = json.dumps(doc)
    for key, value in literal.items():
        body = body.replace(f'"{key}": "@"', f'"{key}": {value}')
    return body.encode()


def poison() -> list[tuple[str, bytes, str]]:
    """(leaf, payload, a word the dead letter's reason must hold)."""
    big = 2**31 + 5
    bp = _reading()
    bp["values"]["measurements"] = [
        {"systolic": 2**40, "diastolic": 80, "measured_at": bp["measured_at"]}
    ]
    return [
        ("status", _raw(_status(seq=big)), "seq"),
        ("status", _raw(_status(backlog=2**40)), "backlog"),
        ("status", _raw(_status(rejected=-1)), "rejected"),
        (
            "status",
            _raw(
                _status(
                    devices=[
                        {"role": "bp", "model": "m", "connected": True, "battery_percent": 2**35}
                    ]
                )
            ),
            "battery_percent",
        ),
        ("status", _raw(_status(cpu_temp_c="@"), cpu_temp_c="NaN"), "cpu_temp_c"),
        ("status", _raw(_status(uptime_s="@"), uptime_s="Infinity"), "uptime_s"),
        ("status", _raw(_status(sent_at="9999-12-31T23:59:59-12:00")), "sent_at"),
        ("readings", _raw(_reading(measured_at="9999-12-31T23:59:59-12:00")), "measured_at"),
        ("readings", _raw(_reading(station_seq=big)), "station_seq"),
        ("readings", _raw(bp), "systolic"),
        ("config-report", _raw({"schema": "hk.config-report/1", "station_id": STATION,
                                "outcome": "applied", "group_version": 2**40,
                                "at": datetime.now(UTC).isoformat()}), "group_version"),
    ]  # fmt: skip


@pytest.mark.slow
async def test_no_single_message_stops_the_ingest(
    mosquitto: Callable[..., Mosquitto],
    deploy,
    followup_url: str,
    notify: Notify,
) -> None:
    broker = mosquitto([STATION])
    d = deploy(broker, STATION, followup_url)
    bad = poison()
    good = message(measured_at=datetime.now(UTC), clock_synced=True, seq=8)
    with running(spawn(d.followup, "followup", "ingest", notify=notify)) as ing:
        assert notify.wait_for("STATUS=connected", 15)
        async with connect(_station_settings(broker, STATION)) as conn:
            for leaf, payload, _word in bad:
                retain = leaf != "readings"
                await conn.publish(f"hk/v1/st/{STATION}/{leaf}", payload, retain=retain, timeout=5)
            await conn.publish(f"hk/v1/st/{STATION}/readings", encode(good), timeout=5)
            ok = json.dumps(_status(seq=2_000_001)).encode()
            await conn.publish(f"hk/v1/st/{STATION}/status", ok, retain=True, timeout=5)
        engine = make_engine(followup_url)

        def done() -> bool:
            with Session(engine) as s:
                st = s.get(Station, STATION)
                return (
                    s.get(Reading, str(good.uuid)) is not None
                    and st is not None
                    and st.status_seq == 2_000_001
                    and len(s.scalars(select(DeadLetter)).all()) >= len(bad)
                )

        assert wait_until(done, 20), "the ingest stopped at a poison message"
        assert ing.poll() is None
        assert stop(ing) == 0
    with Session(engine) as s:
        letters = s.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
    engine.dispose()
    reasons = [dl.reason for dl in letters]
    for _leaf, _payload, word in bad:
        assert any(word in r for r in reasons), (word, reasons)
    # Acknowledged: a restarted worker is not handed the refused readings
    # again (it would get them before a reading published after it started).
    before = sum(dl.topic.endswith("/readings") for dl in letters)
    later = message(measured_at=datetime.now(UTC), clock_synced=True, seq=9)
    with running(spawn(d.followup, "followup", "ingest", notify=notify)) as ing:
        assert notify.wait_for("STATUS=connected", 15)
        async with connect(_station_settings(broker, STATION)) as conn:
            await conn.publish(f"hk/v1/st/{STATION}/readings", encode(later), timeout=5)
        engine = make_engine(followup_url)
        assert wait_until(lambda: _stored(engine, str(later.uuid)), 15)
        assert _count(engine, "/readings") == before
        assert ing.poll() is None
        assert stop(ing) == 0
    engine.dispose()


def _stored(engine: Any, uuid: str) -> bool:
    with Session(engine) as s:
        return s.get(Reading, uuid) is not None


def _count(engine: Any, suffix: str) -> int:
    with Session(engine) as s:
        return sum(dl.topic.endswith(suffix) for dl in s.scalars(select(DeadLetter)))
