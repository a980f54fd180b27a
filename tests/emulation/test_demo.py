"""`healthkiosk demo --headless`: the whole system on embedded defaults.

A real Mosquitto (or, with ``--broker embedded``, the embedded demo broker),
the ingest worker, the web app, kiosk-sync and the kiosk's visit flow with
the BLE drivers against their emulated peripherals: a scripted visit reaches
the doctor's database, Ctrl-C stops everything, and nothing is left running.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _readings(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=1) as c:
            return list(c.execute("SELECT kind, category FROM readings"))
    except sqlite3.Error:
        return []


def _leftovers(marker: str) -> list[str]:
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmd:
            out.append(cmd)
    return out


def _as_from_a_script() -> None:
    """What a shell without job control does to a command it starts with ``&``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("broker", "stop", "started"),
    [
        ("auto", signal.SIGINT, None),  # Ctrl-C in a terminal
        ("embedded", signal.SIGINT, _as_from_a_script),  # Ctrl-C still counts
        ("auto", signal.SIGTERM, None),  # kill, a service manager
    ],
    ids=["ctrl-c", "embedded-broker-started-in-background", "sigterm"],
)
def test_headless_demo_reaches_the_doctors_database_and_stops_cleanly(
    tmp_path: Path, broker: str, stop: signal.Signals, started: Callable[[], None] | None
) -> None:
    data = tmp_path / "demo"
    argv = ["demo", "--headless", "--data-dir", str(data), "--broker", broker]
    proc = subprocess.Popen(
        [sys.executable, "-m", "healthkiosk", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=started,  # noqa: PLW1509 - only resets a signal disposition
    )
    try:
        deadline = time.monotonic() + 240
        rows: list[tuple[str, str]] = []
        while time.monotonic() < deadline and proc.poll() is None:
            rows = _readings(data / "followup.sqlite")
            if {k for k, _ in rows} >= {"blood_pressure", "glucose"}:
                break
            time.sleep(1)
        assert proc.poll() is None, "the demo stopped by itself"
        assert {k for k, _ in rows} >= {"blood_pressure", "glucose"}, rows
        assert all(c for _k, c in rows)  # classified on the kiosk, stored as shown
        proc.send_signal(stop)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-2000:]
    assert "doctor login:" in text
    expected = "embedded demo broker" if broker == "embedded" else "broker: Mosquitto"
    assert expected in text, text[-2000:]
    time.sleep(1)
    assert _leftovers(str(data)) == []


def test_auto_falls_back_to_the_embedded_broker_without_mosquitto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emulation import demo

    layout = demo.DemoLayout(root=tmp_path, broker_port=18830, web_port=18080)
    name, argv = demo.broker_command("auto", layout)
    if demo._has_mosquitto():
        assert (name, argv[-2]) == ("Mosquitto", "-c")
    monkeypatch.setattr(demo.shutil, "which", lambda _name: None)
    monkeypatch.setattr(demo.Path, "is_file", lambda _self: False)
    name, argv = demo.broker_command("auto", layout)
    assert name.startswith("embedded demo broker")
    assert argv[-4:] == ["broker", "embedded", "--port", "18830"]
    assert str(tmp_path) in " ".join(argv)  # the leftover check can find it
    with pytest.raises(demo.DemoError, match="--broker embedded"):
        demo.broker_command("mosquitto", layout)


def test_a_second_demo_on_the_same_folder_is_refused_with_the_reason(tmp_path: Path) -> None:
    from emulation.demo import hold_demo_lock

    data = tmp_path / "demo"
    data.mkdir()
    fd = hold_demo_lock(data)  # the first demo
    try:
        cp = subprocess.run(
            [sys.executable, "-m", "healthkiosk", "demo", "--headless", "--data-dir", str(data)],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(fd)
    assert cp.returncode != 0
    assert f"another demo is running from {data}" in cp.stderr
    assert not (data / "healthkiosk.toml").exists()  # it touched nothing of the first one's


def test_a_first_run_stopped_before_the_doctor_existed_is_finished_by_the_next(
    tmp_path: Path,
) -> None:
    from emulation.demo import DEMO_DOCTOR, DemoLayout, ensure_doctor, write_files

    layout = DemoLayout(root=tmp_path, broker_port=1, web_port=2)
    write_files(layout)
    (tmp_path / "doctor-password.txt").write_text("kept-from-run-1\n")  # stopped right here
    assert ensure_doctor(layout) == "kept-from-run-1"
    assert ensure_doctor(layout) == "kept-from-run-1"  # and again: the account exists, fine
    with sqlite3.connect(tmp_path / "followup.sqlite") as c:
        (hashed,) = c.execute("SELECT password_hash FROM users WHERE username = ?", (DEMO_DOCTOR,))
    from argon2 import PasswordHasher

    assert PasswordHasher().verify(hashed[0], "kept-from-run-1")
