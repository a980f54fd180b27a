"""The updater's persistent state: one small JSON file, replaced atomically.

Written by :func:`healthkiosk.atomicfile.write_atomic` (write-to-temp,
``fsync``, :func:`os.replace`, ``fsync`` of the directory), so after a power
cut or a SIGKILL the file is either the old state or the new one, never a
torn mix. Each step of an update is recorded
*before* it starts, which is what lets a restarted updater resume or roll back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from healthkiosk.atomicfile import write_atomic
from healthkiosk.validation import read_json

STATE_NAME = "updater-state.json"


class Step(StrEnum):
    """The steps of one update, in order; progress is reported per step."""

    WAIT_VISIT = "wait_visit"
    DOWNLOAD = "download"
    VERIFY = "verify"
    INSTALL = "install"
    SWITCH = "switch"
    FIRST_START = "first_start"
    STABILITY = "stability"
    ROLLBACK = "rollback"
    DONE = "done"


@dataclass(slots=True)
class Installed:
    release: int
    version: str
    dir: str
    """Directory name under ``<root>/releases/``."""


@dataclass(slots=True)
class Pending:
    release: int
    version: str
    dir: str
    manifest_url: str
    step: str
    previous: Installed | None
    rollback: bool = False
    rollback_reason: str = ""


@dataclass(slots=True)
class Outcome:
    release: int
    version: str
    outcome: str
    """``installed``, ``rolled_back`` or ``refused``."""
    reason: str = ""
    detail: str = ""


@dataclass(slots=True)
class UpdaterState:
    current: Installed | None = None
    pending: Pending | None = None
    last: Outcome | None = None
    highest_release: int = 0
    """The highest release ever installed here: downgrade protection compares with it."""
    bad_releases: list[int] = field(default_factory=list)
    """Releases that failed their health check here: not tried again."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_STATE: TypeAdapter[UpdaterState] = TypeAdapter(UpdaterState)


def load(path: Path) -> UpdaterState:
    """The saved state (a fresh one when there is none); raises ``ValueError``
    for a damaged file."""
    try:
        return read_json(path, _STATE)
    except FileNotFoundError:
        return UpdaterState()


def save(path: Path, state: UpdaterState) -> None:
    write_atomic(path, json.dumps(state.to_json(), indent=2, sort_keys=True))
