"""Checking one incoming MQTT message (pure: no I/O).

Turns ``(topic, payload)`` into the readings to store and the rejections to
dead-letter and receipt, each with its reason. Nothing here raises on bad
input: however malformed a payload, the result says why it is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from healthkiosk.errors import SchemaError
from sync.schema import (
    MAX_BATCH,
    READING,
    READING_BATCH,
    ReadingBatch,
    ReadingMessage,
    StatusMessage,
    from_dict,
)

TOPIC_RE = re.compile(r"^hk/v1/st/(?P<station>[a-z0-9][a-z0-9-]{0,62})/(?P<leaf>readings|status)$")


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    uuid: str | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    """What one readings message holds."""

    station_id: str | None
    """From the topic (the broker's ACL vouches for it); None if the topic is foreign."""
    readings: list[ReadingMessage] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def station_of(topic: str) -> tuple[str | None, str | None]:
    m = TOPIC_RE.match(topic)
    return (m["station"], m["leaf"]) if m else (None, None)


def _uuid_of(item: Any) -> str | None:
    if isinstance(item, dict):
        try:
            return str(UUID(str(item.get("uuid"))))
        except (ValueError, TypeError, AttributeError):
            return None
    return None


def _one(item: Any, station: str) -> ReadingMessage | Rejection:
    uuid = _uuid_of(item)
    if not isinstance(item, dict):
        return Rejection("invalid: a reading is a JSON object")
    if item.get("schema") != READING:
        try:
            msg = from_dict(item)
        except SchemaError as err:
            return Rejection(f"{err.reason}: {err}", uuid)
        return Rejection(f"wrong_type: expected {READING}, got {msg.schema_}", uuid)
    try:
        msg = from_dict(item)
    except SchemaError as err:
        return Rejection(f"{err.reason}: {err}", uuid)
    if not isinstance(msg, ReadingMessage):  # pragma: no cover - schema checked above
        return Rejection("wrong_type", uuid)
    if msg.station_id != station:
        return Rejection(
            f"wrong_station: payload says {msg.station_id!r}, topic says {station!r}", uuid
        )
    return msg


_FAST_READING = b'{"schema":"hk.reading/1"'
_FAST_BATCH = b'{"schema":"hk.reading-batch/1"'


def _fast(payload: bytes, station: str) -> Checked | None:
    """The common case in one pass (pydantic parses and validates the bytes):
    a valid reading, or a valid batch, all of the topic's station, as the
    kiosk encodes them (``schema`` first). Anything else returns None and goes
    the slow way, which names each problem; both ways accept the same."""
    msg: ReadingMessage | ReadingBatch
    try:
        if payload.startswith(_FAST_READING):
            msg = ReadingMessage.model_validate_json(payload)
            readings = [msg]
        elif payload.startswith(_FAST_BATCH):
            msg = ReadingBatch.model_validate_json(payload)
            if msg.station_id != station:
                return None
            readings = list(msg.readings)
        else:
            return None
    except ValidationError:
        return None
    if any(r.station_id != station for r in readings):
        return None
    return Checked(station, readings=readings)


def check_readings(topic: str, payload: bytes, *, max_bytes: int) -> Checked:
    station, leaf = station_of(topic)
    if station is None or leaf != "readings":
        return Checked(None, rejections=[Rejection(f"bad_topic: {topic[:100]!r}")])
    if len(payload) > max_bytes:
        return Checked(station, rejections=[Rejection(f"too_large: {len(payload)} bytes")])
    fast = _fast(payload, station)
    if fast is not None:
        return fast
    return _check_slow(station, payload)


def _check_slow(station: str, payload: bytes) -> Checked:
    """Every message the fast way did not take: parsed, then checked item by item."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return Checked(station, rejections=[Rejection(f"not_json: {err}")])
    if not isinstance(data, dict):
        return Checked(station, rejections=[Rejection("not_object: a message is a JSON object")])
    if data.get("schema") == READING_BATCH:
        if data.get("station_id") != station:
            uuids = [_uuid_of(i) for i in data.get("readings") or [] if isinstance(i, dict)]
            reason = f"wrong_station: batch says {data.get('station_id')!r}, topic {station!r}"
            rejs = [Rejection(reason, u) for u in uuids if u] or [Rejection(reason)]
            return Checked(station, rejections=rejs[:MAX_BATCH])
        items = data.get("readings")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            return Checked(
                station, rejections=[Rejection(f"invalid: readings must be 1..{MAX_BATCH} items")]
            )
    else:
        items = [data]
    good: list[ReadingMessage] = []
    bad: list[Rejection] = []
    for item in items:
        result = _one(item, station)
        if isinstance(result, Rejection):
            bad.append(result)
        else:
            good.append(result)
    return Checked(station, readings=good, rejections=bad)


def check_status(topic: str, payload: bytes) -> StatusMessage | Rejection | None:
    """A station's status; None for an empty (cleared) retained message."""
    station, leaf = station_of(topic)
    if station is None or leaf != "status":
        return Rejection(f"bad_topic: {topic[:100]!r}")
    if not payload:
        return None
    if len(payload) > 64 * 1024:
        return Rejection(f"too_large: {len(payload)} bytes")
    try:
        data = json.loads(payload)
        if not isinstance(data, dict):
            return Rejection("not_object: a message is a JSON object")
        msg = from_dict(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return Rejection(f"not_json: {err}")
    except SchemaError as err:
        return Rejection(f"{err.reason}: {err}")
    if not isinstance(msg, StatusMessage):
        return Rejection(f"wrong_type: expected a status, got {msg.schema_}")
    if msg.station_id != station:
        return Rejection(f"wrong_station: payload says {msg.station_id!r}, topic {station!r}")
    return msg
