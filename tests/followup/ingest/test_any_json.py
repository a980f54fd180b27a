"""Issue 19, "must show": arbitrary JSON on every topic the ingest reads, against a
real Mosquitto, a real ``healthkiosk followup ingest`` and PostgreSQL, and the
web app's status refresher; after each burst a valid urgent reading (a new
resident) must reach the list and raise its alert within 10 s.

The payloads are both wholly arbitrary JSON and valid messages of each topic
with a few fields replaced by anything JSON can say (numbers far past every
column, NaN and Infinity, dates like 9999-12-31 with an offset, nested junk).
Sized to run in about a minute.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from followup.db.alerts import Alert
from followup.db.engine import make_engine
from followup.web.accounts import add_user
from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.mqtt import connect
from healthkiosk.rules import load_rules
from sync.schema import encode
from tests.followup.alerts.test_clock_and_age import STATION, message
from tests.followup.ingest.test_worker import _station_settings
from tests.support.synckit import Mosquitto, Notify, id_number, running, spawn, stop
from tests.support.web import PASSWORD, login

ALERT_WITHIN_S = 10.0
NOW = datetime.now(UTC).isoformat()
DATES = [
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "1970-01-01T00:00:00Z",
    "2199-12-31T23:59:59+00:00",
    "2026-13-45T99:99:99Z",
    NOW,
]

leaf_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**31 - 1, 2**31, 2**53, -1, 0, 10**18]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(DATES),
)
edge_values = st.sampled_from(
    [2**31 - 1, 2**31, 2**40, 2**63, 2**64, -(2**31) - 1, -1, math.nan, math.inf, -math.inf,
     1e308, -0.0, *DATES[:4]]
)  # fmt: skip
"""Where the database's columns, the floats and the calendar end."""
json_values = st.recursive(
    leaf_values,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _templates() -> dict[str, dict[str, Any]]:
    reading = json.loads(encode(message(measured_at=datetime.now(UTC), clock_synced=True, seq=3)))
    reading["values"]["measurements"] = [
        {"systolic": 180, "diastolic": 110, "pulse": 70, "measured_at": NOW}
    ]
    device = {"role": "bp", "model": "m", "connected": True, "battery_percent": 50}
    return {
        "readings": reading,
        "batch": {"schema": "hk.reading-batch/1", "station_id": STATION, "readings": [reading]},
        "status": {"schema": "hk.status/1", "station_id": STATION, "online": True,
                   "boot_id": "0000000001-abcd0123", "seq": 5, "sent_at": NOW, "backlog": 3,
                   "uptime_s": 10.5, "cpu_temp_c": 50.0, "devices": [device],
                   "clock_synced": True, "tech_pin_failures": 0},
        "config-report": {"schema": "hk.config-report/1", "station_id": STATION,
                          "outcome": "applied", "group_version": 3, "station_version": 1,
                          "at": NOW},
        "update-report": {"schema": "hk.update-report/1", "station_id": STATION,
                          "release": 4, "step": "download", "outcome": "in_progress",
                          "at": NOW},
        "cmd-result": {"schema": "hk.command-result/1", "station_id": STATION,
                       "id": str(uuidlib.uuid4()), "command": "logs", "ok": True,
                       "output": "x", "at": NOW},
        "counts": {"schema": "hk.counts/1", "station_id": STATION, "at": NOW,
                   "days": [{"day": NOW[:10], "held": 3, "acknowledged": 2}]},
    }  # fmt: skip


TEMPLATES = _templates()
TOPIC_OF = {"batch": "readings"}


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _put(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    doc = json.loads(json.dumps(doc))
    node = doc
    try:
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass  # an earlier change of this payload took that place away: nothing to put
    return doc


@st.composite
def payloads(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(TEMPLATES)))
    leaf = TOPIC_OF.get(kind, kind)
    if draw(st.integers(0, 4)) == 0:
        doc: Any = draw(json_values)  # anything at all
    else:
        doc = TEMPLATES[kind]
        scalars = [p for p in _paths(doc) if isinstance(_get(doc, p), int | float | str)]
        for _ in range(draw(st.integers(1, 3))):
            if draw(st.booleans()):  # a number or a time at its edge
                doc = _put(doc, draw(st.sampled_from(scalars)), draw(edge_values))
            else:
                doc = _put(doc, draw(st.sampled_from(_paths(doc) or [()])), draw(json_values))
        if isinstance(doc, dict) and kind in ("readings", "batch") and draw(st.booleans()):
            doc["uuid"] = str(uuidlib.uuid4())
    return leaf, json.dumps(doc, allow_nan=True).encode()


@pytest.fixture
def rig(
    mosquitto: Callable[..., Mosquitto], deploy, postgres_url: str, notify: Notify
) -> Iterator[tuple[Mosquitto, Engine, TestClient]]:
    broker = mosquitto([STATION])
    d = deploy(broker, STATION, postgres_url)
    engine = make_engine(postgres_url)
    with Session(engine) as s, s.begin():
        add_user(s, username="dr.prop", password=PASSWORD, role="doctor", now=datetime.now(UTC))
    web = WebSettings(secret_key="k" * 64, refresh_interval_s=0.3)
    app = create_app(engine, load_rules(), web)
    with (
        running(spawn(d.followup, "followup", "ingest", notify=notify)) as ing,
        TestClient(app, base_url="http://testserver", headers={"Accept-Language": "en"}) as c,
    ):
        assert notify.wait_for("STATUS=connected", 15)
        login(c, "dr.prop")
        yield broker, engine, c
        assert ing.poll() is None, "the ingest stopped"
        assert stop(ing) == 0
    engine.dispose()


_count = iter(range(10**6))


@pytest.mark.slow
@pytest.mark.postgres
@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(burst=st.lists(payloads(), min_size=10, max_size=80))
def test_any_json_on_any_topic_and_an_urgent_reading_still_alerts(
    rig: tuple[Mosquitto, Engine, TestClient], burst: list[tuple[str, bytes]]
) -> None:
    broker, engine, client = rig
    n = next(_count)
    name = f"Prop {n:04d}"
    urgent = message(measured_at=datetime.now(UTC), clock_synced=True, seq=10_000 + n)
    urgent = urgent.model_copy(
        update={"resident": urgent.resident.model_copy(
            update={"id_number": id_number(500 + n), "name": name})}
    )  # fmt: skip
    asyncio.run(_publish(broker, burst, encode(urgent)))
    start = time.monotonic()
    deadline = start + ALERT_WITHIN_S
    listed = alerted = False
    while time.monotonic() < deadline and not (listed and alerted):
        with Session(engine) as s:
            alerted = (
                s.scalars(select(Alert).where(Alert.reading_uuid == str(urgent.uuid))).first()
                is not None
            )
        listed = listed or name in client.get("/list/rows").text
        time.sleep(0.2)
    took = time.monotonic() - start
    assert alerted and listed, (took, alerted, listed, [t for t, _ in burst])


async def _publish(broker: Mosquitto, burst: list[tuple[str, bytes]], last: bytes) -> None:
    async with connect(_station_settings(broker, STATION)) as conn:
        for leaf, body in burst:
            await conn.publish(f"hk/v1/st/{STATION}/{leaf}", body, timeout=5)
        await conn.publish(f"hk/v1/st/{STATION}/readings", last, timeout=5)
