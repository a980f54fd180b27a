"""A broker with the deployment's ACL, a follow-up ingest process, and station stand-ins.

Used by the fleet ingest tests and the fleet page's browser test. The
broker is :class:`tests.support.synckit.Mosquitto` (generated configuration,
per-station credentials, the real ACL); the ingest is the real
``healthkiosk followup ingest`` process; a station is an MQTT client with the
station's own credentials (the tests' stand-in for kiosk-sync).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from healthkiosk.mqtt import MqttSettings
from tests.support.synckit import (
    Mosquitto,
    Notify,
    followup_section,
    spawn,
    stop,
    write_config,
)


def station_settings(broker: Mosquitto, station: str) -> MqttSettings:
    """The station's own account (bound to its client id: a test plays the station)."""
    return MqttSettings(
        host="127.0.0.1",
        port=broker.port,
        client_id=station,
        username=station,
        password=broker.password(station),
        clean_start=True,
        session_expiry_s=0,
    )


def followup_settings(broker: Mosquitto, *, client_id: str = "fleet-test") -> MqttSettings:
    return MqttSettings(
        host="127.0.0.1",
        port=broker.port,
        client_id=client_id,
        username="followup",
        password=broker.password("followup"),
        clean_start=True,
        session_expiry_s=0,
    )


def followup_config(tmp: Path, broker: Mosquitto, database_url: str) -> Path:
    """The doctor's side on ``broker``, with its own accounts and a configuration
    key (``config-key.pem`` beside it; the stations would trust ``config-key.pub.pem``)."""
    from updater import keys

    key = tmp / "config-key.pem"
    if not key.exists():
        keys.generate(key, tmp / "config-key.pub.pem")
    return write_config(
        tmp / "followup.toml",
        {
            "station": {"id": "followup-host", "data_dir": str(tmp / "followup-data")},
            "followup": {**followup_section(broker, database_url), "config_key_file": str(key)},
            "logging": {"level": "DEBUG"},
        },
    )


@contextlib.contextmanager
def ingest_process(config: Path, log: Path) -> Iterator[Callable[[], int | None]]:
    """The real ingest worker; yields its ``poll`` (None while it runs)."""
    notify = Notify(Path("/tmp"))
    proc = spawn(config, "followup", "ingest", notify=notify, log=log)
    try:
        if not notify.wait_for("STATUS=connected", 20):
            raise AssertionError(f"ingest did not connect:\n{log.read_text(errors='replace')}")
        yield proc.poll
    finally:
        stop(proc)
        notify.close()


def wait_until(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
