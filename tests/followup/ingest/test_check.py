"""The ingest's fast check (pydantic on the bytes) accepts exactly what the
item-by-item check accepts, and leaves everything else to it (same reasons)."""

from __future__ import annotations

import json
import random
import uuid as uuidlib
from typing import Any

from followup.ingest.check import _check_slow, _fast, check_readings
from sync.schema import ReadingBatch, ReadingMessage, encode, from_dict, to_dict
from tests.support.synckit import id_number

TOPIC = "hk/v1/st/st-1/readings"


def _reading(rng: random.Random, station: str = "st-1", **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "schema": "hk.reading/1",
        "uuid": str(uuidlib.UUID(int=rng.getrandbits(128), version=4)),
        "station_id": station,
        "station_seq": rng.randrange(10_000),
        "resident": {"id_number": id_number(rng.randrange(1000)), "name": "居民", "sex": "male"},
        "kind": "blood_pressure",
        "measured_at": "2026-11-25T08:00:00+00:00",
        "values": {"systolic": 150, "diastolic": 95, "pulse": 70},
        "device": {"model": "m", "transport": "emulated"},
        "classification": {"category": "grade_1", "urgent": False},
        "software_version": "t",
    }
    d.update(over)
    return d


def _variants(rng: random.Random) -> list[bytes]:
    good = _reading(rng)
    compact = encode(from_dict(good))  # as the kiosk sends it
    batch = [_reading(rng) for _ in range(5)]
    out = [
        compact,
        encode(ReadingBatch(station_id="st-1", readings=[from_dict(b) for b in batch])),  # type: ignore[misc]
        json.dumps(good).encode(),  # spaces: not the fast prefix
        json.dumps({"extra": 1, **good}).encode(),  # schema not first
        compact[:-1] + b',"unknown":{"x":[1,2]}}',  # extra field, ignored
        compact.replace(b'"st-1"', b'"st-2"', 1),  # wrong station in the payload
        json.dumps(_reading(rng, values={"systolic": "NaN", "diastolic": 1})).encode(),
        json.dumps(_reading(rng, resident={"id_number": "110101199001011234"})).encode(),
        json.dumps(_reading(rng, kind="glucose")).encode(),  # values do not match kind
        json.dumps(_reading(rng, schema="hk.reading/2")).encode(),
        json.dumps(_reading(rng, station_seq=-1), separators=(",", ":")).encode(),
        json.dumps(_reading(rng, station_seq="12"), separators=(",", ":")).encode(),
        json.dumps(_reading(rng, station_seq=12.0), separators=(",", ":")).encode(),
        json.dumps(_reading(rng), separators=(",", ":")).encode()[:-5],  # truncated
        b'{"schema":"hk.reading/1","uuid":"\\ud800"}',
        b'{"schema":"hk.reading/1",' + b"\xff" + b"}",
        b'{"schema":"hk.reading/1","schema":"hk.status/1"}',
    ]
    mixed = [*batch[:2], _reading(rng, station="st-9"), _reading(rng, station_seq=-5)]
    for station, items in (("st-1", mixed), ("st-9", batch), ("st-1", [])):
        out.append(
            json.dumps(
                {"schema": "hk.reading-batch/1", "station_id": station, "readings": items},
                separators=(",", ":"),
            ).encode()
        )
    return out


def _same(a: Any, b: Any) -> bool:
    return (a.station_id, [to_dict(r) for r in a.readings], a.rejections) == (
        b.station_id,
        [to_dict(r) for r in b.readings],
        b.rejections,
    )


def test_fast_check_agrees_with_the_item_by_item_check() -> None:
    rng = random.Random(5)
    payloads = _variants(rng)
    taken = 0
    for p in payloads:
        slow = _check_slow("st-1", p)
        fast = _fast(p, "st-1")
        if fast is not None:
            taken += 1
            assert _same(fast, slow), p[:120]
            assert not slow.rejections
        assert _same(check_readings(TOPIC, p, max_bytes=65536), slow), p[:120]
    # the kiosk's encodings (single, batch, with an unknown extra field) go the fast way
    assert taken >= 3
    assert isinstance(_fast(payloads[0], "st-1").readings[0], ReadingMessage)  # type: ignore[union-attr]
