"""The MQTT v5 transport: paho-mqtt 2.x driven on the asyncio loop.

The only module that imports paho. One :class:`Connection` is one network
connection (a fresh paho client each time: delivery state lives in our
SQLite outbox, never in the client's memory, and paho's own "resend the
whole queue on reconnect" never happens). paho is driven the way aiomqtt
does it: the socket is watched with ``loop.add_reader``/``add_writer`` and
``loop_misc`` runs every second for keepalive; no paho thread is started and
``wait_for_publish`` is never used. Only the blocking TCP/TLS connect runs in
a worker thread (bounded by its own timeout).

Every acknowledgement's v5 reason code is read: a PUBACK or SUBACK carrying a
failure code (0x87 not authorized, 0x97 quota exceeded, ...) raises
:class:`~healthkiosk.errors.PublishRefusedError` /
:class:`~healthkiosk.errors.SubscribeRefusedError` instead of counting as
sent. Every wait has a timeout that becomes
:class:`~healthkiosk.errors.SyncTimeoutError`; a dropped connection fails
every waiter with :class:`~healthkiosk.errors.ConnectionLostError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from healthkiosk.config import MqttConfig
from healthkiosk.errors import (
    BrokerUnavailableError,
    ConnectionLostError,
    ConnectRefusedError,
    PublishRefusedError,
    SubscribeRefusedError,
    SyncTimeoutError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MISC_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Everything needed to open one connection."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    clean_start: bool = False
    receive_maximum: int = 100
    """How many unacknowledged QoS 1 messages the broker may push at us."""
    connect_timeout_s: float = 10.0
    manual_ack: bool = True
    """Incoming QoS 1 messages are acknowledged by :meth:`Connection.ack`,
    after the caller has committed what they carry."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int


def read_password_file(path: Path) -> str:
    """The first line of a password file, without its newline."""
    return path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""


def _code(rc: ReasonCode | int) -> tuple[int, str]:
    if isinstance(rc, ReasonCode):
        return rc.value, rc.getName()
    return int(rc), str(rc)


def _failed(rc: ReasonCode | int) -> bool:
    return rc.is_failure if isinstance(rc, ReasonCode) else int(rc) >= 0x80


