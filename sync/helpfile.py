"""Calls for staff between the kiosk app and ``kiosk-sync``: two small files.

The kiosk app and ``kiosk-sync`` are two processes. Each writes one file
only (atomically), and reads the other's:

- ``<data_dir>/help-calls.json`` (the kiosk app): every call of the last
  :data:`KEEP` (an urgent result, or 呼叫工作人员 pressed), and its
  acknowledgement when someone at the station gave it. ``kiosk-sync``
  publishes each call as ``hk.help/1`` (:class:`sync.schema.HelpCall`), and
  again once acknowledged.
- ``<data_dir>/help-acks.json`` (``kiosk-sync``): acknowledgements from the
  web (the command ``help_ack``); the kiosk app reads them to tell the elder
  that someone has seen the call, and to put the staff lamp out.

A missing or unreadable file reads as empty (the other side writes it again).
Nothing personal is in either file: the screen's name, the error's key or the
result's category, times and who acknowledged.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from healthkiosk.atomicfile import write_atomic
from healthkiosk.validation import read_json
from sync.schema import HelpCall, HelpReason, HelpWhere

log = logging.getLogger(__name__)

CALLS_FILENAME = "help-calls.json"
ACKS_FILENAME = "help-acks.json"
KEEP = timedelta(days=1)
"""Calls older than this leave the file (the doctor's side keeps them)."""


class CallRecord(BaseModel):
    """One call as the kiosk app keeps it."""

    id: str
    reason: HelpReason
    screen: str
    detail: str = ""
    called_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    acknowledged_by: str = ""
    acknowledged_where: HelpWhere | None = None

    model_config = ConfigDict(frozen=True)

    def message(self, station_id: str) -> HelpCall:
        """The call as ``hk.help/1``."""
        return HelpCall.model_validate(
            {
                "schema": "hk.help/1",
                "station_id": station_id,
                **self.model_dump(),
            }
        )

    @property
    def state_key(self) -> tuple[str, bool]:
        """What ``kiosk-sync`` has sent of it: the call, then its acknowledgement."""
        return self.id, self.acknowledged_at is not None


class AckRecord(BaseModel):
    """An acknowledgement from the web, as ``kiosk-sync`` keeps it."""

    call: str
    at: AwareDatetime
    by: str = Field(default="", max_length=200)
    where: Literal["web"] = "web"

    model_config = ConfigDict(frozen=True)


_CALLS = TypeAdapter(list[CallRecord])
_ACKS = TypeAdapter(list[AckRecord])


def calls_path(data_dir: Path) -> Path:
    return data_dir / CALLS_FILENAME


def acks_path(data_dir: Path) -> Path:
    return data_dir / ACKS_FILENAME


def read_calls(path: Path) -> list[CallRecord]:
    try:
        return read_json(path, _CALLS)
    except FileNotFoundError:
        return []
    except (OSError, ValidationError) as err:
        log.warning("help calls in %s not readable: %s", path, err)
        return []


def write_calls(path: Path, calls: list[CallRecord], *, now: datetime) -> None:
    kept = [c for c in calls if now - c.called_at <= KEEP or c.acknowledged_at is None]
    write_atomic(path, _CALLS.dump_json(kept[-200:], indent=1))


def read_acks(path: Path) -> list[AckRecord]:
    try:
        return read_json(path, _ACKS)
    except FileNotFoundError:
        return []
    except (OSError, ValidationError) as err:
        log.warning("help acknowledgements in %s not readable: %s", path, err)
        return []


def add_ack(path: Path, ack: AckRecord, *, now: datetime) -> bool:
    """Keep ``ack`` (False when that call was acknowledged from the web before)."""
    acks = read_acks(path)
    if any(a.call == ack.call for a in acks):
        return False
    kept = [a for a in acks if now - a.at <= KEEP]
    write_atomic(path, _ACKS.dump_json([*kept, ack][-200:], indent=1))
    return True
