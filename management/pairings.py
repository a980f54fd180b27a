"""Which device each role is paired with: ``<data_dir>/pairings.json``.

A BLE monitor or meter is found by the service it advertises; a station
with no ``address`` in ``[devices.<role>]`` would take whichever monitor
advertises first, a neighbour's included. The technician's **Pair** (the
kiosk's technician screen) connects to the device in front of the kiosk and
pins its address here; from then on the kiosk connects to that device only.
The configured ``address`` still wins over a pinned one. The remote
``repair`` command (:mod:`management.station`) forgets the pin, so the kiosk pairs
again. Written atomically; a damaged file counts as no pairings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, TypeAdapter

from healthkiosk.atomicfile import write_atomic
from healthkiosk.validation import read_json

FILENAME = "pairings.json"


def path_for(data_dir: Path) -> Path:
    return data_dir / FILENAME


_PAIRINGS: TypeAdapter[dict[str, str]] = TypeAdapter(dict[str, Annotated[str, Field(min_length=1)]])


def read(data_dir: Path) -> dict[str, str]:
    """Role → pinned address; a missing or damaged file is no pairings."""
    try:
        return read_json(path_for(data_dir), _PAIRINGS)
    except (OSError, ValueError):
        return {}


def address_for(data_dir: Path, role: str) -> str | None:
    return read(data_dir).get(role)


def pin(data_dir: Path, role: str, address: str) -> None:
    _write(data_dir, {**read(data_dir), role: address})


def forget(data_dir: Path, role: str) -> bool:
    """Forget the role's pinned device; True if there was one."""
    current = read(data_dir)
    if role not in current:
        return False
    del current[role]
    _write(data_dir, current)
    return True


def _write(data_dir: Path, pairings: dict[str, str]) -> None:
    path = path_for(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(pairings, indent=1, sort_keys=True))
