"""The running link's state, written atomically for ``healthkiosk sync status``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import TypeAdapter

from healthkiosk.atomicfile import write_atomic
from healthkiosk.validation import read_json

FILENAME = "sync-status.json"


@dataclass(slots=True)
class LinkState:
    pid: int
    boot_id: str
    started_at: str
    connected: bool = False
    broker: str = ""
    connected_since: str | None = None
    last_error: str | None = None
    last_receipt: str | None = None
    in_flight: int = 0
    sent: int = 0
    delivered: int = 0
    alerts: list[str] = field(default_factory=list)
    updated_at: str | None = None


def path_for(data_dir: Path) -> Path:
    return data_dir / FILENAME


def write(path: Path, state: LinkState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The link's writer task and a synchronous flush may write at the same
    # moment: write_atomic gives each call its own temporary file.
    write_atomic(path, json.dumps(asdict(state), indent=1))


_STATE: TypeAdapter[LinkState] = TypeAdapter(LinkState)


def read(path: Path) -> LinkState | None:
    """The link's last written state; None when missing or damaged."""
    try:
        return read_json(path, _STATE)
    except (OSError, ValueError):
        return None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
