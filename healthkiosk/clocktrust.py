"""Whether this station's clock is synchronised, so its times can be trusted.

A Raspberry Pi without a real-time clock that boots without network keeps a
wrong time (a saved one, or 1970), and a "reasonable-looking" date proves
nothing. Until the clock is synchronised the kiosk sets no device clock and
marks its readings (``clock_synced: false``); the doctor's side then orders
and alerts by its own arrival time. Nothing here needs root, D-Bus or a
daemon of ours.

Where the answer comes from, in order:

1. the configuration, ``[station] clock``: ``"trusted"`` for a station whose
   battery-backed real-time clock is right from boot, ``"untrusted"`` to
   never trust it; ``"auto"`` (the default) asks the system:
2. the kernel, ``adjtimex(2)`` read only (``modes = 0``: no privilege): the
   clock is synchronised when the ``STA_UNSYNC`` flag is clear and the state is
   not ``TIME_ERROR``. It is the bit ``timedatectl``'s ``NTPSynchronized``
   reads; systemd-timesyncd clears it at every accepted sample, chrony (with
   ``rtcsync``, Debian's default) and ntpd too, and the kernel sets it again by
   itself about 9 h after the last update, so it also says "still fresh";
3. when the kernel says "not synchronised" and ``chronyc`` is installed, its
   ``tracking`` leap status (chrony without ``rtcsync`` leaves the kernel flag
   set even when synchronised);
4. when ``adjtimex`` cannot be called (not Linux): ``timedatectl show -p
   NTPSynchronized``, then ``chronyc``.

Nothing answers: not trusted. ``/run/systemd/timesync/synchronized`` (touched
by timesyncd at each sync, gone after a reboot) is not an answer, only a
detail: its time is the last sync.

:class:`ClockTrust` keeps the last answer: :meth:`ClockTrust.trusted` only
reads it (cheap, safe on the event loop), :meth:`ClockTrust.refresh` asks again
(blocking: a subprocess may run), :meth:`ClockTrust.keep_fresh` does so every
half minute in a worker thread. Tests give an ``ask`` of their own.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Setting = Literal["auto", "trusted", "untrusted"]
Source = Literal["config", "adjtimex", "chronyc", "timedatectl", "none"]

STA_UNSYNC = 0x0040
TIME_ERROR = 5
TIMESYNC_MARKER = Path("/run/systemd/timesync/synchronized")
"""Touched by systemd-timesyncd at each accepted NTP sample (tmpfs: gone after a reboot)."""
REFRESH_S = 30.0
COMMAND_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class ClockState:
    """The answer: synchronised or not, who said so, and what else is known."""

    synced: bool
    source: Source
    max_error_s: float | None = None
    """The kernel's maximum error estimate (grows by 0.5 ms/s without updates)."""
    last_sync: datetime | None = None
    """When systemd-timesyncd last synchronised (its marker file), if it runs."""
    detail: str = ""

    def describe(self) -> str:
        words = "synchronised" if self.synced else "not synchronised"
        parts = [f"{words} ({self.source})"]
        if self.max_error_s is not None:
            parts.append(f"max error {self.max_error_s:.3f} s")
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)


class _Timex(ctypes.Structure):
    """glibc's ``struct timex`` (only ``status`` and ``maxerror`` are read)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_pad", ctypes.c_int * 11),
    ]


@dataclass(frozen=True, slots=True)
class KernelClock:
    synced: bool
    state: int
    status: int
    max_error_s: float


def read_adjtimex() -> KernelClock | None:
    """The kernel's clock state (read only: no privilege needed); None where
    ``adjtimex`` cannot be called."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        call = libc.adjtimex
    except (OSError, AttributeError):
        return None
    tx = _Timex()  # modes = 0: read only
    state = int(call(ctypes.byref(tx)))
    if state < 0:
        log.debug("adjtimex failed: errno %d", ctypes.get_errno())
        return None
    synced = state != TIME_ERROR and not tx.status & STA_UNSYNC
    return KernelClock(synced, state, int(tx.status), tx.maxerror / 1_000_000)


