"""Reading the shipped systemd unit files (systemd/)."""

from __future__ import annotations

import re
from pathlib import Path

UNITS = Path(__file__).resolve().parents[2] / "systemd"


def settings(path: Path) -> dict[str, list[str]]:
    """Key -> values (systemd allows a key more than once)."""
    out: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def seconds(value: str) -> float:
    """A systemd time span ("5s", "1min 30s", "500ms") in seconds."""
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(ms|min|s|h)?", value):
        total += float(number) * {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "": 1}[unit]
    return total
