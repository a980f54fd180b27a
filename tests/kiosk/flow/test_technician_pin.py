"""Issue 19, finding 7: the technician PIN had no attempt limit (all 10,000 tried
in 1.6 s) and the built-in PIN was accepted on a real station. On a fake clock:
wrong PINs in a row buy a growing delay during which no PIN is even compared,
kept across a restart of the app; and ``healthkiosk run`` refuses the demo PIN."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from healthkiosk.config import KioskConfig
from healthkiosk.errors import ConfigError
from healthkiosk.rules import RulesConfig
from kiosk.flow.state import Screen
from tests.support.flowkit import Harness, running_harness
from tests.support.synckit import REPO, write_config

RIGHT = "2468"  # the harness's configured PIN (the configuration's default)


def _try(h: Harness, pin: str) -> bool:
    """Type ``pin`` on the technician's keypad; True if the technician screen opened."""
    if h.state.screen is Screen.ATTRACT:
        h.flow.open_technician()
    assert h.state.screen is Screen.TECH_PIN, h.state.screen
    for d in pin:
        h.flow.pin_key(d)
    h.flow.pin_submit()
    return h.state.screen is Screen.TECHNICIAN


async def test_ten_thousand_pins_are_not_tried_in_an_hour(h: Harness) -> None:
    """An attacker typing a PIN every second, in order from 0000: the right one
    (2468th) is not reached within an hour of the kiosk's clock."""
    start = h.clock.monotonic()
    found_at = None
    for n in range(10_000):
        if _try(h, f"{n:04d}"):
            found_at = n
            break
        await h.clock.advance(1.0)
        if h.clock.monotonic() - start >= 3600:
            break
    assert found_at is None, f"PIN found after {found_at} tries"


async def test_the_delay_grows_and_even_the_right_pin_waits(h: Harness) -> None:
    delays = []
    for i in range(6):
        assert not _try(h, f"{i:04d}")
        delays.append(h.state.pin_locked_s)
        await h.clock.advance(h.state.pin_locked_s or 0)
    assert delays == [None, None, None, 30, 60, 120]
    assert not _try(h, "0006")  # the 7th wrong one: 240 s now
    assert h.state.pin_locked_s == 240
    await h.clock.advance(200)
    assert not _try(h, RIGHT)  # refused unseen: the delay is not over
    assert h.state.pin_locked_s == 40 and h.state.pin_error
    await h.clock.advance(40)
    assert _try(h, RIGHT)
    h.flow.back()
    assert not _try(h, "1111")  # the count started again from 0
    assert h.state.pin_locked_s is None


async def test_the_count_survives_a_restart_of_the_app(
    tmp_path: Path, kiosk_config: KioskConfig, rules: RulesConfig
) -> None:
    from management import techpin

    path = techpin.path_for(tmp_path)
    async with running_harness(kiosk_config, rules, pin_attempts=techpin.PinFile(path)) as h:
        for i in range(4):
            _try(h, f"{i:04d}")
        assert h.state.pin_locked_s == 30
    saved = techpin.read(path)
    assert saved.failures == 4 and saved.locked_until is not None and saved.last_failure
    # Switched off and on: still 4 in a row, still waiting.
    async with running_harness(kiosk_config, rules, pin_attempts=techpin.PinFile(path)) as h:
        assert not _try(h, RIGHT) and h.state.pin_locked_s is not None
        await h.clock.advance(31)
        assert not _try(h, "9999")  # the 5th: 60 s
        assert h.state.pin_locked_s == 60
        await h.clock.advance(60)
        assert _try(h, RIGHT)
    assert techpin.read(path).failures == 0


def test_a_station_refuses_the_demo_pin_unless_simulated() -> None:
    from kiosk.flow.technician import DEMO_PIN, check_pin_for_station

    with pytest.raises(ConfigError) as err:
        check_pin_for_station(KioskConfig(), simulate=False)
    assert err.value.key == "kiosk.technician_pin" and DEMO_PIN in str(err.value)
    check_pin_for_station(KioskConfig(), simulate=True)
    check_pin_for_station(KioskConfig(technician_pin="739104"), simulate=False)


def test_healthkiosk_run_on_the_demo_pin_exits_with_a_clear_error(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "station.toml",
        {"station": {"id": "st-pin", "data_dir": str(tmp_path / "d")}},
    )
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    r = subprocess.run(
        [sys.executable, "-m", "healthkiosk", "--config", str(config), "run", "--window"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2, r.stderr
    assert "kiosk.technician_pin" in r.stderr and "built-in demo PIN" in r.stderr
