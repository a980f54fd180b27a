"""The worker's per-message isolation, in process (SQLite and PostgreSQL): a
transient database error is retried and never refuses a good reading; a message
that fails on its own is dead-lettered, receipted as rejected and acknowledged,
and the others of its batch are stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.models import DeadLetter, Reading
from followup.ingest.worker import IngestWorker
from healthkiosk.config import Config
from healthkiosk.mqtt import Message
from sync.schema import Receipt, decode, encode
from tests.followup.alerts.test_clock_and_age import STATION, message

TOPIC = f"hk/v1/st/{STATION}/readings"


class FakeConn:
    def __init__(self) -> None:
        self.acked: list[int] = []
        self.receipts: list[Receipt] = []

    def ack(self, m: Message) -> None:
        self.acked.append(m.mid)

    def start_publish(self, topic: str, payload: bytes) -> asyncio.Future[None]:
        r = decode(payload)
        assert isinstance(r, Receipt)
        self.receipts.append(r)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


@pytest.fixture
def engine(followup_url: str) -> Iterator[Engine]:
    e = make_engine(followup_url)
    yield e
    e.dispose()


def _msgs(n: int) -> list[tuple[Message, str]]:
    out = []
    for i in range(n):
        r = message(measured_at=datetime.now(UTC), clock_synced=True, seq=i + 1)
        out.append((Message(TOPIC, encode(r), 1, False, i + 1), str(r.uuid)))
    return out


def test_a_deadlock_is_retried_and_a_poison_message_alone_is_dead_lettered(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = IngestWorker(Config(), engine, key=b"k" * 32)
    real = worker.store.store
    msgs = _msgs(4)
    poison_uuid = msgs[2][1]
    calls = {"n": 0}

    def flaky(readings: Any, dead: Any, *, received_at: datetime) -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # the first try of the batch: a deadlock
            raise OperationalError("INSERT", {}, Exception("deadlock detected"))
        if any(str(r.uuid) == poison_uuid for r in readings):
            raise OverflowError("date value out of range")
        real(readings, dead, received_at=received_at)

    monkeypatch.setattr(worker.store, "store", flaky)
    conn = FakeConn()
    asyncio.run(worker.handle(conn, [m for m, _u in msgs]))  # type: ignore[arg-type]
    assert sorted(conn.acked) == [1, 2, 3, 4]
    with Session(engine) as s:
        stored = set(s.scalars(select(Reading.uuid)))
        letters = list(s.scalars(select(DeadLetter)))
    assert stored == {u for _m, u in msgs} - {poison_uuid}
    assert len(letters) == 1
    assert letters[0].reason == "store_failed: OverflowError: date value out of range"
    accepted = {str(u) for r in conn.receipts for u in r.accepted}
    rejected = {str(x.uuid): x.reason for r in conn.receipts for x in r.rejected}
    assert accepted == stored and set(rejected) == {poison_uuid}
    assert rejected[poison_uuid].startswith("store_failed: OverflowError")
