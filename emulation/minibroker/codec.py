"""MQTT v5 packet encoding and decoding: pure functions, no I/O.

Only what the embedded demo broker needs: CONNECT, PUBLISH, PUBACK,
SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT in; CONNACK, PUBLISH, PUBACK,
SUBACK, UNSUBACK, PINGRESP, DISCONNECT out. Anything malformed raises
:class:`~healthkiosk.errors.MqttProtocolError` carrying the reason code to
answer with.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from healthkiosk.errors import MqttProtocolError

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = (
    8, 9, 10, 11, 12, 13, 14, 15,
)  # fmt: skip

PropValue = int | str | bytes | tuple[str, str]
Props = list[tuple[int, PropValue]]

# Property identifier -> wire type.
_BYTE, _INT2, _INT4, _VARINT, _STR, _BIN, _PAIR = range(7)
PROP_TYPES: dict[int, int] = {
    0x01: _BYTE, 0x02: _INT4, 0x03: _STR, 0x08: _STR, 0x09: _BIN, 0x0B: _VARINT,
    0x11: _INT4, 0x12: _STR, 0x13: _INT2, 0x15: _STR, 0x16: _BIN, 0x17: _BYTE,
    0x18: _INT4, 0x19: _BYTE, 0x1A: _STR, 0x1C: _STR, 0x1F: _STR, 0x21: _INT2,
    0x22: _INT2, 0x23: _INT2, 0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _INT4,
    0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}  # fmt: skip
PAYLOAD_FORMAT, MESSAGE_EXPIRY, CONTENT_TYPE, RESPONSE_TOPIC, CORRELATION_DATA = (
    0x01, 0x02, 0x03, 0x08, 0x09,
)  # fmt: skip
SUBSCRIPTION_ID, SESSION_EXPIRY, ASSIGNED_CLIENT_ID, REASON_STRING = 0x0B, 0x11, 0x12, 0x1F
RECEIVE_MAXIMUM, TOPIC_ALIAS_MAXIMUM, TOPIC_ALIAS, MAXIMUM_QOS = 0x21, 0x22, 0x23, 0x24
RETAIN_AVAILABLE, USER_PROPERTY, MAXIMUM_PACKET_SIZE = 0x25, 0x26, 0x27
WILDCARD_AVAILABLE, SUB_ID_AVAILABLE, SHARED_AVAILABLE = 0x28, 0x29, 0x2A
# What a PUBLISH (or a will) carries through to subscribers unchanged.
FORWARDED = frozenset(
    {PAYLOAD_FORMAT, CONTENT_TYPE, RESPONSE_TOPIC, CORRELATION_DATA, USER_PROPERTY}
)


def malformed(what: str) -> MqttProtocolError:
    return MqttProtocolError(f"malformed packet: {what}", code=0x81)


# --- primitives ---------------------------------------------------------------------


def encode_varint(n: int) -> bytes:
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"variable byte integer out of range: {n}")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_str(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("!H", len(raw)) + raw


def encode_bin(b: bytes) -> bytes:
    return struct.pack("!H", len(b)) + b


class Reader:
    """A cursor over one packet's bytes; every read checks the length."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise malformed("packet shorter than its fields")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def int2(self) -> int:
        return int(struct.unpack("!H", self.take(2))[0])

    def int4(self) -> int:
        return int(struct.unpack("!I", self.take(4))[0])

    def varint(self) -> int:
        value, shift = 0, 0
        for _ in range(4):
            b = self.byte()
            value += (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
        raise malformed("variable byte integer longer than 4 bytes")

    def bin(self) -> bytes:
        return self.take(self.int2())

    def str(self) -> str:
        raw = self.bin()
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise malformed("string is not UTF-8") from err
        if "\x00" in s:
            raise malformed("string contains U+0000")
        return s

    def props(self) -> Props:
        sub = Reader(self.take(self.varint()))
        out: Props = []
        while sub.left():
            pid = sub.varint()
            kind = PROP_TYPES.get(pid)
            if kind is None:
                raise malformed(f"unknown property {pid:#04x}")
            value: PropValue
            if kind == _BYTE:
                value = sub.byte()
            elif kind == _INT2:
                value = sub.int2()
            elif kind == _INT4:
                value = sub.int4()
            elif kind == _VARINT:
                value = sub.varint()
            elif kind == _STR:
                value = sub.str()
            elif kind == _BIN:
                value = sub.bin()
            else:
                value = (sub.str(), sub.str())
            out.append((pid, value))
        return out


def encode_props(props: Props) -> bytes:
    body = bytearray()
    for pid, value in props:
        kind = PROP_TYPES[pid]
        body += encode_varint(pid)
        if kind == _BYTE and isinstance(value, int):
            body.append(value)
        elif kind == _INT2 and isinstance(value, int):
            body += struct.pack("!H", value)
        elif kind == _INT4 and isinstance(value, int):
            body += struct.pack("!I", value)
        elif kind == _VARINT and isinstance(value, int):
            body += encode_varint(value)
        elif kind == _STR and isinstance(value, str):
            body += encode_str(value)
        elif kind == _BIN and isinstance(value, bytes):
            body += encode_bin(value)
        elif kind == _PAIR and isinstance(value, tuple):
            body += encode_str(value[0]) + encode_str(value[1])
        else:
            raise ValueError(f"property {pid:#04x} has the wrong type: {value!r}")
    return encode_varint(len(body)) + bytes(body)


def prop(props: Props, pid: int, default: int | None = None) -> int | None:
    """The integer value of a property, or ``default``."""
    for p, v in props:
        if p == pid and isinstance(v, int):
            return v
    return default


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([(ptype << 4) | flags]) + encode_varint(len(body)) + body


# --- packets ----------------------------------------------------------------------


@dataclass(slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    props: Props = field(default_factory=list)


@dataclass(slots=True)
class Connect:
    client_id: str
    clean_start: bool
    keepalive: int
    props: Props
    will: Will | None
    username: str | None
    password: bytes | None


@dataclass(slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool = False
    packet_id: int = 0
    props: Props = field(default_factory=list)


@dataclass(slots=True)
class Subscribe:
    packet_id: int
    filters: list[tuple[str, int]]
    """(filter, options byte): QoS bits 0-1, no local 2, retain as published 3,
    retain handling 4-5."""
    props: Props


@dataclass(slots=True)
class Unsubscribe:
    packet_id: int
    filters: list[str]


@dataclass(slots=True)
class Ack:
    """PUBACK (and the other acknowledgements with a packet id)."""

    ptype: int
    packet_id: int
    reason: int = 0


@dataclass(slots=True)
class Disconnect:
    reason: int
    props: Props


@dataclass(slots=True)
class Ping:
    pass


Packet = Connect | Publish | Subscribe | Unsubscribe | Ack | Disconnect | Ping


def decode_connect(r: Reader) -> Connect:
    name = r.str()
    level = r.byte()
    if name != "MQTT" or level != 5:
        raise MqttProtocolError(
            f"only MQTT v5 is supported (got {name!r} level {level})", code=0x84
        )
    flags = r.byte()
    if flags & 0x01:
        raise malformed("reserved CONNECT flag set")
    keepalive = r.int2()
    props = r.props()
    client_id = r.str()
    will = None
    if flags & 0x04:
        wprops = r.props()
        wtopic = r.str()
        wpayload = r.bin()
        wqos = (flags >> 3) & 0x03
        if wqos > 2:
            raise malformed("will QoS 3")
        will = Will(wtopic, wpayload, min(wqos, 1), bool(flags & 0x20), wprops)
    elif flags & 0x38:
        raise malformed("will QoS/retain set without a will")
    username = r.str() if flags & 0x80 else None
    password = r.bin() if flags & 0x40 else None
    return Connect(client_id, bool(flags & 0x02), keepalive, props, will, username, password)


def decode(ptype: int, flags: int, body: bytes) -> Packet:
    """One packet from its fixed-header first byte's halves and its body."""
    r = Reader(body)
    pkt: Packet
    if ptype == CONNECT:
        pkt = decode_connect(r)
    elif ptype == PUBLISH:
        qos = (flags >> 1) & 0x03
        if qos == 3:
            raise malformed("PUBLISH QoS 3")
        topic = r.str()
        pid = r.int2() if qos else 0
        if qos and pid == 0:
            raise malformed("PUBLISH packet id 0")
        props = r.props()
        pkt = Publish(topic, r.take(r.left()), qos, bool(flags & 1), bool(flags & 8), pid, props)
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        pid = r.int2()
        reason = r.byte() if r.left() else 0
        if r.left():
            r.props()
        pkt = Ack(ptype, pid, reason)
    elif ptype == SUBSCRIBE:
        if flags != 2:
            raise malformed("SUBSCRIBE flags must be 0010")
        pid = r.int2()
        props = r.props()
        subs: list[tuple[str, int]] = []
        while r.left():
            f = r.str()
            opts = r.byte()
            if opts & 0xC0 or opts & 0x03 == 3 or (opts >> 4) & 0x03 == 3:
                raise malformed("bad subscription options")
            subs.append((f, opts))
        if not subs:
            raise MqttProtocolError("SUBSCRIBE without a topic filter", code=0x82)
        pkt = Subscribe(pid, subs, props)
    elif ptype == UNSUBSCRIBE:
        if flags != 2:
            raise malformed("UNSUBSCRIBE flags must be 0010")
        pid = r.int2()
        r.props()
        names: list[str] = []
        while r.left():
            names.append(r.str())
        if not names:
            raise MqttProtocolError("UNSUBSCRIBE without a topic filter", code=0x82)
        pkt = Unsubscribe(pid, names)
    elif ptype == PINGREQ:
        pkt = Ping()
    elif ptype == DISCONNECT:
        reason = r.byte() if r.left() else 0
        pkt = Disconnect(reason, r.props() if r.left() else [])
    else:
        raise MqttProtocolError(f"unexpected packet type {ptype}", code=0x82)
    if r.left():
        raise malformed(f"{r.left()} bytes after the end of packet type {ptype}")
    return pkt


def encode_connack(session_present: bool, reason: int, props: Props) -> bytes:
    return packet(CONNACK, 0, bytes([int(session_present), reason]) + encode_props(props))


def encode_publish(p: Publish) -> bytes:
    flags = (8 if p.dup else 0) | (p.qos << 1) | int(p.retain)
    body = encode_str(p.topic)
    if p.qos:
        body += struct.pack("!H", p.packet_id)
    return packet(PUBLISH, flags, body + encode_props(p.props) + p.payload)


def encode_ack(ptype: int, packet_id: int, reason: int = 0) -> bytes:
    body = struct.pack("!H", packet_id)
    if reason:
        body += bytes([reason])
    return packet(ptype, 2 if ptype == PUBREL else 0, body)


def encode_suback(ptype: int, packet_id: int, reasons: list[int]) -> bytes:
    """SUBACK or UNSUBACK."""
    return packet(ptype, 0, struct.pack("!H", packet_id) + encode_props([]) + bytes(reasons))


def encode_disconnect(reason: int, message: str | None = None) -> bytes:
    props: Props = [(REASON_STRING, message)] if message else []
    return packet(DISCONNECT, 0, bytes([reason]) + encode_props(props))


PINGRESP_PACKET = packet(PINGRESP, 0, b"")


# --- topics -------------------------------------------------------------------------


def valid_topic(topic: str) -> bool:
    return bool(topic) and "+" not in topic and "#" not in topic


def valid_filter(f: str) -> bool:
    if not f:
        return False
    levels = f.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def split_shared(f: str) -> tuple[str | None, str]:
    """``$share/<group>/<filter>`` -> (group, filter); others -> (None, f)."""
    if not f.startswith("$share/"):
        return None, f
    parts = f.split("/", 2)
    if len(parts) < 3 or not parts[1] or "+" in parts[1] or "#" in parts[1] or not parts[2]:
        raise MqttProtocolError(f"bad shared subscription {f!r}", code=0x8F)
    return parts[1], parts[2]


def matches(f: str, topic: str) -> bool:
    """Does the filter match the topic? Wildcards at the first level never
    match topics starting with ``$``."""
    if topic.startswith("$") and f[:1] in ("+", "#"):
        return False
    fl, tl = f.split("/"), topic.split("/")
    for i, level in enumerate(fl):
        if level == "#":
            return True
        if i >= len(tl) or (level != "+" and level != tl[i]):
            return False
    return len(fl) == len(tl)
