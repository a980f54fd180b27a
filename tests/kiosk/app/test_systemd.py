"""The kiosk app under systemd's eyes: READY=1 after its first frame, the
updater's health file, and watchdog pings from the loop that draws the frames
(``kiosk.service`` has ``Type=notify`` and ``WatchdogSec=``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.gui


def test_ready_health_file_and_watchdog_pings(xvfb: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = tmp_path / "hk.toml"
    cfg.write_text(
        f'[station]\nid = "notify-test-01"\ndata_dir = "{data}"\n'
        "[store]\nmin_free_mb = 1\n[kiosk]\nvoice_enabled = false\n",
        encoding="utf-8",
    )
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(1.0)
    kivy_home = tmp_path / "kivy"
    kivy_home.mkdir()
    env = {
        **os.environ,
        "DISPLAY": xvfb,
        "KIVY_HOME": str(kivy_home),
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_FILELOG": "1",
        "SDL_AUDIODRIVER": "dummy",
        "NOTIFY_SOCKET": str(sock_path),
        "WATCHDOG_USEC": "1000000",  # WatchdogSec=1: a ping every 0.5 s
    }
    env.pop("HEALTHKIOSK_CONFIG", None)
    env.pop("WATCHDOG_PID", None)
    log = tmp_path / "kiosk.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "healthkiosk", "--config", str(cfg), "run", "--simulate"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    got: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and got.count("WATCHDOG=1") < 3:
            if proc.poll() is not None:
                pytest.fail(f"the kiosk exited: {log.read_text(errors='replace')[-3000:]}")
            try:
                got.extend(sock.recv(4096).decode().splitlines())
            except TimeoutError:
                continue
        assert "READY=1" in got, got
        assert got.count("WATCHDOG=1") >= 3, got
        report = json.loads((data / "health" / "kiosk.json").read_text(encoding="utf-8"))
        assert report["state"] == "ready"
        assert report["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        sock.close()
