"""The unit files: ``systemd-analyze verify`` clean, and the settings the issue asks for.

Verification runs on copies in which exactly three absolute paths are rewritten
to an executable stand-in — the release's ``healthkiosk`` entry point under
``/opt/healthkiosk/{current,stable}/bin`` and ``/usr/bin/cage`` — because
``verify`` checks that every ``Exec*=`` binary exists and they are not
installed on a build machine. Every other line is verified as shipped
(``/bin/sleep`` and ``/bin/systemctl`` exist here as on the Pi). Templates are
verified through an instance (a symlink named ``unit@instance.service``), so
``%i`` is expanded. Any output at all fails the test: ``verify`` exits 0 on
warnings such as an unknown key or an unparsable value.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.units import UNITS, seconds, settings

STAND_INS = ("/opt/healthkiosk/current/bin/healthkiosk", "/opt/healthkiosk/stable/bin/healthkiosk",
             "/usr/bin/cage")  # fmt: skip
INSTANCES = {"followup-ingest@.service": "1", "healthkiosk-rollback@.service": "kiosk.service"}


def unit_files() -> list[Path]:
    return sorted(p for p in UNITS.iterdir() if p.suffix in (".service", ".timer", ".path"))


def stage(tmp_path: Path) -> list[Path]:
    stand_in = tmp_path / "stand-in"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    staged = []
    for unit in unit_files():
        text = unit.read_text()
        for path in STAND_INS:
            text = text.replace(path, str(stand_in))
        # Nothing else may point where this machine has nothing.
        for exec_line in re.findall(r"^Exec\w*=[-+!@:]*(\S+)", text, re.M):
            assert Path(exec_line).exists(), f"{unit.name}: {exec_line} missing"
        copy = tmp_path / unit.name
        copy.write_text(text)
        if unit.name in INSTANCES:
            instance = tmp_path / unit.name.replace("@.", f"@{INSTANCES[unit.name]}.")
            instance.symlink_to(copy.name)
            staged.append(instance)
        else:
            staged.append(copy)
    return staged


def verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    assert shutil.which("systemd-analyze"), "CI needs systemd-analyze (Debian package systemd)"
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, paths)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_every_unit_file_verifies_without_a_warning(tmp_path: Path) -> None:
    staged = stage(tmp_path)
    assert len(staged) == len(unit_files()) >= 8
    proc = verify(staged)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout + proc.stderr == ""


def test_verification_does_catch_a_broken_unit(tmp_path: Path) -> None:
    staged = stage(tmp_path)
    sync = next(p for p in staged if p.name == "kiosk-sync.service")
    sync.write_text(sync.read_text().replace("Type=notify", "Type=notifyy"))
    assert "Failed to parse service type" in verify([sync]).stderr


@pytest.mark.parametrize("name", ["kiosk.service", "kiosk-sync.service"])
def test_crash_loops_are_paced_and_never_stop_for_good(name: str) -> None:
    s = settings(UNITS / name)
    assert s["Type"] == ["notify"]
    assert seconds(s["WatchdogSec"][0]) > 0
    restart_sec = seconds(s["RestartSec"][0])
    interval = seconds(s["StartLimitIntervalSec"][0])
    burst = int(s["StartLimitBurst"][0])
    assert restart_sec >= 1  # not systemd's default 100 ms
    assert interval > 0 and burst * restart_sec < interval  # the limit can trigger...
    assert s["OnFailure"] == ["healthkiosk-rollback@%n.service"]  # ...and is not the end
    rollback = settings(UNITS / "healthkiosk-rollback@.service")
    assert any("reset-failed %i" in v for v in rollback["ExecStartPost"])
    assert any("start --no-block %i" in v for v in rollback["ExecStartPost"])


def test_kiosk_runs_as_the_single_app_of_cage() -> None:
    s = settings(UNITS / "kiosk.service")
    assert s["ExecStart"][0].startswith(
        "/usr/bin/env -u WATCHDOG_PID /usr/bin/cage -s -- /opt/healthkiosk/current/bin/"
    )
    assert s["Restart"] == ["always"]
    assert s["NotifyAccess"] == ["all"]  # the app is cage's child


def test_the_sync_link_is_hardened() -> None:
    s = settings(UNITS / "kiosk-sync.service")
    assert s["Restart"] == ["on-failure"]
    assert s["ProtectSystem"] == ["strict"]
    assert s["ReadWritePaths"] == ["/var/lib/healthkiosk"]
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
                "RestrictNamespaces", "RestrictSUIDSGID", "PrivateDevices"):  # fmt: skip
        assert s[key] == ["yes"], key
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert s["CapabilityBoundingSet"] == [""]


def test_the_updater_runs_from_the_proven_release() -> None:
    for name in ("healthkiosk-update.service", "healthkiosk-update-resume.service",
                 "healthkiosk-rollback@.service"):  # fmt: skip
        execs = [v for k, vs in settings(UNITS / name).items() if k == "ExecStart" for v in vs]
        assert execs and all("/opt/healthkiosk/stable/bin/healthkiosk" in v for v in execs)


@pytest.mark.parametrize(("name", "subsystem"), [("serial", "tty"), ("printer", "usb")])
def test_the_udev_rule_is_well_formed(name: str, subsystem: str) -> None:
    token = re.compile(r'^(SUBSYSTEM|ATTRS\{\w+\}|ENV\{\w+\}|GROUP|MODE|SYMLINK)(==|\+=|=)"[^"]*"$')
    rules = [
        line
        for line in (UNITS / f"99-healthkiosk-{name}.rules").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(rules) >= 4
    for rule in rules:
        parts = rule.split(", ")
        assert all(token.match(p) for p in parts), rule
        assert parts[0] == f'SUBSYSTEM=="{subsystem}"'


def test_the_install_script_parses_and_installs_every_kiosk_unit() -> None:
    script = UNITS / "install-pi.sh"
    assert script.stat().st_mode & 0o111
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    text = script.read_text()
    for unit in ("kiosk.service", "kiosk-sync.service", "healthkiosk-update.service",
                 "healthkiosk-update.timer", "healthkiosk-update-resume.service",
                 "healthkiosk-rollback@.service", "followup.service",
                 "followup-ingest@.service", "healthkiosk-update-order.path",
                 "healthkiosk-update-order.service", "followup-rollout.service"):  # fmt: skip
        assert unit in text and (UNITS / unit).is_file(), unit
    assert "99-healthkiosk-serial.rules" in text and "99-healthkiosk-printer.rules" in text
    assert "libusb-1.0-0" in text  # pyusb's library, for USB receipt printers
    assert "50-healthkiosk.rules" in text and (UNITS / "50-healthkiosk.rules").is_file()
    assert "usermod -aG" in text and "bluetooth" in text
    # BlueZ's battery plugin would hide the Battery Service from the drivers.
    assert "-P battery" in text and "bluetooth.service.d" in text
