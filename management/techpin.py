"""Wrong technician PINs: ``<data_dir>/technician-pin.json``.

Written by the kiosk app (:class:`PinFile`, the visit flow's
:class:`kiosk.flow.ports.PinAttempts`): how many wrong PINs in a row, until when
the technician screen refuses every PIN, and when the last wrong one came. It
survives a restart of the app (switching the kiosk off and on does not give an
attacker fresh tries), and ``kiosk-sync`` reads it for ``hk.status/1``
(``tech_pin_failures``, ``tech_pin_locked_until``), so the fleet page raises an
alert. A file, so the sync process never imports the kiosk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from healthkiosk.atomicfile import write_atomic
from healthkiosk.validation import read_json

FILENAME = "technician-pin.json"


def path_for(data_dir: Path) -> Path:
    return data_dir / FILENAME


class PinRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    failures: int = Field(default=0, ge=0, le=1_000_000)
    locked_until: AwareDatetime | None = None
    last_failure: AwareDatetime | None = None


_RECORD: TypeAdapter[PinRecord] = TypeAdapter(PinRecord)


def read(path: Path) -> PinRecord:
    """The record; a missing or damaged file reads as no failures."""
    try:
        return read_json(path, _RECORD)
    except (OSError, ValueError):
        return PinRecord()


@dataclass
class PinFile:
    """The kiosk app's side (blocking, small: written at most once per PIN typed)."""

    path: Path

    def load(self) -> tuple[int, datetime | None]:
        r = read(self.path)
        return r.failures, r.locked_until

    def save(self, failures: int, locked_until: datetime | None, *, at: datetime) -> None:
        before = read(self.path)
        record = PinRecord(
            failures=failures,
            locked_until=locked_until,
            last_failure=at if failures > before.failures else before.last_failure,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(record.model_dump(mode="json")))
