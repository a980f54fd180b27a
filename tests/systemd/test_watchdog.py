"""The sync link's watchdog pings, on a notify socket of the test's own.

Systemd itself killing and restarting a stopped link is shown in
``test_watchdog_restart.py`` (a real ``systemd --user``). Here, without systemd,
the pings themselves: the real sd_notify code (:mod:`healthkiosk.sdnotify`), run
in a child process on an asyncio loop as the sync service runs it, sends
``READY=1`` and then ``WATCHDOG=1`` every half ``WatchdogSec`` to a unix
datagram socket we own as ``$NOTIFY_SOCKET``; after ``kill -STOP`` no ping
arrives for longer than ``WatchdogSec`` — the condition on which systemd, with
``kiosk-sync.service``'s ``WatchdogSec=`` and ``Restart=on-failure``, kills and
restarts the service — and after ``kill -CONT`` the pings resume. The time
scale is shrunk (WatchdogSec 1 s instead of the unit's 30 s); the ratio ping
interval : WatchdogSec is the unit's, 1 : 2.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthkiosk import sdnotify
from tests.support.units import UNITS, seconds, settings

REPO = Path(__file__).resolve().parents[2]
CHILD = (
    "import asyncio\n"
    "from healthkiosk import sdnotify\n"
    "async def main():\n"
    "    sdnotify.ready('serving')\n"
    "    await sdnotify.watchdog_loop()\n"
    "asyncio.run(main())\n"
)


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        yield sock, path
    finally:
        sock.close()


def _recv(sock: socket.socket, timeout: float) -> tuple[str | None, float]:
    sock.settimeout(timeout)
    t0 = time.monotonic()
    try:
        return sock.recv(4096).decode(), time.monotonic() - t0
    except (TimeoutError, BlockingIOError):
        return None, time.monotonic() - t0


def test_the_ping_interval_is_half_the_units_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    watchdog = seconds(settings(UNITS / "kiosk-sync.service")["WatchdogSec"][0])
    monkeypatch.setenv("WATCHDOG_USEC", str(int(watchdog * 1_000_000)))
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval() == watchdog / 2
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert sdnotify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert sdnotify.watchdog_interval() is None


def test_outside_systemd_notify_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False


def test_abstract_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"hk-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.watchdog_ping() is True
        assert _recv(sock, 2.0)[0] == "WATCHDOG=1"


def test_a_stopped_process_misses_its_watchdog_pings(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    watchdog_s = 1.0
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(int(watchdog_s * 1e6))}
    env.pop("WATCHDOG_PID", None)
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, env=env)
    try:
        msg, _ = _recv(sock, 10.0)
        assert msg == "READY=1\nSTATUS=serving"
        gaps = []
        for _ in range(4):
            msg, gap = _recv(sock, watchdog_s)
            assert msg == "WATCHDOG=1", "a running process must ping within WatchdogSec"
            gaps.append(gap)
        assert max(gaps[1:]) < watchdog_s

        os.kill(child.pid, signal.SIGSTOP)  # kill -STOP
        while _recv(sock, 0.0)[0] is not None:  # drop a ping already in flight
            pass
        msg, waited = _recv(sock, 2 * watchdog_s)
        assert msg is None and waited >= 2 * watchdog_s  # systemd would fire the watchdog

        os.kill(child.pid, signal.SIGCONT)
        msg, _ = _recv(sock, watchdog_s)
        assert msg == "WATCHDOG=1"
    finally:
        child.kill()
        child.wait(timeout=10)