Run = Callable[[Sequence[str]], str | None]
"""Runs a command; its standard output, or None when it could not run or failed."""


def run_command(argv: Sequence[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
    except (OSError, subprocess.SubprocessError) as err:
        log.debug("%s: %s", argv[0], err)
        return None
    return done.stdout if done.returncode == 0 else None


def read_chronyc(run: Run = run_command) -> bool | None:
    """chrony's own verdict (``chronyc -c tracking``: the last field is the leap
    status, "Normal" when synchronised); None without chrony."""
    out = run(["chronyc", "-c", "tracking"])
    if not out or "," not in out:
        return None
    leap = out.strip().splitlines()[0].rsplit(",", 1)[-1].strip()
    return leap != "Not synchronised"


def read_timedatectl(run: Run = run_command) -> bool | None:
    """``timedatectl show -p NTPSynchronized --value`` (systemd-timedated over D-Bus)."""
    out = run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if out is None:
        return None
    value = out.strip()
    return {"yes": True, "no": False}.get(value)


def last_sync(marker: Path = TIMESYNC_MARKER) -> datetime | None:
    try:
        return datetime.fromtimestamp(marker.stat().st_mtime, UTC)
    except OSError:
        return None


def probe(
    setting: Setting = "auto",
    *,
    kernel: Callable[[], KernelClock | None] = read_adjtimex,
    run: Run = run_command,
    marker: Path = TIMESYNC_MARKER,
) -> ClockState:
    """Ask (blocking when a command has to run): see the module's docstring for the order."""
    if setting == "trusted":
        return ClockState(True, "config", detail="[station] clock = trusted")
    if setting == "untrusted":
        return ClockState(False, "config", detail="[station] clock = untrusted")
    synced_at = last_sync(marker)
    k = kernel()
    if k is not None:
        state = ClockState(k.synced, "adjtimex", k.max_error_s, synced_at)
        if k.synced:
            return state
        if read_chronyc(run):  # chrony without rtcsync keeps STA_UNSYNC set
            return replace(state, synced=True, source="chronyc")
        return state
    for source, ask in (("timedatectl", read_timedatectl), ("chronyc", read_chronyc)):
        answer = ask(run)
        if answer is not None:
            return ClockState(answer, source, last_sync=synced_at)  # type: ignore[arg-type]
    return ClockState(False, "none", last_sync=synced_at, detail="nothing could say")


class ClockTrust:
    """The station's clock state, kept (see the module's docstring)."""

    def __init__(
        self,
        setting: Setting = "auto",
        *,
        ask: Callable[[], ClockState] | None = None,
    ) -> None:
        self.setting = setting
        self._ask = ask or (lambda: probe(setting))
        self._state: ClockState | None = None

    @classmethod
    def forced(cls, synced: bool) -> ClockTrust:
        """Always this answer (tests, tools)."""
        answer = ClockState(synced, "config", detail="forced")
        return cls("trusted" if synced else "untrusted", ask=lambda: answer)

    def refresh(self) -> ClockState:
        """Ask again (blocking: may run a command); returns and keeps the answer."""
        state = self._ask()
        before, self._state = self._state, state
        if before is None or before.synced != state.synced:
            log.log(
                logging.INFO if state.synced else logging.WARNING,
                "station clock %s",
                state.describe(),
            )
        return state

    def state(self) -> ClockState:
        """The last answer (asked now the first time)."""
        return self._state if self._state is not None else self.refresh()

    def trusted(self) -> bool:
        """Whether the clock is synchronised, as last asked (never blocks after the first)."""
        return self.state().synced

    async def keep_fresh(self, interval_s: float = REFRESH_S) -> None:
        """Ask again every ``interval_s`` in a worker thread, until cancelled."""
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # a failed probe must not stop the kiosk
                log.exception("clock state not read")
            await asyncio.sleep(interval_s)


@cache
def shared(setting: Setting = "auto") -> ClockTrust:
    """The process's one :class:`ClockTrust` for ``setting`` (the kiosk's flow,
    its devices and the status share it)."""
    return ClockTrust(setting)
