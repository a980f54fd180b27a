"""Fixtures for the sync tests: a Mosquitto of our own, configs (PostgreSQL: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from synckit import (
    Mosquitto,
    Notify,
    Tls,
    make_tls,
    mqtt_section,
    write_config,
)


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """A factory: ``mosquitto(stations=[...], tls=None)`` started broker(s)."""
    brokers: list[Mosquitto] = []

    def make(stations: list[str], *, tls: Tls | None = None, start: bool = True) -> Mosquitto:
        b = Mosquitto(tmp_path / f"broker{len(brokers)}", stations, tls=tls)
        brokers.append(b)
        if start:
            b.start()
        return b

    yield make
    for b in brokers:
        b.kill()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[Notify]:
    n = Notify(Path("/tmp"))
    yield n
    n.close()


class Deploy:
    """Config files for one station and the follow-up service on one broker."""

    def __init__(
        self, tmp: Path, broker: Mosquitto, station: str, followup_url: str, **mqtt: Any
    ) -> None:
        self.tmp = tmp
        self.broker = broker
        self.station = station
        self.data_dir = tmp / f"kiosk-{station}"
        self.store = self.data_dir / "kiosk.sqlite"
        self.followup_url = followup_url
        m: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": broker.port,
            "keepalive_s": 5,
            "receipt_timeout_s": 2.0,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 1.0,
            "status_interval_s": 30.0,
            "poll_interval_s": 0.2,
        }
        m.update(mqtt)
        self.kiosk = write_config(
            tmp / f"kiosk-{station}.toml",
            {
                "station": {"id": station, "data_dir": str(self.data_dir)},
                "mqtt": {
                    **m,
                    "username": station,
                    "password_file": str(broker.password_file(station)),
                },
                "logging": {"level": "WARNING"},
            },
        )
        self.followup = write_config(
            tmp / "followup.toml",
            {
                "station": {"id": "followup-host", "data_dir": str(tmp / "followup-data")},
                "followup": {
                    "database_url": followup_url,
                    "mqtt": mqtt_section(broker, "followup"),
                },
                "logging": {"level": "WARNING"},
            },
        )


@pytest.fixture
def deploy(tmp_path: Path) -> Callable[..., Deploy]:
    def make(broker: Mosquitto, station: str, followup_url: str, **mqtt: Any) -> Deploy:
        return Deploy(tmp_path, broker, station, followup_url, **mqtt)

    return make
