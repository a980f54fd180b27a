"""The station's clock state (healthkiosk.clocktrust): the kernel's answer, the
fallbacks, the configuration override, and the kept answer."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from healthkiosk import clocktrust
from healthkiosk.clocktrust import ClockState, ClockTrust, KernelClock, probe
from healthkiosk.config import from_mapping
from healthkiosk.errors import ConfigError

SYNCED = KernelClock(synced=True, state=0, status=0x2001, max_error_s=0.012)
UNSYNCED = KernelClock(synced=False, state=5, status=0x0041, max_error_s=16.0)
# `chronyc -c tracking` as chrony 4.3 prints it (the last field is the leap status).
CHRONY_OK = (
    "C0A80001,192.168.0.1,3,1767225600.123456789,-0.000011523,0.000012003,"
    "0.000016071,-7.583,-0.002,0.076,0.001135545,0.000401367,1025.0,Normal\n"
)
CHRONY_NOT = "00000000,,0,0.000000000,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,Not synchronised\n"


def runner(answers: dict[str, str | None]) -> tuple[clocktrust.Run, list[str]]:
    """A fake command runner: the output for each program (None: not installed)."""
    ran: list[str] = []

    def run(argv: Sequence[str]) -> str | None:
        ran.append(argv[0])
        return answers.get(argv[0])

    return run, ran


def test_the_kernel_flag_decides_when_it_says_synchronised(tmp_path: Path) -> None:
    run, ran = runner({"chronyc": CHRONY_NOT})
    state = probe(kernel=lambda: SYNCED, run=run, marker=tmp_path / "none")
    assert state == ClockState(True, "adjtimex", 0.012, None)
    assert ran == []  # no command when the kernel says synchronised


def test_unsynchronised_kernel_without_chrony_is_untrusted(tmp_path: Path) -> None:
    run, ran = runner({})
    state = probe(kernel=lambda: UNSYNCED, run=run, marker=tmp_path / "none")
    assert (state.synced, state.source, state.max_error_s) == (False, "adjtimex", 16.0)
    assert ran == ["chronyc"]


def test_chrony_without_rtcsync_is_asked_when_the_kernel_flag_stays_set(tmp_path: Path) -> None:
    run, _ = runner({"chronyc": CHRONY_OK})
    state = probe(kernel=lambda: UNSYNCED, run=run, marker=tmp_path / "none")
    assert (state.synced, state.source) == (True, "chronyc")
    run, _ = runner({"chronyc": CHRONY_NOT})
    assert not probe(kernel=lambda: UNSYNCED, run=run, marker=tmp_path / "none").synced


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"timedatectl": "yes\n"}, (True, "timedatectl")),
        ({"timedatectl": "no\n", "chronyc": CHRONY_OK}, (False, "timedatectl")),
        ({"chronyc": CHRONY_OK}, (True, "chronyc")),
        ({"chronyc": CHRONY_NOT}, (False, "chronyc")),
        ({"timedatectl": "maybe\n"}, (False, "none")),
        ({}, (False, "none")),
    ],
)
def test_without_adjtimex_timedatectl_then_chrony_then_untrusted(
    tmp_path: Path, answers: dict[str, str | None], expected: tuple[bool, str]
) -> None:
    run, _ = runner(answers)
    state = probe(kernel=lambda: None, run=run, marker=tmp_path / "none")
    assert (state.synced, state.source) == expected


def test_the_configuration_overrides_the_system(tmp_path: Path) -> None:
    run, ran = runner({"chronyc": CHRONY_OK})
    trusted = probe("trusted", kernel=lambda: UNSYNCED, run=run)
    untrusted = probe("untrusted", kernel=lambda: SYNCED, run=run)
    assert (trusted.synced, trusted.source) == (True, "config")
    assert (untrusted.synced, untrusted.source) == (False, "config")
    assert ran == []
    assert from_mapping({"station": {"clock": "trusted"}}).station.clock == "trusted"
    assert from_mapping({}).station.clock == "auto"
    with pytest.raises(ConfigError) as err:
        from_mapping({"station": {"clock": "rtc"}})
    assert err.value.key == "station.clock"


def test_timesyncd_marker_gives_the_last_sync(tmp_path: Path) -> None:
    marker = tmp_path / "synchronized"
    marker.touch()
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    os.utime(marker, (at.timestamp(), at.timestamp()))
    run, _ = runner({})
    state = probe(kernel=lambda: SYNCED, run=run, marker=marker)
    assert state.last_sync == at
    assert state.describe() == "synchronised (adjtimex), max error 0.012 s"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="adjtimex is Linux's")
def test_adjtimex_reads_the_kernel_state_without_privilege() -> None:
    k = clocktrust.read_adjtimex()
    assert k is not None
    assert k.synced == (k.state != clocktrust.TIME_ERROR and not k.status & clocktrust.STA_UNSYNC)
    assert 0 <= k.max_error_s <= 16.0  # the kernel caps it at NTP_PHASE_LIMIT


def test_clock_trust_keeps_the_last_answer_until_asked_again() -> None:
    answers = [ClockState(False, "adjtimex"), ClockState(True, "adjtimex")]
    asked: list[ClockState] = []

    def ask() -> ClockState:
        asked.append(answers[len(asked)])
        return asked[-1]

    trust = ClockTrust(ask=ask)
    assert not trust.trusted()  # asked the first time
    assert not trust.trusted() and len(asked) == 1  # then only read
    assert trust.refresh().synced and trust.trusted()
    assert ClockTrust.forced(True).trusted() and not ClockTrust.forced(False).trusted()


async def test_keep_fresh_asks_again_in_the_background() -> None:
    n = 0

    def ask() -> ClockState:
        nonlocal n
        n += 1
        return ClockState(n >= 3, "adjtimex")

    trust = ClockTrust(ask=ask)
    task = asyncio.create_task(trust.keep_fresh(0.01))
    try:
        for _ in range(500):
            if trust.state().synced:
                break
            await asyncio.sleep(0.01)
        assert trust.trusted()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_shared_is_one_per_setting() -> None:
    assert clocktrust.shared("trusted") is clocktrust.shared("trusted")
    assert clocktrust.shared("trusted").trusted()
    assert not clocktrust.shared("untrusted").trusted()
