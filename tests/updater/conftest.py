from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from followup.releases import make_server
from sync.updater import keys
from tests.updater.fakes import RESTART_SCRIPT, Station


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
