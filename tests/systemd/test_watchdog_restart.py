"""``kill -STOP`` of the sync link gets it killed and restarted by systemd's watchdog.

A real systemd (the Debian package's ``systemd --user``, started by
:mod:`tests.support.usermanager` because PID 1 here is not systemd) runs the
real sync link, ``python -m healthkiosk sync run``, against a Mosquitto of the
test's own, as ``kiosk-sync.service`` with that unit file's restart settings:
``Type``, ``Restart``, ``WatchdogSec``, ``RestartSec``, ``TimeoutStartSec``,
``TimeoutStopSec`` and ``StartLimit*`` are read from ``systemd/kiosk-sync.service``
and every time divided by :data:`SCALE` (the burst count is kept), so the ratios
are the unit's. Left out: the user, the hardening and ``OnFailure=`` (a user
manager cannot apply them to a process that must write to a temporary
directory, and they do not bear on the watchdog). Added: an ``ExecStopPost=``
that records systemd's ``$SERVICE_RESULT``, and ``LimitCORE=0`` so the
watchdog's SIGABRT leaves no core file in the work tree.

The test skips only where no user manager can start (not root, no mount
namespace, no writable cgroup v2), and says why.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.synckit import REPO, Mosquitto, mqtt_section, write_config
from tests.support.units import UNITS, seconds, settings
from tests.support.usermanager import ManagerUnavailable, UserManager, systemd_binary

SCALE = 6  # WatchdogSec=30 -> 5 s; TimeoutStartSec=60 -> 10 s for a cold start on a busy CI
UNIT = "kiosk-sync.service"
TIMES = ("StartLimitIntervalSec", "RestartSec", "TimeoutStartSec", "TimeoutStopSec", "WatchdogSec")
KEPT = ("Type", "Restart", "StartLimitBurst")
STATION = "st-wd"


@pytest.fixture
def user_manager() -> Iterator[UserManager]:
    assert systemd_binary(), "CI needs systemd itself (Debian package systemd)"
    manager = UserManager()
    try:
        manager.start()
    except ManagerUnavailable as why:
        manager.close()
        pytest.skip(f"no systemd user manager can start here: {why}")
    try:
        yield manager
    finally:
        manager.close()


def scaled_settings() -> dict[str, str]:
    """kiosk-sync.service's restart and watchdog settings, times divided by SCALE."""
    s = settings(UNITS / UNIT)
    out = {key: s[key][0] for key in KEPT}
    out.update({key: f"{seconds(s[key][0]) / SCALE:g}s" for key in TIMES})
    return out


def sync_unit(config: Path, tmp: Path) -> str:
    s = scaled_settings()
    return "\n".join(
        [
            "[Unit]",
            f"Description=healthkiosk sync link, {UNIT}'s restart settings with time / {SCALE}",
            f"StartLimitIntervalSec={s['StartLimitIntervalSec']}",
            f"StartLimitBurst={s['StartLimitBurst']}",
            "DefaultDependencies=no",  # not basic.target: the host's user sockets stay off
            "[Service]",
            f"Type={s['Type']}",
            f"Environment=HEALTHKIOSK_CONFIG={config}",
            f"Environment=HEALTHKIOSK_HEALTH_DIR={tmp / 'health'}",
            f"WorkingDirectory={REPO}",
            f"ExecStart={sys.executable} -m healthkiosk sync run",
            'ExecStopPost=/bin/sh -c \'echo "$$SERVICE_RESULT $$EXIT_CODE $$EXIT_STATUS"'
            f" >> {tmp / 'results'}'",
            f"Restart={s['Restart']}",
            f"RestartSec={s['RestartSec']}",
            f"TimeoutStartSec={s['TimeoutStartSec']}",
            f"TimeoutStopSec={s['TimeoutStopSec']}",
            f"WatchdogSec={s['WatchdogSec']}",
            "LimitCORE=0",
            f"StandardOutput=append:{tmp / 'sync.log'}",
            "StandardError=inherit",
            "",
        ]
    )


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path / "broker", [STATION])
    b.start()
    try:
        yield b
    finally:
        b.kill()


