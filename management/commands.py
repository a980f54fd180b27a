"""Remote commands' station-side pieces that need no MQTT: log tails, the
seen-id book (a command id is answered once), running a configured hook.

The commands themselves are dispatched by :class:`management.station.StationManagement`
(``logs``, ``resync``, ``restart``, ``repair``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections import OrderedDict
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter

from healthkiosk.atomicfile import write_atomic
from healthkiosk.config import Config
from healthkiosk.idnumber import mask_in_text
from healthkiosk.validation import read_json

SEEN_FILENAME = "commands-seen.json"
SEEN_KEEP = 500
DEFAULT_LINES = 200
MAX_LINES = 2000
MAX_OUTPUT_CHARS = 100_000
TAIL_BYTES = 512 * 1024
HOOK_TIMEOUT_S = 60.0


def mask_line(line: str) -> str:
    """The masking of :mod:`healthkiosk.logsetup` (``IdNumberMaskFilter``) for a line
    that did not go through a handler of ours (a crash trace, another program)."""
    return mask_in_text(line)


def _tail_file(path: Path, lines: int) -> list[str]:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - TAIL_BYTES))
        data = fh.read()
    text = data.decode("utf-8", errors="replace").splitlines()
    if size > TAIL_BYTES and text:
        text = text[1:]  # the first line is probably cut
    return text[-lines:]


def log_files(cfg: Config) -> list[Path]:
    if cfg.fleet.log_files:
        return [p.expanduser() for p in cfg.fleet.log_files]
    return [cfg.data_dir / "kiosk.log", cfg.data_dir / "kiosk-sync.log"]


class _Args(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LogsArgs(_Args):
    """``args`` of the ``logs`` command."""

    lines: int = DEFAULT_LINES
    """Clamped to 1..:data:`MAX_LINES` by :func:`recent_logs`."""


class RepairArgs(_Args):
    """``args`` of the ``repair`` command (the role is checked by the station)."""

    role: str | None = None


async def recent_logs(cfg: Config, lines: int) -> tuple[str, str]:
    """(where from, masked text): the log files in the data dir, else journald.

    Raises :class:`FileNotFoundError` when there is neither."""
    lines = max(1, min(int(lines), MAX_LINES))
    files = [p for p in log_files(cfg) if p.is_file()]
    out: list[str] = []
    if files:
        for path in files:
            tail = await asyncio.to_thread(_tail_file, path, lines)
            out.append(f"==> {path.name} <==")
            out.extend(tail)
        source = ", ".join(str(p) for p in files)
    elif shutil.which("journalctl") and cfg.fleet.journal_units:
        cmd = ["journalctl", "--no-pager", "-o", "short-iso", "-n", str(lines)]
        for unit in cfg.fleet.journal_units:
            cmd += ["-u", unit]
        code, text = await run_hook(cmd, timeout_s=30.0)
        if code != 0:
            raise FileNotFoundError(f"journalctl failed ({code}): {text[-300:]}")
        out = text.splitlines()[-lines:]
        source = "journald (" + ", ".join(cfg.fleet.journal_units) + ")"
    else:
        raise FileNotFoundError(
            "no log file (" + ", ".join(str(p) for p in log_files(cfg)) + ") and no journald"
        )
    body = "\n".join(mask_line(ln) for ln in out)
    if len(body) > MAX_OUTPUT_CHARS:
        body = body[-MAX_OUTPUT_CHARS:]
        body = body[body.find("\n") + 1 :]
    return source, body


async def run_hook(argv: list[str], *, timeout_s: float = HOOK_TIMEOUT_S) -> tuple[int, str]:
    """Run a configured command; (exit code, its output, masked). 127 when it
    cannot be started, 124 on timeout."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as err:
        return 127, f"cannot run {argv[0]}: {err.strerror or err}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, f"{argv[0]} did not finish within {timeout_s:g} s"
    text = mask_line(out.decode("utf-8", errors="replace").strip())
    return int(proc.returncode or 0), text


_IDS: TypeAdapter[list[str]] = TypeAdapter(list[str])


class SeenCommands:
    """The ids of the last :data:`SEEN_KEEP` commands, kept in the data dir so a
    command redelivered after a restart (QoS 1) is not run again."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / SEEN_FILENAME
        self._ids: OrderedDict[str, None] = OrderedDict()
        try:
            for cid in read_json(self.path, _IDS):
                self._ids[cid] = None
        except (OSError, ValueError):
            pass  # none seen yet, or a damaged file: start afresh

    def __contains__(self, cid: str) -> bool:
        return cid in self._ids

    def add(self, cid: str) -> None:
        self._ids[cid] = None
        while len(self._ids) > SEEN_KEEP:
            self._ids.popitem(last=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(list(self._ids)))
