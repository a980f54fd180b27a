"""Issue 19, finding 4, end to end: whoever could publish on a station's
configuration topic (then: anyone holding the follow-up service's MQTT password,
which an SMS gateway was told to share) moved the station to their own broker
with an unsigned ``hk.config/1``; the station said "applied" and sent its
password and readings there. Now the station refuses what is not signed by a
key it trusts, says why, and stays where it is."""

from __future__ import annotations

import asyncio
import getpass
import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from healthkiosk.config import load_config
from healthkiosk.mqtt import MqttSettings, connect
from sync.schema import DesiredConfig, encode, topic
from tests.support.synckit import (
    Mosquitto,
    free_port,
    running,
    spawn,
    stop,
    wait_port,
    write_config,
)

STATION = "st-a"


def _settings(broker: Mosquitto) -> MqttSettings:
    # Anyone allowed to publish there: the tests' broker has an account for it.
    return MqttSettings(
        host="127.0.0.1",
        port=broker.port,
        client_id="attacker",
        username="followup",
        password=broker.password("followup"),
        clean_start=True,
        session_expiry_s=0,
        manual_ack=False,
    )


def _retained(broker: Mosquitto, name: str) -> dict[str, Any] | None:
    async def go() -> dict[str, Any] | None:
        async with connect(_settings(broker)) as conn:
            await conn.subscribe([(name, 1)], timeout=5.0)
            try:
                msg = await conn.next_message(timeout=0.5)
            except TimeoutError:
                return None
            return json.loads(msg.payload) if msg.payload else None

    return asyncio.run(go())


def _wait(
    broker: Mosquitto, name: str, pred: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = _retained(broker, name)
        if last is not None and pred(last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"{name}: last seen {last}")


def _rogue_broker(directory: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """The attacker's own broker: anyone may connect; its log shows who did."""
    directory.mkdir()
    port, log = free_port(), directory / "rogue.log"
    conf = directory / "rogue.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"log_dest file {log}\nconnection_messages true\nuser {getpass.getuser()}\n"
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_port(port)
    return proc, port, log


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_an_unsigned_broker_change_is_refused_and_the_station_stays(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", [STATION])
    broker.start()
    rogue, rogue_port, rogue_log = _rogue_broker(tmp_path / "rogue")
    data = tmp_path / "st"
    cfg = write_config(
        tmp_path / "st.toml",
        {
            "station": {"id": STATION, "group": "g1", "data_dir": str(data)},
            "mqtt": {
                "host": "127.0.0.1",
                "port": broker.port,
                "username": STATION,
                "password_file": str(broker.password_file(STATION)),
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 1.0,
                "status_interval_s": 1.0,
            },
            "logging": {"level": "INFO"},
        },
    )
    try:
        with running(spawn(cfg, "sync", "run", log=tmp_path / "sync.log")) as proc:
            _wait(broker, topic(STATION, "status"), lambda m: m["online"], 20.0)
            evil = DesiredConfig(
                scope="station",
                target=STATION,
                version=1,
                settings={"mqtt": {"host": "127.0.0.1", "port": rogue_port}},
                issued_at=datetime.now(UTC),
                issued_by="someone",
            )

            async def publish() -> None:
                async with connect(_settings(broker)) as conn:
                    await conn.publish(
                        topic(STATION, "config"), encode(evil), retain=True, timeout=5.0
                    )

            asyncio.run(publish())
            deadline = time.monotonic() + 15.0
            report = None
            while report is None and time.monotonic() < deadline:
                if f"as {STATION} " in _text(rogue_log):
                    raise AssertionError("the station moved to the rogue broker")
                report = _retained(broker, topic(STATION, "config-report"))
            assert report is not None, "no configuration report"
            assert report["outcome"] == "rejected", report
            assert report["reason"].startswith("unsigned"), report["reason"]
            assert report["running_station_version"] is None
            # Still on the real broker, on its own file's settings.
            time.sleep(2.0)
            status = _wait(broker, topic(STATION, "status"), lambda m: m["online"], 10.0)
            assert status["config_version"] is None
            assert load_config(cfg).mqtt.host == "127.0.0.1"
            assert proc.poll() is None
            assert stop(proc) == 0
        assert f"as {STATION} " not in _text(rogue_log)  # never went to the rogue broker
    finally:
        broker.kill()
        rogue.kill()
        rogue.wait(10)
