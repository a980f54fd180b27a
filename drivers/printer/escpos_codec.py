"""The ESC/POS a receipt printer is sent, and what it answers (pure functions).

A slip is printed as one raster image at the paper's full width, never as
text: the printer's own Chinese fonts cover GB 2312 at best and print rare
name characters as blanks, and its Chinese mode is per-model state (see
docs/protocols/escpos-printer.md). A job is exactly::

    ESC @                       1B 40            initialise
    GS v 0 m xL xH yL yH d...   1D 76 30 ...     raster band (repeated, <= band_rows rows each)
    ESC d n                     1B 64 n          feed n lines (the slip clears the tear bar)
    GS V 1                      1D 56 01         partial cut (when the printer has a cutter)

``GS v 0``: ``m`` is the scale (bit 0 doubles the width, bit 1 the height;
48–51 mean the same as 0–3), ``X = xL + 256·xH`` the bytes per row (8 dots
each), ``Y = yL + 256·yH`` the rows, then ``X·Y`` bytes, row after row, the
most significant bit the leftmost dot, 1 = a black dot. Consecutive bands
stack with no gap. This is also exactly PBM P4's raster, which is how
:mod:`drivers.printer.pillow` turns it into an image.

Status is asked with ``DLE EOT n`` (10 04 n) and answered with one byte
(Epson's real-time status: ``n`` = 1 printer, 2 offline cause, 4 roll paper);
fixed bits 1 and 4 are set in every answer, bit 0 and bit 7 clear.

:func:`parse` is strict: it knows the commands above plus ``ESC a n`` and
``LF`` and fails on any other byte, so a test sees exactly what a printer
would have been sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from healthkiosk.errors import ProtocolError

ESC: Final = 0x1B
GS: Final = 0x1D
DLE: Final = 0x10
EOT: Final = 0x04
LF: Final = 0x0A

INIT: Final = b"\x1b@"
MAX_ROWS: Final = 2303
"""The most rows one ``GS v 0`` may carry (Epson: 1 <= Y <= 2303)."""
MAX_WIDTH_BYTES: Final = 255
LINE_DOTS: Final = 30
"""Dots one line feed advances the paper (the power-on line spacing of most
203-dpi printers, about 1/6 inch)."""


# --- the image -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raster:
    """A 1-bit image in ``GS v 0`` order: ``height`` rows of ``width_bytes``
    bytes, the most significant bit the leftmost dot, 1 = black."""

    width_bytes: int
    height: int
    data: bytes

    def __post_init__(self) -> None:
        if self.width_bytes < 1 or self.height < 0:
            raise ValueError(f"a raster of {self.width_bytes} bytes x {self.height} rows")
        if len(self.data) != self.width_bytes * self.height:
            raise ValueError(
                f"{len(self.data)} bytes for {self.width_bytes} x {self.height} (expected "
                f"{self.width_bytes * self.height})"
            )

    @property
    def width(self) -> int:
        """Width in dots."""
        return self.width_bytes * 8

    def row(self, y: int) -> bytes:
        return self.data[y * self.width_bytes : (y + 1) * self.width_bytes]

    def rows(self, start: int, stop: int) -> Raster:
        stop = min(stop, self.height)
        return Raster(
            self.width_bytes,
            stop - start,
            self.data[start * self.width_bytes : stop * self.width_bytes],
        )

    def black_dots(self) -> int:
        return sum(bin(b).count("1") for b in self.data)

    @classmethod
    def blank(cls, width_bytes: int, height: int) -> Raster:
        return cls(width_bytes, height, bytes(width_bytes * height))

    def padded(self, width_bytes: int) -> Raster:
        """The same image on paper ``width_bytes`` wide (white added at the right)."""
        if width_bytes == self.width_bytes:
            return self
        if width_bytes < self.width_bytes:
            raise ValueError("cannot pad to a narrower width")
        pad = bytes(width_bytes - self.width_bytes)
        data = b"".join(self.row(y) + pad for y in range(self.height))
        return Raster(width_bytes, self.height, data)


def stack(parts: list[Raster], *, width_bytes: int | None = None) -> Raster:
    """Rasters one under the other (narrower ones padded white at the right)."""
    wide = max([width_bytes or 1, *(p.width_bytes for p in parts)])
    data = b"".join(p.padded(wide).data for p in parts)
    return Raster(wide, sum(p.height for p in parts), data)


# --- commands --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Init:
    """``ESC @``."""


@dataclass(frozen=True, slots=True)
class Justify:
    """``ESC a n``: 0 left, 1 centre, 2 right."""

    n: int


@dataclass(frozen=True, slots=True)
class Feed:
    """``ESC d n`` (``n`` lines) or a bare ``LF`` (one line)."""

    lines: int


@dataclass(frozen=True, slots=True)
class Cut:
    """``GS V m`` (0/48 full, 1/49 partial) or ``GS V 65/66 n`` (feed ``n`` dots, then cut)."""

    partial: bool
    feed_dots: int = 0


@dataclass(frozen=True, slots=True)
class RasterBand:
    """``GS v 0``."""

    scale: int
    raster: Raster


@dataclass(frozen=True, slots=True)
class StatusQuery:
    """``DLE EOT n``."""

    n: int


Command = Init | Justify | Feed | Cut | RasterBand | StatusQuery


# --- encoding ----------------------------------------------------------------------


def status_query(n: int) -> bytes:
    """``DLE EOT n`` (1 printer status, 2 offline cause, 4 roll paper)."""
    if n not in (1, 2, 3, 4):
        raise ValueError(f"DLE EOT {n}: only 1-4")
    return bytes((DLE, EOT, n))


def raster_band(raster: Raster, *, scale: int = 0) -> bytes:
    """One ``GS v 0`` command carrying all of ``raster``."""
    if not 0 <= scale <= 3:
        raise ValueError(f"scale {scale}: 0-3")
    if not 1 <= raster.height <= MAX_ROWS:
        raise ValueError(f"{raster.height} rows: one band carries 1-{MAX_ROWS}")
    if raster.width_bytes > MAX_WIDTH_BYTES:
        raise ValueError(f"{raster.width_bytes} bytes per row: at most {MAX_WIDTH_BYTES}")
    x, y = raster.width_bytes, raster.height
    return bytes((GS, 0x76, 0x30, scale, x & 0xFF, x >> 8, y & 0xFF, y >> 8)) + raster.data


def encode_job(
    raster: Raster, *, band_rows: int = 256, feed_lines: int = 4, cut: bool = True
) -> bytes:
    """The whole print job for ``raster`` (see the module's docstring)."""
    if not 1 <= band_rows <= MAX_ROWS:
        raise ValueError(f"band_rows {band_rows}: 1-{MAX_ROWS}")
    if not 0 <= feed_lines <= 255:
        raise ValueError(f"feed_lines {feed_lines}: 0-255")
    out = bytearray(INIT)
    for start in range(0, raster.height, band_rows):
        out += raster_band(raster.rows(start, start + band_rows))
    if feed_lines:
        out += bytes((ESC, 0x64, feed_lines))
    if cut:
        out += bytes((GS, 0x56, 0x01))
    return bytes(out)


def job_chunks(job: bytes, size: int) -> list[bytes]:
    """The job in pieces of ``size`` bytes (written one by one, so a printer
    pulled out is noticed at once and the progress is known)."""
    return [job[i : i + size] for i in range(0, len(job), size)]


# --- decoding (the emulated printer, the tests) -------------------------------------


def next_command(buf: bytes | bytearray, start: int = 0) -> tuple[Command | None, int]:
    """The command at ``buf[start:]`` and where the next one starts; ``(None,
    start)`` when it is not complete yet. Any byte that does not begin a known
    command is a :class:`ProtocolError` (``raw``: up to 16 bytes from it)."""
    n = len(buf)
    if start >= n:
        return None, start
    b0 = buf[start]

    def need(count: int) -> bool:
        return start + count <= n

    def bad(why: str) -> ProtocolError:
        return ProtocolError(
            f"{why} at byte {start}", raw=bytes(buf[start : start + 16]), reason="unknown_command"
        )

    if b0 == LF:
        return Feed(1), start + 1
    if b0 == ESC:
        if not need(2):
            return None, start
        b1 = buf[start + 1]
        if b1 == 0x40:
            return Init(), start + 2
        if b1 in (0x61, 0x64):
            if not need(3):
                return None, start
            arg = buf[start + 2]
            if b1 == 0x61:
                if arg not in (0, 1, 2, 48, 49, 50):
                    raise bad(f"ESC a {arg}")
                return Justify(arg % 48), start + 3
            return Feed(arg), start + 3
        raise bad(f"ESC {b1:#04x}")
    if b0 == GS:
        if not need(2):
            return None, start
        b1 = buf[start + 1]
        if b1 == 0x56:
            if not need(3):
                return None, start
            m = buf[start + 2]
            if m in (0, 48, 1, 49):
                return Cut(partial=m in (1, 49)), start + 3
            if m in (65, 66):
                if not need(4):
                    return None, start
                return Cut(partial=m == 66, feed_dots=buf[start + 3]), start + 4
            raise bad(f"GS V {m}")
        if b1 == 0x76:
            if not need(3):
                return None, start
            if buf[start + 2] != 0x30:
                raise bad(f"GS v {buf[start + 2]:#04x}")
            if need(4) and buf[start + 3] not in (0, 1, 2, 3, 48, 49, 50, 51):
                raise bad(f"GS v 0 with m={buf[start + 3]}")
            if not need(8):
                return None, start
            m, xl, xh, yl, yh = buf[start + 3 : start + 8]
            x, y = xl + 256 * xh, yl + 256 * yh
            if x == 0 or y == 0 or y > MAX_ROWS:
                raise bad(f"GS v 0 of {x} bytes x {y} rows")
            end = start + 8 + x * y
            if end > n:
                return None, start
            band = RasterBand(m % 48, Raster(x, y, bytes(buf[start + 8 : end])))
            return band, end
        raise bad(f"GS {b1:#04x}")
    if b0 == DLE:
        if not need(3):
            return None, start
        if buf[start + 1] != EOT or buf[start + 2] not in (1, 2, 3, 4):
            raise bad(f"DLE {buf[start + 1]:#04x} {buf[start + 2]:#04x}")
        return StatusQuery(buf[start + 2]), start + 3
    raise bad(f"byte {b0:#04x}")


def parse(data: bytes) -> list[Command]:
    """Every command in ``data``; a truncated last command is a :class:`ProtocolError`."""
    out: list[Command] = []
    pos = 0
    while pos < len(data):
        cmd, end = next_command(data, pos)
        if cmd is None:
            raise ProtocolError(
                f"the stream ends inside a command at byte {pos}",
                raw=data[pos : pos + 16],
                reason="truncated",
            )
        out.append(cmd)
        pos = end
    return out


_DOUBLE = [int("".join(c * 2 for c in f"{b:08b}"), 2).to_bytes(2, "big") for b in range(256)]


def scaled(band: RasterBand) -> Raster:
    """A band as printed: doubled across (scale bit 0) and/or down (bit 1)."""
    r = band.raster
    rows = [r.row(y) for y in range(r.height)]
    width = r.width_bytes
    if band.scale & 1:
        rows = [b"".join(_DOUBLE[b] for b in row) for row in rows]
        width *= 2
    if band.scale & 2:
        rows = [row for row in rows for _ in (0, 1)]
    return Raster(width, len(rows), b"".join(rows))


def image_of(commands: list[Command]) -> Raster:
    """The raster bands of ``commands`` stacked as the printer prints them
    (feeds and cuts not included)."""
    bands = [scaled(c) for c in commands if isinstance(c, RasterBand)]
    if not bands:
        raise ValueError("no raster image in the commands")
    return stack(bands)


def decode(data: bytes) -> Raster:
    """The image a job prints (:func:`parse`, then :func:`image_of`)."""
    return image_of(parse(data))


# --- status --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What ``DLE EOT 1``, ``2`` and ``4`` said (None: not asked)."""

    online: bool
    cover_open: bool | None = None
    paper_end: bool | None = None
    paper_near_end: bool | None = None
    error: bool | None = None


def check_status_byte(n: int, value: int) -> None:
    """A status answer has bits 1 and 4 set and bits 0 and 7 clear."""
    if value & 0x93 != 0x12:
        raise ProtocolError(
            f"not a DLE EOT {n} status byte: {value:#04x}",
            raw=bytes((value,)),
            reason="bad_status",
        )


def printer_offline(value: int) -> bool:
    """``DLE EOT 1``: bit 3 set = offline."""
    check_status_byte(1, value)
    return bool(value & 0x08)


def offline_cause(value: int) -> tuple[bool, bool, bool]:
    """``DLE EOT 2``: (cover open: bit 2, paper end stopped printing: bit 5, error: bit 6)."""
    check_status_byte(2, value)
    return bool(value & 0x04), bool(value & 0x20), bool(value & 0x40)


def paper_sensor(value: int) -> tuple[bool, bool]:
    """``DLE EOT 4``: (paper end: bits 5-6, near end: bits 2-3)."""
    check_status_byte(4, value)
    return bool(value & 0x60), bool(value & 0x0C)


def status_byte(
    n: int,
    *,
    offline: bool = False,
    cover_open: bool = False,
    paper_end: bool = False,
    near_end: bool = False,
    error: bool = False,
) -> int:
    """The byte a printer answers ``DLE EOT n`` with (the emulated printer)."""
    value = 0x12
    if n == 1 and offline:
        value |= 0x08
    if n == 2:
        value |= (0x04 if cover_open else 0) | (0x20 if paper_end else 0) | (0x40 if error else 0)
    if n == 4:
        value |= (0x60 if paper_end else 0) | (0x0C if near_end else 0)
    return value
