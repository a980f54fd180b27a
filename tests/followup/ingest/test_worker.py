"""The ingest worker against a real broker, on SQLite and on PostgreSQL:
replays, malformed payloads, dead letters, rejections."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.models import DeadLetter, Reading, Resident
from followup.ingest.store import stored_payload
from healthkiosk.mqtt import Connection, MqttSettings, connect
from sync.outbox import Outbox
from sync.schema import ReadingBatch, ReadingMessage, Receipt, decode, encode, to_dict
from sync.store.db import open_store
from tests.support.flowcheck import followup_count, wait_until
from tests.support.synckit import Mosquitto, Notify, fill_store, running, spawn, stop


def _station_settings(broker: Mosquitto, station: str) -> MqttSettings:
    return MqttSettings(
        host="127.0.0.1",
        port=broker.port,
        client_id=station,  # the station's own account is bound to its id
        username=station,
        password=broker.password(station),
        clean_start=True,
        session_expiry_s=0,
        receive_maximum=1000,
    )


def _messages(store: Path, station: str, n: int) -> list[ReadingMessage]:
    fill_store(store, n, seed=n)
    out = Outbox(open_store(store), station_id=station)
    return [p.message for p in out.fetch_after(-1, n)]


async def _publish_all(conn: Connection, topic: str, payloads: list[bytes]) -> None:
    pending = []
    for p in payloads:
        pending.append(conn.start_publish(topic, p))
        if len(pending) >= 50:
            await asyncio.wait_for(asyncio.gather(*pending), 30)
            pending = []
    await asyncio.wait_for(asyncio.gather(*pending), 30)


async def _collect_receipts(
    conn: Connection,
    accepted: set[str],
    rejected: dict[str, str],
    until: Callable[[], bool],
    within: float,
) -> None:
    deadline = time.monotonic() + within
    while not until() and time.monotonic() < deadline:
        try:
            msg = await conn.next_message(timeout=0.5)
        except TimeoutError:
            continue
        conn.ack(msg)
        r = decode(msg.payload)
        assert isinstance(r, Receipt)
        accepted.update(str(u) for u in r.accepted)
        rejected.update({str(x.uuid): x.reason for x in r.rejected})


@pytest.mark.slow
async def test_every_message_replayed_1_to_3_times_shuffled(
    mosquitto: Callable[..., Mosquitto],
    deploy,
    tmp_path: Path,
    followup_url: str,
    notify: Notify,
) -> None:
    station = "st-rp"
    broker = mosquitto([station])
    d = deploy(broker, station, followup_url)
    rng = random.Random(3)
    msgs = _messages(tmp_path / "src.sqlite", station, 2000)
    payloads: list[bytes] = []
    i = 0
    while i < len(msgs):  # singles and batches of up to 12
        k = rng.choice([1, 1, 3, 12])
        chunk = msgs[i : i + k]
        i += k
        body = (
            encode(chunk[0])
            if len(chunk) == 1
            else encode(ReadingBatch(station_id=station, readings=chunk))
        )
        payloads += [body] * rng.randint(1, 3)
    rng.shuffle(payloads)
    accepted: set[str] = set()
    with running(spawn(d.followup, "followup", "ingest", notify=notify)) as ing:
        assert notify.wait_for("STATUS=connected", 15)
        async with connect(_station_settings(broker, station)) as conn:
            await conn.subscribe([(f"hk/v1/st/{station}/receipts", 1)], timeout=5)
            await _publish_all(conn, f"hk/v1/st/{station}/readings", payloads)
            await _collect_receipts(conn, accepted, {}, lambda: len(accepted) == len(msgs), 60)
        assert ing.poll() is None
        assert stop(ing) == 0
    print(f"{len(payloads)} payloads for {len(msgs)} readings")
    assert accepted == {str(m.uuid) for m in msgs}
    engine = make_engine(followup_url)
    with Session(engine) as s:
        rows = {r.uuid: r.payload for r in s.scalars(select(Reading))}
        residents = s.scalar(select(func.count()).select_from(Resident))
    engine.dispose()
    assert len(rows) == len(msgs)
    assert rows == {str(m.uuid): stored_payload(m) for m in msgs}
    # The whole ID number is kept once, in residents; never in a payload.
    stored = json.dumps(rows)
    assert not any(m.resident.id_number in stored for m in msgs)
    assert residents == len({m.resident.id_number for m in msgs})


def _bad_payloads(
    good: ReadingMessage, rng: random.Random, station: str
) -> list[tuple[bytes, str, str | None]]:
    """(payload, expected reason prefix, uuid to be receipted as rejected or None)."""
    d = to_dict(good)
    out: list[tuple[bytes, str, str | None]] = []

    def variant(**changes: object) -> dict[str, object]:
        v = json.loads(json.dumps(d))
        v.update(changes)
        v["uuid"] = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
        return v

    for i in range(1000):
        kind = i % 10
        if kind == 0:
            out.append(
                (bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))), "not_json", None)
            )
        elif kind == 1:
            out.append((b"[1, 2, 3]", "not_object", None))
        elif kind == 2:
            v = variant(schema="hk.reading/9")
            out.append((json.dumps(v).encode(), "schema_version", str(v["uuid"])))
        elif kind == 3:
            v = variant(schema="hk.nonsense/1")
            out.append((json.dumps(v).encode(), "schema_unknown", str(v["uuid"])))
        elif kind == 4:
            v = variant(station_seq=-5)
            out.append((json.dumps(v).encode(), "invalid", str(v["uuid"])))
        elif kind == 5:
            v = variant(resident={"id_number": "110105194001010000"})
            out.append((json.dumps(v).encode(), "invalid", str(v["uuid"])))
        elif kind == 6:
            v = variant(station_id="st-other")
            out.append((json.dumps(v).encode(), "wrong_station", str(v["uuid"])))
        elif kind == 7:
            v = variant(software_version="x" * 700_000)
            out.append((json.dumps(v).encode(), "too_large", None))
        elif kind == 8:
            out.append((encode(Receipt(station_id=station)), "wrong_type", None))
        else:
            v = variant(values={"systolic": "high"})
            out.append((json.dumps(v).encode(), "invalid", str(v["uuid"])))
    return out


@pytest.mark.slow
async def test_1000_bad_payloads_interleaved_with_good_readings(
    mosquitto: Callable[..., Mosquitto],
    deploy,
    tmp_path: Path,
    followup_url: str,
    notify: Notify,
) -> None:
    station = "st-bad"
    broker = mosquitto([station])
    d = deploy(broker, station, followup_url)
    rng = random.Random(7)
    good = _messages(tmp_path / "src.sqlite", station, 500)
    bad = _bad_payloads(good[0], rng, station)
    replays = [encode(rng.choice(good)) for _ in range(200)]
    stream: list[bytes] = [encode(m) for m in good] + replays + [b for b, _r, _u in bad]
    rng.shuffle(stream)
    stream.insert(0, encode(good[0]))  # a replay after the first copy, for sure
    accepted: set[str] = set()
    rejected: dict[str, str] = {}
    want_rejected = {u: r for _b, r, u in bad if u}
    with running(spawn(d.followup, "followup", "ingest", notify=notify)) as ing:
        assert notify.wait_for("STATUS=connected", 15)
        async with connect(_station_settings(broker, station)) as conn:
            await conn.subscribe([(f"hk/v1/st/{station}/receipts", 1)], timeout=5)
            await _publish_all(conn, f"hk/v1/st/{station}/readings", stream)
            await _collect_receipts(
                conn,
                accepted,
                rejected,
                lambda: len(accepted) == len(good) and len(rejected) == len(want_rejected),
                60,
            )
            assert ing.poll() is None  # still running after all of it
            # ...and still working.
            late = _messages(tmp_path / "late.sqlite", station, 1)[0]
            late = late.model_copy(update={"uuid": uuidlib.uuid4()})
            await conn.publish(f"hk/v1/st/{station}/readings", encode(late), timeout=5)
            await _collect_receipts(
                conn, accepted, rejected, lambda: str(late.uuid) in accepted, 20
            )
        assert stop(ing) == 0
    assert accepted == {str(m.uuid) for m in good} | {str(late.uuid)}
    assert set(rejected) == set(want_rejected)
    for u, reason in want_rejected.items():
        assert rejected[u].startswith(reason), (rejected[u], reason)
    assert wait_until(lambda: followup_count(followup_url) == len(good) + 1, 10)
    engine = make_engine(followup_url)
    with Session(engine) as s:
        letters = list(s.scalars(select(DeadLetter)))
    engine.dispose()
    assert len(letters) == len(bad)
    by_reason: dict[str, int] = {}
    for dl in letters:
        by_reason[dl.reason.split(":")[0]] = by_reason.get(dl.reason.split(":")[0], 0) + 1
        assert dl.payload  # the raw bytes are kept
        assert dl.station_id == station
    expected: dict[str, int] = {}
    for _b, r, _u in bad:
        expected[r] = expected.get(r, 0) + 1
    assert by_reason == expected