class Connection:
    """One MQTT v5 connection; use :func:`connect` to open it."""

    def __init__(self, settings: MqttSettings, *, will: Will | None = None) -> None:
        self.settings = settings
        self._will = will
        self._loop = asyncio.get_running_loop()
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=settings.manual_ack,
            reconnect_on_failure=False,
        )
        self._client.connect_timeout = settings.connect_timeout_s
        # Our window bounds what is in flight; never let paho hold more back.
        self._client.max_inflight_messages_set(0)
        self._client.max_queued_messages_set(0)
        self._connack: asyncio.Future[bool] = self._loop.create_future()
        self._pubs: dict[int, tuple[str, asyncio.Future[None]]] = {}
        self._subs: dict[int, tuple[list[str], asyncio.Future[list[ReasonCode]]]] = {}
        self._messages: asyncio.Queue[Message | None] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._lost_reason: str | None = None
        self._sock: Any = None
        self._misc_task: asyncio.Task[None] | None = None
        self.session_present = False

    # --- lifecycle -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connack.done() and not self._closed.is_set()

    @property
    def closed(self) -> asyncio.Event:
        """Set once the connection is gone (lost or closed)."""
        return self._closed

    async def open(self) -> None:
        s = self.settings
        c = self._client
        if s.username is not None:
            c.username_pw_set(s.username, s.password)
        if s.tls_ca is not None:
            c.tls_set(
                ca_certs=str(s.tls_ca),
                certfile=str(s.tls_cert) if s.tls_cert else None,
                keyfile=str(s.tls_key) if s.tls_key else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if self._will is not None:
            c.will_set(
                self._will.topic, self._will.payload, qos=self._will.qos, retain=self._will.retain
            )
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = s.session_expiry_s
        props.ReceiveMaximum = s.receive_maximum
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        try:
            # The blocking part (DNS, TCP, TLS handshake, CONNECT written) runs in a
            # worker thread bounded by paho's connect_timeout; nothing else does.
            rc = await asyncio.wait_for(
                asyncio.to_thread(
                    c.connect,
                    s.host,
                    s.port,
                    keepalive=s.keepalive_s,
                    clean_start=s.clean_start,
                    properties=props,
                ),
                timeout=s.connect_timeout_s + 1.0,
            )
        except TimeoutError as err:
            self._teardown("connect timed out")
            raise SyncTimeoutError(f"connecting to {s.host}:{s.port} timed out") from err
        except (OSError, ssl.SSLError) as err:
            self._teardown(str(err))
            raise BrokerUnavailableError(f"cannot connect to {s.host}:{s.port}: {err}") from err
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._teardown(paho.error_string(rc))
            raise BrokerUnavailableError(f"cannot connect: {paho.error_string(rc)}")
        self._attach()
        try:
            self.session_present = await asyncio.wait_for(
                asyncio.shield(self._connack), timeout=s.connect_timeout_s
            )
        except TimeoutError as err:
            self._teardown("no CONNACK")
            raise SyncTimeoutError(f"no CONNACK from {s.host}:{s.port}") from err
        except BaseException:
            self._teardown("connect failed")
            raise

    def _attach(self) -> None:
        c = self._client
        sock = c.socket()
        if sock is None:
            raise ConnectionLostError("the socket closed during connect")
        self._sock = sock
        with contextlib.suppress(OSError, AttributeError):
            # Small packets both ways (PUBACKs, receipts): Nagle would hold them back.
            cast(socket.socket, sock).setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write
        self._loop.add_reader(sock, self._readable)
        if c.want_write():
            self._loop.add_writer(sock, self._writable)
        self._misc_task = self._loop.create_task(self._misc())

    async def close(self, *, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Send DISCONNECT (normal: the broker does not publish the will) and
        release everything. Idempotent."""
        if self._closed.is_set():
            return
        if self._sock is not None and self._connack.done():
            with contextlib.suppress(Exception):
                self._client.disconnect()
                # Give the DISCONNECT a moment to be written.
                deadline = self._loop.time() + timeout
                while self._client.want_write() and self._loop.time() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
        self._teardown("closed by us")

    async def abort(self) -> None:
        """Drop the socket without DISCONNECT: the broker publishes the will."""
        self._teardown("aborted")

    def _teardown(self, reason: str) -> None:
        if self._lost_reason is None:
            self._lost_reason = reason
        sock = self._sock
        self._sock = None
        if sock is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(sock)
            with contextlib.suppress(Exception):
                self._loop.remove_writer(sock)
        c = self._client
        c.on_socket_close = None
        c.on_socket_register_write = None
        c.on_socket_unregister_write = None
        with contextlib.suppress(Exception):
            c._sock_close()
        if self._misc_task is not None and self._misc_task is not asyncio.current_task():
            self._misc_task.cancel()
        err = ConnectionLostError(f"connection lost: {self._lost_reason}")
        if not self._connack.done():
            self._connack.set_exception(err)
            self._connack.exception()  # mark retrieved
        for _topic, fut in self._pubs.values():
            if not fut.done():
                fut.set_exception(err)
                fut.exception()
        self._pubs.clear()
        for _topics, sfut in self._subs.values():
            if not sfut.done():
                sfut.set_exception(err)
                sfut.exception()
        self._subs.clear()
        if not self._closed.is_set():
            self._closed.set()
            self._messages.put_nowait(None)

    # --- the loop's side of paho --------------------------------------------------

    def _readable(self) -> None:
        rc = self._client.loop_read()
        if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
            self._teardown(paho.error_string(rc))
            return
        sock = self._sock
        # TLS may hold decrypted bytes the selector cannot see.
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            self._loop.call_soon(self._readable)

    def _writable(self) -> None:
        rc = self._client.loop_write()
        if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
            self._teardown(paho.error_string(rc))

    async def _misc(self) -> None:
        while not self._closed.is_set():
            await asyncio.sleep(MISC_INTERVAL_S)
            rc = self._client.loop_misc()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._teardown(f"keepalive: {paho.error_string(rc)}")
                return

    def _on_register_write(self, _c: Any, _u: Any, sock: Any) -> None:
        if self._sock is not None:
            self._loop.add_writer(sock, self._writable)

    def _on_unregister_write(self, _c: Any, _u: Any, sock: Any) -> None:
        if self._sock is not None:
            self._loop.remove_writer(sock)

    def _on_socket_close(self, _c: Any, _u: Any, _sock: Any) -> None:
        self._loop.call_soon(self._teardown, "socket closed")

    # --- paho callbacks (all on the loop's thread) ---------------------------------

    def _on_connect(
        self, _c: Any, _u: Any, flags: Any, rc: ReasonCode, _props: Properties | None
    ) -> None:
        if self._connack.done():
            return
        if _failed(rc):
            value, name = _code(rc)
            self._connack.set_exception(
                ConnectRefusedError(
                    f"broker refused the connection: {name} ({value:#04x})",
                    reason_code=value,
                    reason_name=name,
                )
            )
        else:
            self._connack.set_result(bool(getattr(flags, "session_present", False)))

    def _on_disconnect(
        self, _c: Any, _u: Any, _flags: Any, rc: ReasonCode, _props: Properties | None
    ) -> None:
        _value, name = _code(rc)
        self._loop.call_soon(self._teardown, f"disconnected: {name}")

    def _on_publish(
        self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _props: Properties | None
    ) -> None:
        entry = self._pubs.pop(mid, None)
        if entry is None:
            return
        topic, fut = entry
        if fut.done():
            return
        if _failed(rc):
            value, name = _code(rc)
            fut.set_exception(
                PublishRefusedError(
                    f"broker refused the publish to {topic}: {name} ({value:#04x})",
                    topic=topic,
                    reason_code=value,
                    reason_name=name,
                )
            )
        else:
            fut.set_result(None)

    def _on_subscribe(
        self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _props: Properties | None
    ) -> None:
        entry = self._subs.pop(mid, None)
        if entry is not None and not entry[1].done():
            entry[1].set_result(list(rcs))

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        self._messages.put_nowait(
            Message(
                topic=msg.topic,
                payload=bytes(msg.payload),
                qos=msg.qos,
                retain=bool(msg.retain),
                mid=msg.mid,
            )
        )

    # --- public operations ----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed.is_set() or not self._connack.done():
            raise ConnectionLostError(f"not connected ({self._lost_reason or 'connecting'})")

    def start_publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[None]:
        """Queue a publish; the future completes on PUBACK (QoS 1) or raises
        :class:`PublishRefusedError` / :class:`ConnectionLostError`."""
        self._check_open()
        fut: asyncio.Future[None] = self._loop.create_future()
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionLostError(f"publish failed: {paho.error_string(info.rc)}")
        if qos == 0:
            fut.set_result(None)
        else:
            self._pubs[info.mid] = (topic, fut)
        return fut

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        fut = self.start_publish(topic, payload, qos=qos, retain=retain)
        await wait(fut, timeout=timeout, what=f"PUBACK for {topic}")

    async def subscribe(self, topics: list[tuple[str, int]], *, timeout: float) -> None:  # noqa: ASYNC109
        """Subscribe; any failure reason code in the SUBACK raises
        :class:`SubscribeRefusedError`."""
        self._check_open()
        fut: asyncio.Future[list[ReasonCode]] = self._loop.create_future()
        rc, mid = self._client.subscribe(topics)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionLostError(f"subscribe failed: {paho.error_string(rc)}")
        names = [t for t, _q in topics]
        self._subs[mid] = (names, fut)
        try:
            codes = await wait(fut, timeout=timeout, what="SUBACK")
        finally:
            self._subs.pop(mid, None)
        for name, code in zip(names, codes, strict=False):
            if _failed(code):
                value, cname = _code(code)
                raise SubscribeRefusedError(
                    f"broker refused the subscription to {name}: {cname} ({value:#04x})",
                    topic=name,
                    reason_code=value,
                    reason_name=cname,
                )

    def ack(self, message: Message) -> None:
        """Acknowledge an incoming QoS 1 message (manual-ack mode)."""
        if message.qos > 0 and not self._closed.is_set():
            self._client.ack(message.mid, message.qos)

    async def messages(self) -> AsyncIterator[Message]:
        """Incoming messages until the connection is gone (then
        :class:`ConnectionLostError`)."""
        while True:
            msg = await self._messages.get()
            if msg is None:
                self._messages.put_nowait(None)
                raise ConnectionLostError(f"connection lost: {self._lost_reason}")
            yield msg

    def drain(self, limit: int) -> list[Message]:
        """Messages already received, without waiting (at most ``limit``)."""
        out: list[Message] = []
        while len(out) < limit and not self._messages.empty():
            msg = self._messages.get_nowait()
            if msg is None:
                self._messages.put_nowait(None)
                break
            out.append(msg)
        return out

    async def next_message(self, *, timeout: float) -> Message:  # noqa: ASYNC109
        msg = await wait(self._messages.get(), timeout=timeout, what="a message")
        if msg is None:
            self._messages.put_nowait(None)
            raise ConnectionLostError(f"connection lost: {self._lost_reason}")
        return msg


async def wait(aw: Awaitable[T], *, timeout: float, what: str) -> T:  # noqa: ASYNC109
    """Await with a timeout that becomes :class:`SyncTimeoutError`."""
    try:
        result: T = await asyncio.wait_for(aw, timeout=timeout)
    except TimeoutError as err:
        raise SyncTimeoutError(f"no {what} within {timeout:g} s") from err
    return result


@contextlib.asynccontextmanager
async def connect(settings: MqttSettings, *, will: Will | None = None) -> AsyncIterator[Connection]:
    """Open a connection; on leaving, DISCONNECT cleanly (the will is not sent)."""
    conn = Connection(settings, will=will)
    await conn.open()
    try:
        yield conn
    finally:
        await asyncio.shield(conn.close())


def settings_from(m: MqttConfig, *, client_id: str, receive_maximum: int = 20) -> MqttSettings:
    password = m.password
    if password is None and m.password_file is not None:
        password = read_password_file(m.password_file.expanduser())
    return MqttSettings(
        host=m.host,
        port=m.port,
        client_id=client_id,
        username=m.username,
        password=password,
        tls_ca=m.tls_ca,
        tls_cert=m.tls_cert,
        tls_key=m.tls_key,
        keepalive_s=m.keepalive_s,
        session_expiry_s=m.session_expiry_s,
        clean_start=False,
        receive_maximum=receive_maximum,
    )


class Backoff:
    """Exponential back-off with full jitter between ``low`` and ``high``."""

    def __init__(self, low: float, high: float, rng: random.Random | None = None) -> None:
        self.low, self.high = low, max(low, high)
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        cap = min(self.high, self.low * (2**self.attempt))
        self.attempt += 1
        return self._rng.uniform(self.low / 2, cap)

    def reset(self) -> None:
        self.attempt = 0
