"""The embedded MQTT v5 broker's sessions and routing (asyncio, in memory).

FOR THE DEMO ONLY, loopback only: any username/password is accepted, no TLS,
no ACL, nothing survives a restart. Production uses Mosquitto or EMQX.

Supported: MQTT v5 CONNECT (others get CONNACK 0x84), clean start and
session expiry (subscriptions plus unacknowledged and queued QoS 1 messages
kept in memory while the session lives), the client's Receive Maximum for
outgoing QoS 1, keepalive (closed at 1.5x, will published), will messages,
session takeover, QoS 0 and 1 (QoS 2 gets DISCONNECT 0x9B), retained
messages, ``+``/``#`` wildcards, ``$share/<group>/<filter>`` shared
subscriptions (round robin over connected members; a member's undelivered
messages go to another member when its session ends), message expiry.
Not supported: QoS 2, topic aliases (maximum 0 advertised), subscription
identifiers, will delay, enhanced authentication.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from emulation.minibroker import codec
from emulation.minibroker.codec import Props, Publish
from healthkiosk.errors import MqttProtocolError

log = logging.getLogger(__name__)

MAX_PACKET = 8 << 20
"""Largest packet accepted (8 MiB; a reading batch is at most 512 KiB); bigger
ones close the connection (0x95)."""


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    props: Props
    expires_at: float | None  # time.monotonic()


@dataclass(slots=True)
class Outgoing:
    msg: Message
    qos: int
    retain: bool
    group: str | None  # the shared subscription group it came through
    packet_id: int = 0


@dataclass(slots=True)
class Subscription:
    filter: str  # without the $share prefix
    group: str | None
    qos: int
    no_local: bool
    retain_as_published: bool


@dataclass(eq=False)
class Session:
    client_id: str
    expiry_s: int = 0
    subs: dict[str, Subscription] = field(default_factory=dict)  # key: the full filter
    inflight: OrderedDict[int, Outgoing] = field(default_factory=OrderedDict)
    queue: deque[Outgoing] = field(default_factory=deque)
    conn: Conn | None = None
    receive_maximum: int = 65535
    expiry_handle: asyncio.TimerHandle | None = None
    _pid: int = 0

    def next_pid(self) -> int:
        for _ in range(65535):
            self._pid = self._pid % 65535 + 1
            if self._pid not in self.inflight:
                return self._pid
        raise RuntimeError("no free packet id")


class Conn:
    """One network connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.session: Session | None = None
        self.will: codec.Will | None = None
        self.closed = False

    def send(self, data: bytes) -> None:
        if not self.closed and not self.writer.is_closing():
            self.writer.write(data)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.close()


