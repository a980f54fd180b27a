"""The kiosk's link against a real broker and a scripted doctor's side: receipts,
rejections, resends after the receipt timeout, status, SIGTERM, sd_notify;
and the pure parts (presence order, back-off, rate limit, purge)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healthkiosk.mqtt import Backoff, MqttSettings, connect
from healthkiosk.sdnotify import Notifier
from sync import schema
from sync.link import RateLimiter
from sync.outbox import Outbox
from sync.schema import Receipt, Rejection, StatusMessage, decode, encode
from sync.store.db import open_store
from sync.store.models import Reading, Resident
from tests.support.synckit import (
    REPO,
    Mosquitto,
    Notify,
    decode_readings,
    fill_store,
    outbox_counts,
    running,
    spawn,
    stop,
)


def _doctor(broker: Mosquitto, client_id: str = "doctor") -> MqttSettings:
    return MqttSettings(
        host="127.0.0.1",
        port=broker.port,
        client_id=client_id,
        username="followup",
        password=broker.password("followup"),
        clean_start=True,
        session_expiry_s=0,
        receive_maximum=1000,
    )


def _status(cfg: Path) -> dict[str, object]:
    r = subprocess.run(
        [sys.executable, "-m", "healthkiosk", "--config", str(cfg), "sync", "status", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(r.stdout))


def _status_text(cfg: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "healthkiosk", "--config", str(cfg), "sync", "status"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


async def test_receipts_rejections_and_resends(
    mosquitto: Callable[..., Mosquitto], deploy, tmp_path: Path
) -> None:
    station = "st-rj"
    broker = mosquitto([station])
    d = deploy(broker, station, "sqlite:///unused", receipt_timeout_s=0.5)
    uuids = fill_store(d.store, 40)
    # One row the kiosk itself cannot turn into a valid message (a corrupt ID number).
    sessions = open_store(d.store)
    with sessions.begin() as s:
        s.add(
            Resident(
                id=999,
                id_hash="f" * 64,
                id_number="110105194001010000",
                id_masked="x",
                first_seen=datetime.now(UTC),
                last_seen=datetime.now(UTC),
            )
        )
    [bad] = fill_store(d.store, 1, seed=99, start_seq=1000)
    with sessions.begin() as s:
        row = s.get(Reading, bad)
        assert row is not None
        row.resident_id = 999
    rejected_uuid, withheld = uuids[3], uuids[7]
    seen: Counter[str] = Counter()
    async with connect(_doctor(broker)) as doc:
        await doc.subscribe([(f"hk/v1/st/{station}/readings", 1)], timeout=5)
        with running(spawn(d.kiosk, "sync", "run")) as kiosk:
            t_end = time.monotonic() + 4.0
            withheld_times: list[float] = []
            while time.monotonic() < t_end:
                try:
                    msg = await doc.next_message(timeout=0.2)
                except TimeoutError:
                    continue
                doc.ack(msg)
                readings = decode_readings(msg.payload)
                ids = [str(r.uuid) for r in readings]
                seen.update(ids)
                if withheld in ids:
                    withheld_times.append(time.monotonic())
                accepted = [u for u in ids if u not in (rejected_uuid, withheld)]
                if withheld in ids and len(withheld_times) >= 3:
                    accepted.append(withheld)  # the third copy is receipted
                rej = (
                    [Rejection(uuid=rejected_uuid, reason="implausible: test")]
                    if (rejected_uuid in ids)
                    else []
                )
                await doc.publish(
                    f"hk/v1/st/{station}/receipts",
                    encode(Receipt(station_id=station, accepted=accepted, rejected=rej)),
                    timeout=5,
                )
            s = _status(d.kiosk)
            assert stop(kiosk) == 0
    assert seen[rejected_uuid] == 1  # rejected: never resent
    assert seen[withheld] == 3  # resent after each receipt timeout, until receipted
    gaps = [b - a for a, b in itertools.pairwise(withheld_times)]
    assert all(g >= 0.4 for g in gaps), gaps
    assert bad not in seen
    assert outbox_counts(d.store) == (0, 39, 2)
    assert s["connected"] is True and s["backlog"] == 0 and s["rejected"] == 2
    reasons = {r["uuid"]: r["reason"] for r in s["rejections"]}  # type: ignore[attr-defined]
    assert reasons[rejected_uuid] == "implausible: test"
    assert reasons[bad].startswith("invalid locally")
    assert "110105194001010000" not in json.dumps(s)
    assert s["last_receipt"]
    text = _status_text(d.kiosk)
    assert "not running" in text and "rejected:           2" in text


async def test_sigterm_says_offline_and_status_survives(
    mosquitto: Callable[..., Mosquitto], deploy, notify: Notify
) -> None:
    station = "st-tm"
    broker = mosquitto([station])
    d = deploy(broker, station, "sqlite:///unused")
    fill_store(d.store, 5)
    proc = spawn(d.kiosk, "sync", "run", notify=notify)
    with running(proc):
        assert notify.wait_for("STATUS=connected", 15)
        s = _status(d.kiosk)
        assert s["running"] is True and s["connected"] is True and s["backlog"] == 5
        assert stop(proc) == 0
    assert any("STOPPING=1" in m for m in notify.drain())
    async with connect(_doctor(broker, "probe")) as doc:
        await doc.subscribe([(f"hk/v1/st/{station}/status", 1)], timeout=5)
        msg = await doc.next_message(timeout=5)
    status = decode(msg.payload)
    assert isinstance(status, StatusMessage) and msg.retain
    assert status.online is False and status.backlog == 5
    s = _status(d.kiosk)
    assert s["running"] is False and s["connected"] is False


async def test_readings_go_out_when_the_broker_refuses_the_remote_configuration(
    mosquitto: Callable[..., Mosquitto], deploy, notify: Notify
) -> None:
    """A station whose group the broker does not know (its configuration and
    commands are refused) still sends its readings, and says what it misses."""
    station = "st-gx"
    broker = mosquitto([station])
    d = deploy(broker, station, "sqlite:///unused")
    d.kiosk.write_text(d.kiosk.read_text().replace(f'group = "{broker.group}"', 'group = "other"'))
    fill_store(d.store, 5)
    seen: set[str] = set()
    async with connect(_doctor(broker, "gx-watch")) as doc:
        await doc.subscribe([(f"hk/v1/st/{station}/readings", 1)], timeout=5)
        with running(spawn(d.kiosk, "sync", "run", notify=notify)) as kiosk:
            assert notify.wait_for("STATUS=connected", 15)
            deadline = time.monotonic() + 15
            while len(seen) < 5 and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    msg = await doc.next_message(timeout=1)
                    seen.update(str(m.uuid) for m in decode_readings(msg.payload))
            s = _status(d.kiosk)
            assert stop(kiosk) == 0
    assert len(seen) == 5
    assert any("remote configuration and commands not received" in a for a in s["alerts"])


def test_sd_notify_ready_and_watchdog(tmp_path: Path, deploy, mosquitto) -> None:
    broker = mosquitto(["st-wd"])
    d = deploy(broker, "st-wd", "sqlite:///unused")
    sock_path = tmp_path / "n.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "healthkiosk", "--config", str(d.kiosk), "sync", "run"],
        cwd=REPO,
        env=env,
    )
    got: list[str] = []
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and sum("WATCHDOG=1" in g for g in got) < 3:
            with contextlib.suppress(TimeoutError):
                got.append(sock.recv(1000).decode())
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert "READY=1" in got
    assert sum("WATCHDOG=1" in g for g in got) >= 3
    assert any(g.startswith("STATUS=connected") for g in got)


def test_notifier_without_socket_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled
    n.ready()
    n.close()


def test_presence_order() -> None:
    a = schema.new_boot_id(7)
    b = schema.new_boot_id(8)
    assert schema.boot_number(a) == 7
    will_1 = schema.CONNECTION_STRIDE + schema.WILL_OFFSET
    # Within a boot: a connection's will beats its statuses, the next connection beats it.
    assert schema.is_newer(a, will_1, than_boot=a, than_seq=schema.CONNECTION_STRIDE + 5)
    assert schema.is_newer(a, 2 * schema.CONNECTION_STRIDE + 1, than_boot=a, than_seq=will_1)
    # A later boot always wins, whatever its sequence; a stale one never does.
    assert schema.is_newer(b, schema.CONNECTION_STRIDE + 1, than_boot=a, than_seq=will_1)
    assert not schema.is_newer(a, will_1, than_boot=b, than_seq=schema.CONNECTION_STRIDE)
    assert schema.is_newer(a, 1, than_boot=None, than_seq=None)
    assert not schema.is_newer("garbage", 10**9, than_boot=a, than_seq=0)


def test_backoff_grows_with_jitter_and_resets() -> None:
    b = Backoff(1.0, 30.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(10)]
    assert all(0.5 <= x <= 30.0 for x in delays)
    assert max(delays[6:]) > 4 * max(delays[:2])
    assert len(set(delays)) == len(delays)  # jitter
    b.reset()
    assert b.next_delay() <= 1.0


async def test_rate_limiter() -> None:
    r = RateLimiter(50.0)
    assert r.max_batch(100) == 50
    t = time.monotonic()
    for _ in range(10):
        await r.take(10)
    elapsed = time.monotonic() - t
    assert 0.9 <= elapsed <= 2.0  # 100 readings at 50/s, a bucket of 50 to start
    free = RateLimiter(None)
    assert free.max_batch(100) == 100


def test_purge_keeps_undelivered_forever(tmp_path: Path) -> None:
    store = tmp_path / "k.sqlite"
    uuids = fill_store(store, 30)
    out = Outbox(open_store(store), station_id="st-pg")
    now = datetime.now(UTC)
    # The link's receipt path and the plain one store the same timestamps.
    assert out.apply_receipt(uuids[:10], [], attempted=uuids[:10], at=now - timedelta(days=40)) == (
        10,
        0,
    )
    assert out.apply_receipt(uuids[10:20], [], at=now - timedelta(days=2)) == (10, 0)
    out.mark_rejected([(uuids[20], "test")], at=now - timedelta(days=400))
    # The undelivered are old too (fill_store dates them 30 days back).
    assert out.purge_delivered(now=now, retention_days=30) == 10
    assert outbox_counts(store) == (9, 10, 1)
    assert out.purge_delivered(now=now, retention_days=30) == 0
    assert out.purge_delivered(now=now + timedelta(days=60), retention_days=30) == 10
    assert outbox_counts(store) == (9, 0, 1)
    assert out.summary().backlog == 9
    assert [p.uuid for p in out.fetch_after(-1, 100)] == uuids[21:]


def test_boot_number_grows(tmp_path: Path) -> None:
    out = Outbox(open_store(tmp_path / "k.sqlite"), station_id="st-b")
    assert [out.next_boot() for _ in range(3)] == [1, 2, 3]


def test_link_waits_are_bounded() -> None:
    """The transport turns a missing acknowledgement into our timeout error."""
    from healthkiosk.errors import SyncTimeoutError
    from healthkiosk.mqtt import wait

    async def go() -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with pytest.raises(SyncTimeoutError):
            await wait(fut, timeout=0.05, what="PUBACK")

    asyncio.run(go())
