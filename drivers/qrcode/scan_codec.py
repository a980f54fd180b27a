"""What a QR scanner sends, and the resident ID number in it (pure functions).

Scanners in "USB COM port" (CDC-ACM or USB-serial) mode send each decoded
code as text followed by a terminator, CR by default (Honeywell, Zebra,
Newland and Datalogic manuals all default to CR, several offer CR LF or
LF); some prefix an AIM symbology identifier (``]Q1`` for QR Code, ``]C0``
Code 128, ...) when that option is on. So: split on CR/LF, drop an AIM
prefix, decode UTF-8 (GB 18030 as a fallback for older scanners).

Which codes carry an ID number is the station's choice (``options.patterns``):
regular expressions with a group named ``id``. The defaults accept the bare
18-character number and a ``key=value`` field named ``idno``, ``id_number``,
``sfzh`` (身份证号) or ``zjhm`` (证件号码), as elder service cards and
printed appointment slips carry it. Nothing is trusted: the number found is
still checked with :func:`healthkiosk.idnumber.parse` by the caller, and a
code without one is a :class:`~healthkiosk.errors.IdNumberError` (reason
``not_an_id_code``) that never repeats the code's text (it may be personal).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from healthkiosk.errors import IdNumberError, ProtocolError

MAX_LINE: Final = 4096
"""Longest code accepted (a QR code holds at most 2,953 bytes in binary mode)."""

AIM_PREFIX: Final = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

DEFAULT_PATTERNS: Final = (
    r"^(?P<id>\d{17}[\dXx])$",
    r"(?:^|[?&;,\s|])(?:idno|id_number|idNumber|sfzh|zjhm)[=:](?P<id>\d{17}[\dXx])(?:$|[&;,\s|])",
)


class LineSplitter:
    """Bytes from the scanner → complete lines (terminator removed).

    A line longer than :data:`MAX_LINE` is noise, not a code: it is dropped
    with its tail up to the next terminator, and :attr:`overflows` counts it.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skipping = False
        self.overflows = 0

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        for byte in data:
            if byte in (0x0D, 0x0A):
                if self._skipping:
                    self._skipping = False
                elif self._buf:
                    lines.append(bytes(self._buf))
                self._buf.clear()
                continue
            if self._skipping:
                continue
            if len(self._buf) >= MAX_LINE:
                self._buf.clear()
                self._skipping = True
                self.overflows += 1
                continue
            self._buf.append(byte)
        return lines


def decode_line(raw: bytes) -> str:
    """The code's text: UTF-8, else GB 18030; an AIM identifier removed.

    Control characters (other than tab) are line noise, never part of a code
    a person can show: :class:`ProtocolError`.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise ProtocolError("a scanned code is neither UTF-8 nor GB 18030") from None
    text = text.lstrip("\ufeff").strip()
    if CONTROL.search(text):
        raise ProtocolError("a scanned code holds control characters (line noise)")
    return AIM_PREFIX.sub("", text, count=1)


def compile_patterns(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for p in patterns:
        rx = re.compile(p)
        if "id" not in rx.groupindex:
            raise ValueError(f"pattern {p!r} has no group named 'id'")
        compiled.append(rx)
    return tuple(compiled)


def find_id_number(text: str, patterns: Sequence[re.Pattern[str]]) -> str:
    """The ID number a code carries (upper-case X), unchecked; else IdNumberError."""
    for rx in patterns:
        m = rx.search(text)
        if m:
            return m.group("id").upper()
    raise IdNumberError("this code does not carry an ID number", reason="not_an_id_code")