class Broker:
    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.retained: dict[str, Message] = {}
        self._rr = itertools.count()
        self._assigned = itertools.count(1)
        self._server: asyncio.Server | None = None

    # --- server ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 1883) -> int:
        """Listen; returns the port (useful with ``port=0``)."""
        self._server = await asyncio.start_server(self._handle, host, port)
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for s in self.sessions.values():
                if s.conn is not None:
                    s.conn.close()
            await self._server.wait_closed()

    async def _read_packet(self, conn: Conn) -> tuple[int, int, bytes]:
        first = (await conn.reader.readexactly(1))[0]
        length, shift = 0, 0
        for _ in range(4):
            b = (await conn.reader.readexactly(1))[0]
            length += (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        else:
            raise codec.malformed("remaining length longer than 4 bytes")
        if length > MAX_PACKET:
            raise MqttProtocolError(f"packet of {length} bytes is too large", code=0x95)
        return first >> 4, first & 0x0F, await conn.reader.readexactly(length)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer)
        peer = writer.get_extra_info("peername")
        clean = False
        try:
            ptype, flags, body = await asyncio.wait_for(self._read_packet(conn), timeout=10)
            if ptype != codec.CONNECT:
                raise codec.malformed("the first packet is not CONNECT")
            pkt = codec.decode(ptype, flags, body)
            assert isinstance(pkt, codec.Connect)
            self._connect(conn, pkt)
            timeout = pkt.keepalive * 1.5 if pkt.keepalive else None
            while not conn.closed:
                ptype, flags, body = await asyncio.wait_for(self._read_packet(conn), timeout)
                pkt2 = codec.decode(ptype, flags, body)
                if isinstance(pkt2, codec.Disconnect):
                    clean = pkt2.reason != 0x04
                    expiry = codec.prop(pkt2.props, codec.SESSION_EXPIRY)
                    if expiry is not None and conn.session is not None:
                        conn.session.expiry_s = expiry
                    break
                self._dispatch(conn, pkt2)
                await writer.drain()
        except MqttProtocolError as err:
            log.warning("minibroker: closing %s: %s", peer, err)
            if conn.session is not None or err.code == 0x84:
                if conn.session is None:  # refused CONNECT
                    conn.send(codec.encode_connack(False, err.code, []))
                else:
                    conn.send(codec.encode_disconnect(err.code, str(err)))
        except TimeoutError:
            log.info("minibroker: %s keepalive expired", peer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except Exception:  # a bug here must not take the broker down
            log.exception("minibroker: closing %s after an internal error", peer)
        finally:
            self._closed(conn, clean)

    # --- connection lifecycle ----------------------------------------------------------

    def _connect(self, conn: Conn, c: codec.Connect) -> None:
        client_id = c.client_id or f"minibroker-{next(self._assigned)}"
        old = self.sessions.get(client_id)
        if old is not None and old.conn is not None:
            # Takeover: the old connection goes, and its will is published.
            prev = old.conn
            prev.send(codec.encode_disconnect(0x8E, "session taken over"))
            self._closed(prev, False)
            old = self.sessions.get(client_id)
        if old is not None and c.clean_start:
            self._end_session(old)
            old = None
        present = old is not None
        session = old or Session(client_id)
        if session.expiry_handle is not None:
            session.expiry_handle.cancel()
            session.expiry_handle = None
        self.sessions[client_id] = session
        session.expiry_s = codec.prop(c.props, codec.SESSION_EXPIRY, 0) or 0
        session.receive_maximum = codec.prop(c.props, codec.RECEIVE_MAXIMUM, 65535) or 65535
        session.conn = conn
        conn.session = session
        conn.will = c.will
        props: Props = [
            (codec.MAXIMUM_QOS, 1),
            (codec.TOPIC_ALIAS_MAXIMUM, 0),
            (codec.RETAIN_AVAILABLE, 1),
            (codec.WILDCARD_AVAILABLE, 1),
            (codec.SUB_ID_AVAILABLE, 0),
            (codec.SHARED_AVAILABLE, 1),
        ]
        if not c.client_id:
            props.append((codec.ASSIGNED_CLIENT_ID, client_id))
        conn.send(codec.encode_connack(present, 0, props))
        log.debug("minibroker: %s connected (session present %s)", client_id, present)
        # Resume: unacknowledged messages again with DUP, then the queue.
        for out in session.inflight.values():
            conn.send(self._encode(out, dup=True))
        self._pump(session)

    def _closed(self, conn: Conn, clean: bool) -> None:
        """The connection is gone: publish the will unless it closed normally,
        and let the session expire (now, or after its interval)."""
        if conn.closed and conn.session is None:
            return
        conn.close()
        session, conn.session = conn.session, None
        will, conn.will = conn.will, None
        if session is None or session.conn is not conn:
            return
        session.conn = None
        if will is not None and not clean:
            self.publish(
                Message(will.topic, will.payload, will.qos, will.retain, _forward(will.props),
                        _expiry(will.props)),
                sender=None,
            )  # fmt: skip
        if session.expiry_s == 0:
            self._end_session(session)
        elif session.expiry_s < 0xFFFFFFFF:
            loop = asyncio.get_running_loop()
            session.expiry_handle = loop.call_later(session.expiry_s, self._end_session, session)

    def _end_session(self, session: Session) -> None:
        """Drop a session; QoS 1 messages it held from shared subscriptions go to
        another member of the group, so none is lost."""
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
        if session.expiry_handle is not None:
            session.expiry_handle.cancel()
        held = list(session.inflight.values()) + list(session.queue)
        session.inflight.clear()
        session.queue.clear()
        session.subs.clear()
        for out in held:
            if out.group is not None and out.qos > 0:
                target = self._pick_member(out.group, out.msg.topic)
                if target is not None:
                    self._deliver(target[0], out.msg, target[1], out.group)

    # --- packets ---------------------------------------------------------------------

    def _dispatch(self, conn: Conn, pkt: codec.Packet) -> None:
        session = conn.session
        assert session is not None
        if isinstance(pkt, Publish):
            self._on_publish(conn, session, pkt)
        elif isinstance(pkt, codec.Ack):
            if pkt.ptype != codec.PUBACK:
                raise MqttProtocolError("QoS 2 is not supported", code=0x9B)
            if session.inflight.pop(pkt.packet_id, None) is not None:
                self._pump(session)
        elif isinstance(pkt, codec.Subscribe):
            self._on_subscribe(conn, session, pkt)
        elif isinstance(pkt, codec.Unsubscribe):
            codes = [0x00 if session.subs.pop(f, None) else 0x11 for f in pkt.filters]
            conn.send(codec.encode_suback(codec.UNSUBACK, pkt.packet_id, codes))
        elif isinstance(pkt, codec.Ping):
            conn.send(codec.PINGRESP_PACKET)
        else:
            raise MqttProtocolError("a second CONNECT", code=0x82)

    def _on_publish(self, conn: Conn, session: Session, p: Publish) -> None:
        if p.qos == 2:
            raise MqttProtocolError("QoS 2 is not supported", code=0x9B)
        if codec.prop(p.props, codec.TOPIC_ALIAS) is not None:
            raise MqttProtocolError("topic aliases are not supported", code=0x94)
        if not codec.valid_topic(p.topic):
            raise MqttProtocolError(f"invalid topic name {p.topic!r}", code=0x90)
        msg = Message(p.topic, p.payload, p.qos, p.retain, _forward(p.props), _expiry(p.props))
        delivered = self.publish(msg, sender=session.client_id)
        if p.qos == 1:
            conn.send(codec.encode_ack(codec.PUBACK, p.packet_id, 0x00 if delivered else 0x10))

    def _on_subscribe(self, conn: Conn, session: Session, s: codec.Subscribe) -> None:
        codes: list[int] = []
        new: list[Subscription] = []
        for full, opts in s.filters:
            try:
                group, f = codec.split_shared(full)
            except MqttProtocolError as err:
                codes.append(err.code)
                continue
            if not codec.valid_filter(f):
                codes.append(0x8F)
                continue
            qos = min(opts & 0x03, 1)
            existed = full in session.subs
            sub = Subscription(f, group, qos, bool(opts & 0x04), bool(opts & 0x08))
            session.subs[full] = sub
            handling = (opts >> 4) & 0x03
            if group is None and (handling == 0 or (handling == 1 and not existed)):
                new.append(sub)
            codes.append(qos)
        conn.send(codec.encode_suback(codec.SUBACK, s.packet_id, codes))
        for sub in new:
            for msg in list(self.retained.values()):
                if codec.matches(sub.filter, msg.topic):
                    self._deliver(session, msg, sub.qos, None, retain=True)

    # --- routing ---------------------------------------------------------------------

    def publish(self, msg: Message, *, sender: str | None) -> bool:
        """Route a message; True when at least one subscriber matched."""
        if msg.retain:
            if msg.payload:
                self.retained[msg.topic] = msg
            else:
                self.retained.pop(msg.topic, None)
        matched = False
        groups: set[tuple[str, str]] = set()
        for session in list(self.sessions.values()):
            best: Subscription | None = None
            for sub in session.subs.values():
                if not codec.matches(sub.filter, msg.topic):
                    continue
                if sub.group is not None:
                    groups.add((sub.group, sub.filter))
                elif not (sub.no_local and session.client_id == sender) and (
                    best is None or sub.qos > best.qos
                ):
                    best = sub
            if best is not None:
                matched = True
                retain = msg.retain and best.retain_as_published
                self._deliver(session, msg, best.qos, None, retain=retain)
        for group, f in sorted(groups):
            target = self._pick_member(group, f, exact=True)
            if target is not None:
                matched = True
                self._deliver(target[0], msg, target[1], group)
        return matched

    def _pick_member(
        self, group: str, topic_or_filter: str, *, exact: bool = False
    ) -> tuple[Session, int] | None:
        """Round robin over the group's members, connected ones first."""
        members: list[tuple[Session, int]] = []
        for session in self.sessions.values():
            for sub in session.subs.values():
                if sub.group != group:
                    continue
                if (
                    (sub.filter == topic_or_filter)
                    if exact
                    else codec.matches(sub.filter, topic_or_filter)
                ):
                    members.append((session, sub.qos))
                    break
        if not members:
            return None
        online = [m for m in members if m[0].conn is not None] or members
        return online[next(self._rr) % len(online)]

    def _deliver(
        self, session: Session, msg: Message, qos: int, group: str | None, *, retain: bool = False
    ) -> None:
        if msg.expires_at is not None and msg.expires_at <= time.monotonic():
            return
        out = Outgoing(msg, min(qos, msg.qos), retain, group)
        if out.qos == 0:
            if session.conn is not None:
                session.conn.send(self._encode(out))
            return
        session.queue.append(out)
        self._pump(session)

    def _pump(self, session: Session) -> None:
        """Send queued QoS 1 messages while the client's Receive Maximum allows."""
        conn = session.conn
        while (
            conn is not None and session.queue and len(session.inflight) < session.receive_maximum
        ):
            out = session.queue.popleft()
            if out.msg.expires_at is not None and out.msg.expires_at <= time.monotonic():
                continue
            out.packet_id = session.next_pid()
            session.inflight[out.packet_id] = out
            conn.send(self._encode(out))

    def _encode(self, out: Outgoing, *, dup: bool = False) -> bytes:
        msg = out.msg
        props = list(msg.props)
        if msg.expires_at is not None:
            left = max(1, int(msg.expires_at - time.monotonic()))
            props.append((codec.MESSAGE_EXPIRY, left))
        return codec.encode_publish(
            Publish(msg.topic, msg.payload, out.qos, out.retain, dup, out.packet_id, props)
        )


def _forward(props: Props) -> Props:
    return [(p, v) for p, v in props if p in codec.FORWARDED]


def _expiry(props: Props) -> float | None:
    seconds = codec.prop(props, codec.MESSAGE_EXPIRY)
    return None if seconds is None else time.monotonic() + seconds


async def serve(port: int, host: str = "127.0.0.1") -> None:
    """Run until cancelled; logs READY once it listens."""
    broker = Broker()
    bound = await broker.start(host, port)
    log.info("minibroker READY on %s:%d (demo only: anonymous, no TLS, in memory)", host, bound)
    try:
        await asyncio.Event().wait()
    finally:
        await broker.stop()
