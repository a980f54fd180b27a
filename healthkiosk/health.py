"""Health reports: what a started release writes, and what the updater watches.

A process of the kiosk (the Kivy app, ``kiosk-sync``) reports its state in
``<health_dir>/<unit>.json``::

    {"unit": "kiosk-sync", "pid": 1234, "prefix": "/opt/healthkiosk/releases/7-0.2.0",
     "state": "starting" | "ready", "time": 1700000000.0}

``prefix`` is the release directory the process was started from, resolved
when this module is first imported (import it at start: ``current`` may be
switched later). ``state: ready`` is written together with ``READY=1`` to
systemd's notify socket, after the app drew its first frame or the link
reached the broker. The updater (:func:`wait_ready`, :func:`watch_stable`)
accepts a release only when every expected unit reports ready from the new
release's directory and its process stays alive, with the same pid, for the
whole stability window.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from healthkiosk import sdnotify
from healthkiosk.atomicfile import write_atomic

if TYPE_CHECKING:  # a started release imports this module first: keep it light
    from healthkiosk.config import Config

ENV_HEALTH_DIR = "HEALTHKIOSK_HEALTH_DIR"
_PREFIX = str(Path(sys.prefix).resolve())


def dir_for(config: Config) -> Path:
    """The health directory of a station: where its processes report and the
    updater looks (``update.health_dir``, default ``<data_dir>/health``)."""
    return config.update.health_dir or config.data_dir / "health"


def report(state: str, *, unit: str, health_dir: Path | None = None) -> Path | None:
    """Write this process's health file (atomically); also tells systemd READY=1.

    ``health_dir`` defaults to ``$HEALTHKIOSK_HEALTH_DIR``; without either only
    systemd is told.
    """
    if state == "ready":
        sdnotify.ready()
    directory = health_dir or (
        Path(os.environ[ENV_HEALTH_DIR]) if ENV_HEALTH_DIR in os.environ else None
    )
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{unit}.json"
    body = {
        "unit": unit,
        "pid": os.getpid(),
        "prefix": _PREFIX,
        "state": state,
        "time": time.time(),
    }
    write_atomic(path, json.dumps(body))
    return path


@dataclass(frozen=True, slots=True)
class Report:
    unit: str
    pid: int
    prefix: str
    state: str
    time: float


def read(health_dir: Path, unit: str) -> Report | None:
    # pydantic imported here: writing a report must stay light at start-up.
    from pydantic import TypeAdapter

    from healthkiosk.validation import read_json

    try:
        return read_json(health_dir / f"{unit}.json", TypeAdapter(Report))
    except (OSError, ValueError):
        return None


def clear(health_dir: Path, units: list[str]) -> None:
    for unit in units:
        (health_dir / f"{unit}.json").unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class StartResult(StrEnum):
    READY = "ready"
    CRASHED = "crashed"
    """A process of the release reported itself and died before READY."""
    NO_READY = "no_ready"
    """Nothing reported READY in time (a hang, or a crash before the first report)."""


def wait_ready(
    health_dir: Path,
    units: list[str],
    *,
    prefix: Path,
    timeout_s: float,
    poll_s: float = 0.1,
) -> tuple[StartResult, dict[str, int], str]:
    """Wait until every unit reports ready from ``prefix``; (result, pids, detail)."""
    want = str(prefix.resolve())
    deadline = time.monotonic() + timeout_s
    while True:
        pids: dict[str, int] = {}
        for unit in units:
            rep = read(health_dir, unit)
            if rep is None or rep.prefix != want:
                continue
            if not pid_alive(rep.pid):
                return StartResult.CRASHED, {}, f"{unit} (pid {rep.pid}) exited before READY"
            if rep.state == "ready":
                pids[unit] = rep.pid
        if len(pids) == len(units):
            return StartResult.READY, pids, ""
        if time.monotonic() >= deadline:
            missing = [u for u in units if u not in pids]
            return (
                StartResult.NO_READY,
                {},
                f"no READY from {', '.join(missing)} in {timeout_s:g} s",
            )
        time.sleep(poll_s)


def watch_stable(
    health_dir: Path,
    pids: dict[str, int],
    *,
    window_s: float,
    poll_s: float = 0.2,
) -> str | None:
    """Watch the ready processes for ``window_s``; the reason they failed, or None."""
    deadline = time.monotonic() + window_s
    while True:
        for unit, pid in pids.items():
            if not pid_alive(pid):
                return f"{unit} (pid {pid}) died inside the stability window"
            rep = read(health_dir, unit)
            if rep is not None and rep.pid != pid:
                return f"{unit} restarted inside the stability window (pid {pid} -> {rep.pid})"
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_s)
