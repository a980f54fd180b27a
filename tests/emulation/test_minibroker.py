"""The embedded demo broker (emulation/minibroker): its codec, our own MQTT
v5 client against it, and the real kiosk-sync + ingest path through it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulation.minibroker import codec
from emulation.minibroker.broker import Broker
from healthkiosk.errors import MqttProtocolError
from healthkiosk.mqtt import Connection, MqttSettings, Will, connect
from tests.support.flowcheck import assert_same_readings, followup_count, wait_until
from tests.support.synckit import (
    REPO,
    Notify,
    fill_store,
    free_port,
    outbox_counts,
    running,
    spawn,
    stop,
    wait_port,
)

# --- codec ----------------------------------------------------------------------------


def _roundtrip(raw: bytes) -> codec.Packet:
    r = codec.Reader(raw)
    first = r.byte()
    length = r.varint()
    assert length == r.left()
    return codec.decode(first >> 4, first & 0x0F, r.take(length))


def test_publish_round_trip_with_properties() -> None:
    props: codec.Props = [
        (codec.PAYLOAD_FORMAT, 1),
        (codec.MESSAGE_EXPIRY, 60),
        (codec.CONTENT_TYPE, "application/json"),
        (codec.RESPONSE_TOPIC, "r/1"),
        (codec.CORRELATION_DATA, b"\x00\x01"),
        (codec.USER_PROPERTY, ("k", "v")),
        (codec.USER_PROPERTY, ("k", "w")),
    ]
    p = codec.Publish("a/b", b"x" * 300, 1, True, True, 7, props)
    assert _roundtrip(codec.encode_publish(p)) == p


@pytest.mark.parametrize("n", [0, 127, 128, 16_383, 16_384, 2_097_151, 268_435_455])
def test_varint_round_trip(n: int) -> None:
    assert codec.Reader(codec.encode_varint(n)).varint() == n


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\x30\x02\x00\x05", 0x81),  # topic longer than the packet
        (b"\x36\x05\x00\x01a\x00\x00", 0x81),  # QoS 3
        (b"\x32\x06\x00\x01a\x00\x00\x00", 0x81),  # QoS 1 packet id 0
        (b"\x30\x05\x00\x01a\x02\x7f", 0x81),  # unknown property 0x7f
        (b"\x30\x04\x00\x02\xff\xfe", 0x81),  # topic not UTF-8
        (b"\x80\x03\x00\x01\x00", 0x81),  # SUBSCRIBE with flags 0000
        (b"\x82\x03\x00\x01\x00", 0x82),  # SUBSCRIBE with no filter
        (b"\x82\x08\x00\x01\x00\x00\x01a\x03", 0x81),  # subscription QoS 3
        (b"\xc0\x01\x00", 0x81),  # bytes after PINGREQ
        (b"\x10\x0a\x00\x04MQTT\x04\x02\x00\x3c\x00", 0x84),  # MQTT 3.1.1
    ],
)
def test_malformed_packets_raise_with_a_reason_code(raw: bytes, code: int) -> None:
    with pytest.raises(MqttProtocolError) as err:
        r = codec.Reader(raw)
        first = r.byte()
        n = r.varint()
        codec.decode(first >> 4, first & 0x0F, r.take(n) if n <= r.left() else r.take(r.left()))
    assert err.value.code == code
    assert "MQTT" in str(err.value) or "malformed" in str(err.value) or "filter" in str(err.value)


def test_topic_matching() -> None:
    assert codec.matches("a/+/c", "a/b/c")
    assert codec.matches("a/#", "a")
    assert codec.matches("a/#", "a/b/c")
    assert not codec.matches("a/+", "a/b/c")
    assert not codec.matches("#", "$SYS/x")
    assert not codec.matches("+/x", "$SYS/x")
    assert codec.matches("$SYS/#", "$SYS/x")
    assert not codec.valid_filter("a/#/b")
    assert not codec.valid_filter("a+/b")
    assert codec.split_shared("$share/g/a/+") == ("g", "a/+")


# --- our own client against the broker ------------------------------------------------


@dataclass
class Running:
    broker: Broker
    port: int

    def settings(self, client_id: str, **kw: object) -> MqttSettings:
        base: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "client_id": client_id,
            "username": "anyone",
            "password": "anything",
            "keepalive_s": 5,
            "connect_timeout_s": 3.0,
        }
        base.update(kw)
        return MqttSettings(**base)  # type: ignore[arg-type]


@pytest.fixture
async def mb() -> AsyncIterator[Running]:
    b = Broker()
    port = await b.start("127.0.0.1", 0)
    yield Running(b, port)
    await b.stop()


async def _drain(conn: Connection, n: int, timeout: float = 3.0) -> list[bytes]:  # noqa: ASYNC109
    out = []
    for _ in range(n):
        m = await conn.next_message(timeout=timeout)
        conn.ack(m)
        out.append(m.payload)
    return out


async def test_publish_subscribe_qos1(mb: Running) -> None:
    async with connect(mb.settings("sub")) as sub, connect(mb.settings("pub")) as pub:
        await sub.subscribe([("kiosk/+/readings", 1)], timeout=2)
        for i in range(50):
            await pub.publish(f"kiosk/s{i % 3}/readings", b"%d" % i, timeout=2)
        assert await _drain(sub, 50) == [b"%d" % i for i in range(50)]


async def test_retained_status_and_last_will_on_kill(mb: Running) -> None:
    will = Will("station/st1/status", b"offline", qos=1, retain=True)
    st = Connection(mb.settings("st1"), will=will)
    await st.open()
    await st.publish("station/st1/status", b"online", retain=True, timeout=2)
    async with connect(mb.settings("watch")) as w:
        await w.subscribe([("station/+/status", 1)], timeout=2)
        m = await w.next_message(timeout=2)
        assert (m.payload, m.retain) == (b"online", True)
        w.ack(m)
        await st.abort()  # no DISCONNECT: the will goes out
        m = await w.next_message(timeout=3)
        assert m.payload == b"offline"
        w.ack(m)
    # Retained: a later subscriber sees the will's payload.
    async with connect(mb.settings("late")) as late:
        await late.subscribe([("station/st1/status", 1)], timeout=2)
        m = await late.next_message(timeout=2)
        assert (m.payload, m.retain) == (b"offline", True)


async def test_normal_disconnect_sends_no_will(mb: Running) -> None:
    async with connect(mb.settings("watch")) as w:
        await w.subscribe([("w/#", 1)], timeout=2)
        async with connect(mb.settings("quiet"), will=Will("w/quiet", b"gone")):
            pass
        with pytest.raises(TimeoutError):
            await w.next_message(timeout=0.5)


async def test_shared_subscription_splits_across_two_subscribers(mb: Running) -> None:
    s = {"clean_start": True, "session_expiry_s": 0}
    async with (
        connect(mb.settings("w1", **s)) as w1,
        connect(mb.settings("w2", **s)) as w2,
        connect(mb.settings("pub")) as pub,
    ):
        await w1.subscribe([("$share/ingest/kiosk/#", 1)], timeout=2)
        await w2.subscribe([("$share/ingest/kiosk/#", 1)], timeout=2)
        for i in range(40):
            await pub.publish("kiosk/x", b"%d" % i, timeout=2)
        await asyncio.sleep(0.3)
        got1 = [m.payload for m in w1.drain(100)]
        got2 = [m.payload for m in w2.drain(100)]
    assert len(got1) == len(got2) == 20  # round robin, each message once
    assert sorted(got1 + got2, key=int) == [b"%d" % i for i in range(40)]


async def test_shared_subscription_never_loses_a_message(mb: Running) -> None:
    s = {"clean_start": True, "session_expiry_s": 0, "receive_maximum": 5}
    got: list[bytes] = []
    async with connect(mb.settings("w1", **s)) as w1, connect(mb.settings("pub")) as pub:
        await w1.subscribe([("$share/g/t", 1)], timeout=2)
        w2 = Connection(mb.settings("w2", **s))
        await w2.open()
        await w2.subscribe([("$share/g/t", 1)], timeout=2)
        for i in range(30):
            await pub.publish("t", b"%d" % i, timeout=2)
        await asyncio.sleep(0.2)
        w2_first = w2.drain(100)
        assert w2_first  # w2 had a share ...
        await w2.abort()  # ... and died without acking any of it
        deadline = time.monotonic() + 5
        while len(got) < 30 and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                got += await _drain(w1, 1, timeout=0.5)
    assert sorted(got, key=int) == [b"%d" % i for i in range(30)]


async def test_session_resume_delivers_what_was_queued_offline(mb: Running) -> None:
    s = {"clean_start": False, "session_expiry_s": 60}
    async with connect(mb.settings("fol", **s)) as c:
        assert not c.session_present
        await c.subscribe([("kiosk/#", 1)], timeout=2)
        async with connect(mb.settings("pub")) as pub:
            await pub.publish("kiosk/a", b"before", timeout=2)
        m = await c.next_message(timeout=2)
        assert m.payload == b"before"  # received, NOT acked
    async with connect(mb.settings("pub")) as pub:
        for i in range(5):
            await pub.publish("kiosk/a", b"off%d" % i, timeout=2)
    async with connect(mb.settings("fol", **s)) as c:
        assert c.session_present
        got = await _drain(c, 6)
    assert got == [b"before"] + [b"off%d" % i for i in range(5)]
    # Clean start throws the session away.
    async with connect(mb.settings("fol", clean_start=True, session_expiry_s=0)) as c:
        assert not c.session_present


async def test_session_expiry_zero_forgets(mb: Running) -> None:
    s = {"clean_start": False, "session_expiry_s": 0}
    async with connect(mb.settings("short", **s)) as c:
        await c.subscribe([("x", 1)], timeout=2)
    async with connect(mb.settings("short", **s)) as c:
        assert not c.session_present


async def test_receive_maximum_is_respected(mb: Running) -> None:
    async with (
        connect(mb.settings("slow", receive_maximum=3)) as c,
        connect(mb.settings("pub")) as pub,
    ):
        await c.subscribe([("q", 1)], timeout=2)
        for i in range(10):
            await pub.publish("q", b"%d" % i, timeout=2)
        await asyncio.sleep(0.3)
        first = c.drain(100)
        assert len(first) == 3
        for m in first:
            c.ack(m)
        rest = await _drain(c, 7)
        assert [m.payload for m in first] + rest == [b"%d" % i for i in range(10)]


async def test_takeover_closes_the_old_connection_and_sends_its_will(mb: Running) -> None:
    async with connect(mb.settings("watch")) as w:
        await w.subscribe([("st/status", 1)], timeout=2)
        old = Connection(mb.settings("dup"), will=Will("st/status", b"old-gone", retain=False))
        await old.open()
        async with connect(mb.settings("dup")):
            await asyncio.wait_for(old.closed.wait(), 3)
            m = await w.next_message(timeout=2)
            assert m.payload == b"old-gone"


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 2) as s:
        s.sendall(data)
        s.settimeout(2)
        out = b""
        with contextlib.suppress(TimeoutError, ConnectionError):
            while chunk := s.recv(4096):
                out += chunk
        return out


def _connect_v5(client_id: str) -> bytes:
    body = codec.encode_str("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 30)
    body += codec.encode_props([]) + codec.encode_str(client_id)
    return codec.packet(codec.CONNECT, 0, body)


async def test_malformed_input_closes_the_connection_and_the_broker_survives(
    mb: Running,
) -> None:
    # MQTT 3.1.1: CONNACK 0x84, closed.
    v311 = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"
    out = await asyncio.to_thread(_raw, mb.port, v311)
    assert out[:4] == b"\x20\x03\x00\x84"
    # Garbage after a good CONNECT: DISCONNECT 0x81, closed.
    out = await asyncio.to_thread(_raw, mb.port, _connect_v5("bad") + b"\x30\x02\x00\x09")
    assert out[0] == 0x20 and b"\xe0" in out and out[out.index(b"\xe0") + 2] == 0x81
    # QoS 2: DISCONNECT 0x9B.
    q2 = codec.encode_publish(codec.Publish("a", b"x", 1, False, packet_id=1))
    q2 = bytes([0x34]) + q2[1:]  # the same PUBLISH with QoS 2
    out = await asyncio.to_thread(_raw, mb.port, _connect_v5("q2") + q2)
    assert out[out.index(b"\xe0") + 2] == 0x9B
    # Not CONNECT first: just closed.
    assert await asyncio.to_thread(_raw, mb.port, b"\xc0\x00") == b""
    # Still serving.
    async with connect(mb.settings("after")) as c:
        await c.publish("ok", b"1", timeout=2)


# --- the real kiosk-sync + ingest path through `healthkiosk broker embedded` -------------


class Embedded:
    """Stands in for synckit.Mosquitto in the ``deploy`` fixture."""

    group = "default"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.log = directory / "minibroker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def password_file(self, user: str) -> Path:
        p = self.directory / f"{user}.password"
        p.write_text("demo\n")  # accepted, not checked: demo broker
        return p

    @property
    def credentials(self) -> Path:
        """The doctor's side's accounts (``[followup] mqtt_accounts_dir``)."""
        for account in ("followup-ingest-1", "followup-ingest-2", "followup-web"):
            self.password_file(account)
        return self.directory

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "healthkiosk", "broker", "embedded", "--port",
                 str(self.port)],
                cwd=REPO, stdout=out, stderr=out,
            )  # fmt: skip
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Embedded]:
    e = Embedded(tmp_path)
    e.start()
    yield e
    e.stop()


def test_200_readings_through_sync_and_ingest_with_the_ingest_killed_midway(
    embedded: Embedded, deploy, tmp_path: Path, notify: Notify
) -> None:
    n = 200
    url = f"sqlite:///{tmp_path / 'followup.sqlite'}"
    # 100 readings/s: the kill lands midway however fast the machine is.
    d = deploy(embedded, "st-mb", url, rate_limit_per_s=100)
    fill_store(d.store, n, seed=random.randrange(1 << 30))
    t0 = time.monotonic()
    ingest = ("followup", "ingest", "--client-id", "followup-ingest-1")
    with (
        running(spawn(d.followup, *ingest)) as first,
        running(spawn(d.kiosk, "sync", "run")) as kiosk,
    ):
        assert wait_until(lambda: followup_count(url) > 0, 30, 0.05)
        stop(first, kill=True)
        mid = followup_count(url)
        with running(spawn(d.followup, *ingest, notify=notify)) as again:
            assert notify.wait_for("STATUS=connected", 15)
            assert wait_until(lambda: outbox_counts(d.store)[0] == 0, 60, 0.2), (
                outbox_counts(d.store),
                embedded.log.read_text()[-2000:],
            )
            assert stop(again) == 0
        assert stop(kiosk) == 0
    print(f"ingest killed after {mid} of {n}; total {time.monotonic() - t0:.1f} s")
    assert mid < n
    assert outbox_counts(d.store) == (0, n, 0)
    assert followup_count(url) == n
    assert_same_readings(d.store, url, "st-mb", n)
    assert embedded.proc is not None and embedded.proc.poll() is None


async def test_keepalive_expiry_publishes_the_will_and_empty_retained_clears(
    mb: Running,
) -> None:
    async with connect(mb.settings("watch")) as w:
        await w.subscribe([("st/+/status", 1)], timeout=2)
        # A raw client with keepalive 1 s and a will, then silent (a frozen station).
        will_props = codec.encode_props([])
        body = codec.encode_str("MQTT") + bytes([5, 0x02 | 0x04 | 0x08 | 0x20])
        body += struct.pack("!H", 1) + codec.encode_props([]) + codec.encode_str("frozen")
        body += will_props + codec.encode_str("st/frozen/status") + codec.encode_bin(b"lost")
        _reader, writer = await asyncio.open_connection("127.0.0.1", mb.port)
        writer.write(codec.packet(codec.CONNECT, 0, body))
        t0 = time.monotonic()
        m = await w.next_message(timeout=4)
        waited = time.monotonic() - t0
        w.ack(m)
        writer.close()
        assert m.payload == b"lost"
        assert 1.3 < waited < 2.5, waited  # 1.5 x keepalive
        assert "st/frozen/status" in mb.broker.retained
        # An empty retained publish clears it.
        await w.publish("st/frozen/status", b"", retain=True, timeout=2)
        assert "st/frozen/status" not in mb.broker.retained


KILLS = 5


def test_two_ingest_workers_one_killed_repeatedly_loses_nothing(
    embedded: Embedded, deploy, tmp_path: Path, notify: Notify
) -> None:
    """The shared subscription under SIGKILLs: a dead member's persistent
    session keeps its share and hands it over when the member is back."""
    n = 5000
    url = f"sqlite:///{tmp_path / 'followup.sqlite'}"
    d = deploy(embedded, "st-sh", url)
    fill_store(d.store, n, seed=random.randrange(1 << 30))
    rng = random.Random()
    t0 = time.monotonic()
    kills = 0
    w1 = ("followup", "ingest", "--client-id", "followup-ingest-1")
    w2 = ("followup", "ingest", "--client-id", "followup-ingest-2")
    with (
        running(spawn(d.followup, *w1)) as first,
        running(spawn(d.kiosk, "sync", "run")) as kiosk,
    ):
        pending_at_first_kill = -1
        for _ in range(KILLS):
            notify.drain()
            w = spawn(d.followup, *w2, notify=notify)
            notify.wait_for("STATUS=connected", 15)
            time.sleep(rng.uniform(0.02, 0.4))
            stop(w, kill=True)
            if kills == 0:
                pending_at_first_kill = outbox_counts(d.store)[0]
            kills += 1
        notify.drain()
        with running(spawn(d.followup, *w2, notify=notify)) as again:
            assert notify.wait_for("STATUS=connected", 15)
            assert wait_until(lambda: outbox_counts(d.store)[0] == 0, 120, 0.25), (
                outbox_counts(d.store),
                embedded.log.read_text()[-3000:],
            )
            assert stop(again) == 0
        assert stop(kiosk) == 0
        assert stop(first) == 0
    print(f"second worker killed {kills} times; {n} readings in {time.monotonic() - t0:.1f} s")
    assert kills == KILLS and pending_at_first_kill > 0  # killed while readings flowed
    assert outbox_counts(d.store) == (0, n, 0)
    assert followup_count(url) == n
    assert_same_readings(d.store, url, "st-sh", n)
