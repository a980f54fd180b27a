"""The devices the kiosk app has seen: ``<data_dir>/devices-status.json``.

Written by the kiosk app (:class:`DeviceBook`, fed by :mod:`kiosk.reconnect`),
read by ``kiosk-sync`` for the ``devices`` of ``hk.status/1`` — a file, so the
sync process never imports the kiosk. One entry per role: model, whether the
link is up, battery and clock drift (when a driver reports them), when the
device was last seen and when it last gave a reading, and how many
device-memory records were kept from it (nobody's readings). Written atomically, at most every
:data:`MIN_WRITE_INTERVAL_S` unless something important changed.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from healthkiosk.atomicfile import write_atomic
from healthkiosk.validation import read_json
from sync.schema import DeviceStatus

FILENAME = "devices-status.json"
MIN_WRITE_INTERVAL_S = 5.0


def path_for(data_dir: Path) -> Path:
    return data_dir / FILENAME


class DeviceBook:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, dict[str, Any]] = {}
        self._last_write = 0.0
        old = read(path)
        for d in old:
            self._entries[d.role] = d.model_dump(mode="json")

    def update(
        self,
        role: str,
        *,
        model: str,
        connected: bool,
        battery_percent: int | None = None,
        reading: bool = False,
        at: datetime | None = None,
        clock_drift_s: float | None = None,
    ) -> None:
        now = (at or datetime.now(UTC)).isoformat()
        entry = self._entries.setdefault(role, {"role": role})
        was_connected = entry.get("connected")
        entry["model"] = model[:200]
        entry["connected"] = connected
        if battery_percent is not None:
            entry["battery_percent"] = battery_percent
        if clock_drift_s is not None:
            entry["clock_drift_s"] = round(clock_drift_s, 1)
        if connected:
            entry["last_seen"] = now
        if reading:
            entry["last_reading"] = now
        urgent = reading or was_connected != connected
        if urgent or time.monotonic() - self._last_write >= MIN_WRITE_INTERVAL_S:
            self.write()

    def memory_records(self, role: str, count: int, *, at: datetime | None = None) -> None:
        """``count`` more device-memory records kept from the role's device."""
        if count <= 0:
            return
        entry = self._entries.setdefault(role, {"role": role, "model": "", "connected": False})
        entry["memory_records"] = int(entry.get("memory_records") or 0) + count
        entry["last_memory_record"] = (at or datetime.now(UTC)).isoformat()
        self.write()

    def write(self) -> None:
        self._last_write = time.monotonic()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(list(self._entries.values())))
        except OSError:
            pass  # the status is best effort; a reading never waits for it


_ITEMS: TypeAdapter[list[Any]] = TypeAdapter(list[Any])


def read(path: Path) -> list[DeviceStatus]:
    """The devices in the file; a missing or damaged file (or entry) is skipped."""
    try:
        items = read_json(path, _ITEMS)
    except (OSError, ValueError):
        return []
    out: list[DeviceStatus] = []
    for item in items:
        try:
            out.append(DeviceStatus.model_validate(item))
        except ValueError:
            continue
    return out
