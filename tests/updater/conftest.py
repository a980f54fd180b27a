from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from followup.rollout.releases import make_server
from tests.updater.fakes import RESTART_SCRIPT, Station
from updater import keys


@pytest.fixture(scope="session")
def fleet_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    keys.generate(d / "fleet.key", d / "fleet.pub")
    return d / "fleet.key", d / "fleet.pub"


@pytest.fixture(scope="session")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("otherkeys")
    keys.generate(d / "other.key", d / "other.pub")
    return d / "other.key", d / "other.pub"


class ReleaseServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server = make_server(directory)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def manifest_url(self, rel: str) -> str:
        return f"{self.url}/{rel}"


@pytest.fixture
def release_server(tmp_path: Path) -> Iterator[ReleaseServer]:
    directory = tmp_path / "published"
    directory.mkdir()
    srv = ReleaseServer(directory)
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.server.shutdown()
        srv.server.server_close()


@pytest.fixture
def station(tmp_path: Path, fleet_key: tuple[Path, Path]) -> Iterator[Station]:
    restart = tmp_path / "fake_restart.py"
    restart.write_text(RESTART_SCRIPT)
    st = Station(
        root=tmp_path / "opt", data=tmp_path / "data", pubkey=fleet_key[1], restart=restart
    )
    st.root.mkdir()
    st.data.mkdir()
    try:
        yield st
    finally:
        st.stop_app()


@pytest.fixture(scope="session")
def release1_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Release 1 of the stand-in app installed once (a venv), copied into each station."""
    from tests.updater.fakes import bundle
    from updater import install

    d = tmp_path_factory.mktemp("release1")
    b = bundle(d / "bundle", version="1.0.0")
    target = d / "1-1.0.0"
    install.install(target, wheels=[b / "wheels"], requirement="hkfakeapp==1.0.0")
    return target


def put_on_release_1(station: Station, template: Path) -> None:
    """A station that already runs release 1 (as a previous update left it)."""
    import os
    import shutil
    import subprocess
    import sys

    from healthkiosk import health
    from tests.updater.fakes import REPO
    from updater import install, state

    shutil.copytree(template, station.root / "releases" / template.name, symlinks=True)
    install.switch(station.root, template.name)
    install.switch(station.root, template.name, link=install.STABLE)
    st = state.UpdaterState(current=state.Installed(1, "1.0.0", template.name), highest_release=1)
    state.save(station.root / state.STATE_NAME, st)
    env = {
        **os.environ,
        "HK_REPO": str(REPO),
        "HEALTHKIOSK_ROOT": str(station.root),
        health.ENV_HEALTH_DIR: str(station.health),
    }
    subprocess.run([sys.executable, str(station.restart)], env=env, check=True, timeout=30)
    result, _, detail = health.wait_ready(
        station.health, ["kiosk"], prefix=station.root / "current", timeout_s=10
    )
    assert result is health.StartResult.READY, detail
