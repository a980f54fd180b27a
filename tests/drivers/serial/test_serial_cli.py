"""The technician's command line, run as a technician would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from healthkiosk.idnumber import check_character

ROOT = Path(__file__).resolve().parents[3]
SERIAL_DRIVERS = [
    "onetouch-ultra2",
    "onetouch-ultraeasy",
    "serial-line-bp",
    "serial-line-glucose",
    "sam-idcard",
    "serial-qr",
]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "healthkiosk", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_devices_list_names_every_serial_driver() -> None:
    result = run("devices", "list")
    assert result.returncode == 0
    for name in SERIAL_DRIVERS:
        assert name in result.stdout


VALID = "11010119500307123" + check_character("11010119500307123")


def test_idcheck_valid() -> None:
    result = run("devices", "idcheck", VALID)
    assert result.returncode == 0, result.stderr
    assert VALID not in result.stdout and "1950-03-07" in result.stdout


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (VALID[:-1] + ("0" if VALID[-1] != "0" else "1"), "id_check_digit"),
        ("1101011950030712", "id_length"),
        ("99" + VALID[2:17] + check_character("99" + VALID[2:17]), "id_region"),
        ("11010119501307123" + check_character("11010119501307123"), "id_birth_date"),
    ],
)
def test_idcheck_invalid(number: str, reason: str) -> None:
    result = run("devices", "idcheck", number)
    assert result.returncode == 2
    assert reason in result.stderr and number not in result.stderr


def test_lineparse_ok_and_bad() -> None:
    ok = run("devices", "lineparse", "bp-csv-sum8", "128,082,071,202611250930*B0")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["systolic"] == 128
    bad = run("devices", "lineparse", "bp-csv-sum8", "128,082,071,202611250930*B1")
    assert bad.returncode == 2 and "invalid_checksum" in bad.stderr
    stx = run(
        "devices",
        "lineparse",
        "bp-stx-xor",
        "hex:025331323844303832503037315837 30".replace(" ", ""),
    )
    assert stx.returncode == 0, stx.stderr


async def test_every_opener_follows_the_registry_contract() -> None:
    """What ``devices read DRIVER --emulate`` does: the registry's opener,
    given the pty of the driver's twin as its port."""
    from drivers.registry import get_driver
    from emulation import twins

    for name in SERIAL_DRIVERS:
        spec = get_driver(name)
        assert spec.transport == "serial"
        async with (
            twins.start(name) as twin,
            spec.load_opener()(port=twin.reach["port"], address=None, options={}) as device,
        ):
            if spec.role == "id_card":
                assert (await device.read_card(timeout_s=10)).name
            elif spec.role == "qr_code":
                assert (await device.read_card(timeout_s=10)).birth_date
            else:
                assert await device.measure(timeout_s=10) is not None


async def test_every_emulator_runs_until_cancelled() -> None:
    import asyncio

    from emulation import twins

    for name in SERIAL_DRIVERS:
        ports: list[str] = []
        task = asyncio.create_task(twins.serve(name, options={}, ready=ports.append))
        for _ in range(100):
            if ports:
                break
            await asyncio.sleep(0.01)
        assert ports and os.path.exists(ports[0])  # noqa: ASYNC240
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not os.path.exists(ports[0])  # noqa: ASYNC240


@pytest.mark.parametrize("name", SERIAL_DRIVERS)
def test_devices_read_emulate_from_the_command_line(name: str) -> None:
    result = run("devices", "read", name, "--emulate", timeout=90)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
