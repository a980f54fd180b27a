"""SIGKILL of the updater at each step leaves the station on a working version.

The updater runs as its own process (the CLI, as systemd runs it). With
``--drill-stop-at STEP`` it stops itself (SIGSTOP) in the middle of that step,
after the step's state was persisted and its first side effect happened (part
of a file downloaded, the venv created, the temporary symlink made, the new
version started, the window begun); the test then SIGKILLs it, checks that
``current`` points at a complete release that runs, and runs
``admin update resume`` as the boot-time unit would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from healthkiosk import health
from healthkiosk.admin.release.publish import publish
from tests.support.fixtures.updater import ReleaseServer, put_on_release_1
from tests.support.updater_fakes import REPO, Station, signed_bundle


def _stopped(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


def _cli(station: Station, config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "healthkiosk", "--config", str(config), "admin", "update", *args],
        cwd=REPO, env=station.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _state(station: Station) -> dict[str, object]:
    result: dict[str, object] = json.loads((station.root / "updater-state.json").read_text())
    return result


def _assert_working(station: Station) -> str:
    target = station.current()
    assert target is not None
    assert (station.root / target / ".installed").is_file()
    return station.current_runs()


@pytest.mark.parametrize(
    ("step", "mode", "final_version", "outcome"),
    [
        ("download", "good", "2.0.0", "installed"),
        ("verify", "good", "2.0.0", "installed"),
        ("install", "good", "2.0.0", "installed"),
        ("switch", "good", "2.0.0", "installed"),
        ("first_start", "good", "2.0.0", "installed"),
        ("stability", "good", "2.0.0", "installed"),
        ("first_start", "crash", "1.0.0", "rolled_back"),
        ("stability", "die_in_window", "1.0.0", "rolled_back"),
    ],
)
def test_sigkill_at_each_step_leaves_a_working_version(
    tmp_path: Path,
    station: Station,
    release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
    release1_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    mode: str,
    final_version: str,
    outcome: str,
) -> None:
    monkeypatch.setenv("HK_REPO", str(REPO))
    put_on_release_1(station, release1_template)
    b2 = signed_bundle(
        tmp_path / "b2", key=fleet_key[0], release=2, version="2.0.0", mode=mode,
        padding=300_000,
    )  # fmt: skip
    url2 = release_server.manifest_url(publish(b2, release_server.directory))
    config = tmp_path / "station.toml"
    config.write_text(station.config_toml(window=1.5))

    proc = _cli(station, config, "apply", "--manifest-url", url2, "--drill-stop-at", step)
    deadline = time.monotonic() + 60
    while not _stopped(proc.pid):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the updater never reached the drill point"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    log, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert f"[drill] stopped in {step}" in log

    pending = _state(station)["pending"]
    assert isinstance(pending, dict) and pending["step"] == step
    if step == "download":
        parts = list((station.root / "downloads").rglob("*.part"))
        assert parts and all(p.stat().st_size > 0 for p in parts)
    # Right after the kill: a complete release is current and runs.
    running = _assert_working(station)
    expected_now = "1.0.0" if step in ("download", "verify", "install", "switch") else "2.0.0"
    assert running == expected_now

    # The boot-time resume finishes the update or rolls it back.
    resumed = _cli(station, config, "resume")
    out, _ = resumed.communicate(timeout=120)
    assert f"{outcome}: release 2" in out, out
    assert _assert_working(station) == final_version
    assert _state(station)["pending"] is None
    rep = health.read(station.health, "kiosk")
    assert rep is not None and rep.state == "ready" and health.pid_alive(rep.pid)
    assert rep.prefix == str((station.root / "current").resolve())


def test_onfailure_rolls_back_an_unproven_update(
    tmp_path: Path,
    station: Station,
    release_server: ReleaseServer,
    fleet_key: tuple[Path, Path],
    release1_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``healthkiosk-rollback@kiosk.service`` after the updater died in the window."""
    monkeypatch.setenv("HK_REPO", str(REPO))
    put_on_release_1(station, release1_template)
    b2 = signed_bundle(tmp_path / "b2", key=fleet_key[0], release=2, version="2.0.0")
    url2 = release_server.manifest_url(publish(b2, release_server.directory))
    config = tmp_path / "station.toml"
    config.write_text(station.config_toml(window=30))
    proc = _cli(station, config, "apply", "--manifest-url", url2, "--drill-stop-at", "stability")
    deadline = time.monotonic() + 60
    while not _stopped(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    # While the updater is alive (holding its lock) the OnFailure unit leaves it be.
    busy = _cli(station, config, "rollback", "--reason", "kiosk.service failed")
    assert "the updater is running and watches" in busy.communicate(timeout=60)[0]
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    out, _ = _cli(station, config, "rollback", "--reason", "kiosk.service failed").communicate(
        timeout=60
    )
    assert "rolled_back: release 2 (kiosk.service failed): back on release 1" in out, out
    assert _assert_working(station) == "1.0.0"
    status, _ = _cli(station, config, "status").communicate(timeout=60)
    data = json.loads(status)
    assert data["current"]["release"] == 1 and data["bad_releases"] == [2]
    assert data["last"]["outcome"] == "rolled_back"
    # Nothing unproven left: a second failure finds nothing to roll back.
    again, _ = _cli(station, config, "rollback").communicate(timeout=60)
    assert again.startswith("nothing_pending")
