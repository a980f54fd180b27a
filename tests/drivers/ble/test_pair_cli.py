"""``healthkiosk devices pair`` and the Omron driver through the CLI, run as a
technician would (a subprocess, Enter typed on its input)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str, stdin: str = "", timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HEALTHKIOSK_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "healthkiosk", "--log-level", "WARNING", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_pairing_an_omron_monitor_fresh_from_its_box_is_guided_step_by_step() -> None:
    done = run("devices", "pair", "ble-omron", "--emulate", "--window", "10", stdin="\n")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # Chinese first, then English, for every instruction and step
    assert lines[:6] == [
        "配对设备",
        "Pair a device",
        "按住设备的蓝牙键，直到屏幕上的 -P- 闪烁",
        "Hold the device's Bluetooth button until -P- blinks",
        "在它闪烁时，按回车键",
        "While it blinks, press Enter",
    ]
    steps = lines[6:-1]
    assert steps == [
        "正在寻找设备", "Looking for the device",
        "正在配对", "Pairing",
        "正在设置设备密钥", "Setting the device's key",
        "配对成功，设备可以使用了", "Paired. The device is ready",
    ]  # fmt: skip
    assert lines[-1] == "OMRON HEALTHCARE HEM-7361T s/n EMU-HEM-7361T C0:FF:EE:07:36:1A"


def test_a_failed_pairing_says_what_to_do_in_plain_words() -> None:
    done = run("devices", "pair", "ble-bp-standard", "--emulate", "--yes", "--window", "2",
               "--address", "C0:FF:EE:00:00:99")  # fmt: skip
    assert done.returncode == 2
    err = done.stderr.splitlines()
    assert err[0].startswith("healthkiosk: ") and err[0].endswith("(device_not_found)")
    assert err[1:] == [
        "找不到设备。请在本站旁边打开设备",
        "Device not found. Switch it on next to the station",
    ]
    assert "-P-" in done.stdout  # the guidance came first


def test_a_serial_device_has_nothing_to_pair() -> None:
    done = run("devices", "pair", "onetouch-ultra2", "--yes")
    assert done.returncode == 2
    assert "not a Bluetooth device" in done.stderr


def test_omron_memory_and_measurement_through_the_cli() -> None:
    memory = run("devices", "read", "ble-omron", "--emulate", "--memory",
                 "--option", "model=HEM-7322T")  # fmt: skip
    assert memory.returncode == 0, memory.stderr
    records = json.loads(memory.stdout)
    assert [r["systolic_mmhg"] for r in records] == [120, 121, 122]
    assert {r["device"]["model"] for r in records} == {"HEM-7322T"}
    measured = run("devices", "read", "ble-omron", "--emulate", "--timeout", "30",
                   "--option", "poll_interval_s=0.2")  # fmt: skip
    assert measured.returncode == 0, measured.stderr
    reading = json.loads(measured.stdout)
    assert (reading["systolic_mmhg"], reading["diastolic_mmhg"]) == (132, 84)