def kiosk_config(tmp_path: Path, broker: Mosquitto) -> Path:
    return write_config(
        tmp_path / "kiosk.toml",
        {
            "station": {"id": STATION, "group": broker.group, "data_dir": str(tmp_path / "kiosk")},
            "mqtt": mqtt_section(broker, STATION),
            "logging": {"level": "WARNING"},
        },
    )


def wait_for(what: str, ok: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s; {why()}")
        time.sleep(0.05)


def test_the_scaled_settings_keep_the_units_ratios() -> None:
    s = settings(UNITS / UNIT)
    scaled = scaled_settings()
    for key in TIMES:
        assert seconds(scaled[key]) * SCALE == pytest.approx(seconds(s[key][0]))
    assert scaled["StartLimitBurst"] == s["StartLimitBurst"][0]
    assert scaled["Restart"] == "on-failure" and scaled["Type"] == "notify"


def test_a_stopped_sync_link_is_killed_by_the_watchdog_and_restarted(
    user_manager: UserManager, broker: Mosquitto, tmp_path: Path
) -> None:
    m = user_manager
    (m.units / UNIT).write_text(sync_unit(kiosk_config(tmp_path, broker), tmp_path))
    m.systemctl("daemon-reload", check=True)
    props = ("MainPID", "NRestarts", "ActiveState", "SubState", "Result", "StatusText")

    def about(unit: str) -> list[dict[str, str]]:
        return [x for x in m.messages() if unit in (x.get("USER_UNIT"), x.get("UNIT"))]

    def state() -> dict[str, str]:
        return m.show(UNIT, *props)

    def why() -> str:
        log = tmp_path / "sync.log"
        said = [x.get("MESSAGE", "") for x in about(UNIT)]
        return (
            f"{state()}; systemd said {said}; "
            f"the link said {log.read_text()[-2000:] if log.exists() else ''!r}"
        )

    def connected() -> bool:
        return state()["StatusText"].startswith("connected to 127.0.0.1:")

    # Type=notify: `start` returns once the link has sent READY=1.
    started = m.systemctl("start", UNIT)
    assert started.returncode == 0, f"{started.stderr}; {why()}"
    first = state()
    assert first["ActiveState"] == "active" and first["SubState"] == "running", why()
    assert first["NRestarts"] == "0"
    pid = int(first["MainPID"])
    wait_for("the link connected", connected, 30, why)

    # Running, it pings: two watchdog periods pass without a restart.
    watchdog = seconds(scaled_settings()["WatchdogSec"])
    time.sleep(2 * watchdog)
    assert state()["MainPID"] == str(pid) and state()["NRestarts"] == "0", why()

    os.kill(pid, signal.SIGSTOP)  # kill -STOP: its asyncio loop, and the pings, stop
    stopped_at = time.monotonic()
    wait_for("a restart", lambda: state()["NRestarts"] == "1", 60, why)
    # The last ping came at most half a period before the stop.
    assert time.monotonic() - stopped_at >= watchdog / 2
    assert (tmp_path / "results").read_text().split() == ["watchdog", "killed", "ABRT"], why()
    assert any("Watchdog timeout" in x.get("MESSAGE", "") for x in about(UNIT)), why()
    assert not Path(f"/proc/{pid}").exists()  # the stopped process is gone, reaped

    # The new process is up (READY=1 again: Type=notify is "running" only after it)
    # and connected to the broker.
    wait_for("READY from the new process", lambda: state()["SubState"] == "running", 30, why)
    again = state()
    assert again["ActiveState"] == "active" and int(again["MainPID"]) not in (0, pid), why()
    wait_for("the new process connected", connected, 30, why)
    assert broker.connections(STATION) >= 2

    # It keeps pinging: no second restart over two more periods.
    time.sleep(2 * watchdog)
    assert state()["NRestarts"] == "1" and state()["MainPID"] == again["MainPID"], why()
    m.systemctl("stop", UNIT, check=True)
    assert (tmp_path / "results").read_text().split()[-3:] == ["success", "exited", "0"]
