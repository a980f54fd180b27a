"""The rollout driver on a real broker, with a hundred stations played by MQTT
clients that answer their orders: 3 of the 20 stations of the first group
fail, and the rollout stops before the second group hears of the release."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.models import Station as StationRow
from healthkiosk.mqtt import Connection, MqttSettings, connect
from sync.schema import UpdateOrder, UpdateReport, decode, encode, topic
from tests.support.fleetkit import write_toml
from tests.support.synckit import REPO, Mosquitto, spawn

N = 100
STATIONS = [f"st-{i:03d}" for i in range(N)]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path / "broker", STATIONS)
    b.start()
    yield b
    b.kill()


async def play_station(
    broker: Mosquitto, sid: str, fail: bool, orders: dict[str, UpdateOrder], ready: asyncio.Event
) -> None:
    settings = MqttSettings(
        host="127.0.0.1", port=broker.port, client_id=f"{sid}.updates",
        username=f"{sid}.updates",
        password=broker.password(sid), clean_start=True, session_expiry_s=0,
    )  # fmt: skip
    async with connect(settings) as conn:
        await conn.subscribe([(topic(sid, "update"), 1)], timeout=10)
        ready.set()
        async for msg in conn.messages():
            conn.ack(msg)
            if not msg.payload:
                continue
            order = decode(msg.payload)
            assert isinstance(order, UpdateOrder)
            orders[sid] = order
            await report(conn, sid, order, "refused" if fail else "succeeded")


async def report(conn: Connection, sid: str, order: UpdateOrder, outcome: str) -> None:
    rep = UpdateReport(
        station_id=sid, rollout_id=order.rollout_id, release=order.release, step="done",
        outcome=outcome, reason="hash_mismatch: test" if outcome == "refused" else "",  # type: ignore[arg-type]
        at=datetime.now(UTC),
    )  # fmt: skip
    await conn.publish(topic(sid, "update-report"), encode(rep), qos=1, retain=True, timeout=10)


async def test_three_of_twenty_failing_stops_before_the_second_group(
    tmp_path: Path, broker: Mosquitto
) -> None:
    url = f"sqlite:///{tmp_path / 'f.sqlite'}"
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        s.add_all(StationRow(id=sid, group="g1") for sid in STATIONS)
    engine.dispose()
    config = write_toml(
        tmp_path / "followup.toml",
        {
            "station": {"data_dir": str(tmp_path / "data")},
            "followup": {"database_url": url, "mqtt_accounts_dir": str(broker.credentials)},
            "followup.mqtt": {
                "host": "127.0.0.1",
                "port": broker.port,
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 1.0,
            },
        },
    )

    def cli(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "healthkiosk", "--config", str(config), "admin", *args],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip

    out = await asyncio.to_thread(
        cli, "rollout", "start", "--release", "7", "--no-check", "--stages", "20,80",
        "--success-threshold", "0.9", "--error-threshold", "0.1",
        "--manifest-url", "http://releases.local/7-0.7.0/manifest.json",
    )  # fmt: skip
    rid = out.split()[1].rstrip(":")
    plan = json.loads(await asyncio.to_thread(cli, "rollout", "status", "--json"))
    first = [m["station"] for m in plan["stations"] if m["stage"] == 1]
    assert len(first) == 20
    failing = {first[2], first[9], first[15]}

    orders: dict[str, UpdateOrder] = {}
    readies = [asyncio.Event() for _ in STATIONS]
    driver = spawn(config, "admin", "rollout", "run", "--tick", "0.2", log=tmp_path / "d.log")
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(play_station(broker, sid, sid in failing, orders, ev))
                for sid, ev in zip(STATIONS, readies, strict=True)
            ]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 20)
            info: dict[str, object] = {}
            for _ in range(200):
                info = json.loads(await asyncio.to_thread(cli, "rollout", "status", "--json"))
                if info["state"] != "running":
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # time for any wrong order to arrive
            for t in tasks:
                t.cancel()
    finally:
        driver.terminate()
        driver.wait(10)
    assert info["state"] == "stopped", info
    assert info["reason"] == "stage 1: 3 of 20 stations failed (15% > error threshold 10%)"
    assert set(orders) <= set(first)  # no station of the second group got an order
    assert failing <= set(orders)
    assert all(o.rollout_id == rid and o.release == 7 for o in orders.values())
    stage2 = [m for m in info["stations"] if m["stage"] == 2]  # type: ignore[attr-defined]
    assert len(stage2) == 80 and not any(m["ordered"] for m in stage2)
