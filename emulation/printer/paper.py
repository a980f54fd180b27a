"""The emulated receipt printer itself, whatever its cable: bytes in, status
answers out, and the paper it prints as images.

It reads exactly the ESC/POS the drivers send (``ESC @``, ``GS v 0``,
``ESC d``, ``LF``, ``ESC a``, ``GS V``, ``DLE EOT``), with the strict parser
of :mod:`drivers.printer.escpos_codec`, and fails loudly (:attr:`errors`) on
anything else. Its paper is :attr:`PrinterTwinOptions.dot_width` dots wide:
what a band carries beyond that is lost, as on a printer; a feed is
:data:`~drivers.printer.escpos_codec.LINE_DOTS` white rows per line; a cut
ends a slip (:attr:`EmulatedPrinter.slips`), which is written as a PNG
(``slip-0001.png``...) into ``out_dir`` when one is set — the slip as the
printer would have printed it, at its dot width.

Faults (``options.emulator``): ``no_paper``, ``paper_out`` (the roll ends
after ``paper_rows`` rows, 200 by default), ``cover_open``, ``offline``,
``silent`` (no status answers), ``drop_print`` (the cable is pulled out
after ``drop_after_bytes`` of a slip: the transport's twin acts on
:meth:`EmulatedPrinter.should_drop`). Without paper, with the cover open or
offline, nothing is printed (the bytes are read and dropped).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field

from drivers.printer import escpos_codec as codec
from drivers.printer.escpos_codec import Raster
from emulation.serial.device import EmulatorOptions, Fault
from healthkiosk.errors import ProtocolError

log = logging.getLogger(__name__)

PAPER_OUT_ROWS = 200
"""Rows left on the roll under the ``paper_out`` fault (unless ``paper_rows`` says)."""


class PrinterTwinOptions(EmulatorOptions):
    """``options.emulator`` of a printer (beside the faults every twin knows)."""

    out_dir: Path | None = None
    """Write each printed slip here as ``slip-NNNN.png``."""
    paper_rows: int | None = Field(default=None, ge=0)
    """Rows of paper left on the roll (None: plenty)."""
    drop_after_bytes: int = Field(default=2048, ge=1)
    """``drop_print``: the cable comes out after this many bytes of a slip."""


@dataclass
class PrintedSlip:
    """What came out of the printer between two cuts."""

    raster: Raster
    """At the printer's dot width, feeds included."""
    cut: bool
    path: Path | None = None


@dataclass
class EmulatedPrinter:
    dot_width: int
    options: PrinterTwinOptions = field(default_factory=PrinterTwinOptions)
    slips: list[PrintedSlip] = field(default_factory=list)
    errors: list[ProtocolError] = field(default_factory=list)
    """Bytes that were not the ESC/POS we speak (a test expects none)."""
    status_queries: list[int] = field(default_factory=list)
    bytes_received: int = 0
    job_bytes: int = 0
    """Bytes received since the last ``ESC @`` (for ``drop_print``)."""
    _buf: bytearray = field(default_factory=bytearray)
    _rows: list[Raster] = field(default_factory=list)

    def __post_init__(self) -> None:
        faults = self.options.all_faults()
        self.faults = faults
        self.paper_rows: int | None = self.options.paper_rows
        if Fault.PAPER_OUT in faults and self.paper_rows is None:
            self.paper_rows = PAPER_OUT_ROWS
        if Fault.NO_PAPER in faults:
            self.paper_rows = 0
        self.cover_open = Fault.COVER_OPEN in faults
        self.error = Fault.OFFLINE in faults
        self.dropped = False

    @property
    def width_bytes(self) -> int:
        return self.dot_width // 8

    # --- state ------------------------------------------------------------------

    @property
    def paper_end(self) -> bool:
        return self.paper_rows == 0

    @property
    def offline(self) -> bool:
        return self.paper_end or self.cover_open or self.error

    def status(self, n: int) -> int:
        return codec.status_byte(
            n,
            offline=self.offline,
            cover_open=self.cover_open,
            paper_end=self.paper_end,
            error=self.error,
        )

    def should_drop(self) -> bool:
        """``drop_print``: the slip under way has reached ``drop_after_bytes``
        (once: plugged back in, the printer behaves)."""
        return (
            Fault.DROP_PRINT in self.faults
            and not self.dropped
            and self.job_bytes >= self.options.drop_after_bytes
        )

    def pull_cable(self) -> None:
        """The cable comes out: what was printed is torn off, what was on its
        way is lost (the printer starts afresh when it is plugged back in)."""
        self.dropped = True
        self._print_partial_band()
        self.torn_off()
        self._buf.clear()

    def _print_partial_band(self) -> None:
        """The whole rows of a band still arriving (a head prints row by row)."""
        buf = self._buf
        if len(buf) < 8 or bytes(buf[:3]) != b"\x1dv0":
            return
        width_bytes = buf[4] + 256 * buf[5]
        rows = (len(buf) - 8) // width_bytes if width_bytes else 0
        if rows:
            band = Raster(width_bytes, rows, bytes(buf[8 : 8 + rows * width_bytes]))
            self._print(codec.scaled(codec.RasterBand(buf[3] % 48, band)))

    # --- bytes in ----------------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Bytes from the host; returns what the printer answers (status bytes)."""
        self.bytes_received += len(data)
        self.job_bytes += len(data)
        self._buf += data
        answers = bytearray()
        pos = 0
        while True:
            try:
                cmd, end = codec.next_command(self._buf, pos)
            except ProtocolError as err:
                log.warning("emulated printer: %s", err)
                self.errors.append(err)
                pos = len(self._buf)  # a real printer would print this as garbage
                break
            if cmd is None:
                break
            pos = end
            answers += self._do(cmd)
        del self._buf[:pos]
        return bytes(answers)

    def _do(self, cmd: codec.Command) -> bytes:
        if isinstance(cmd, codec.StatusQuery):
            self.status_queries.append(cmd.n)
            return b"" if Fault.SILENT in self.faults else bytes((self.status(cmd.n),))
        if isinstance(cmd, codec.Init):
            self.job_bytes = 2
        elif isinstance(cmd, codec.RasterBand):
            self._print(codec.scaled(cmd))
        elif isinstance(cmd, codec.Feed):
            self._print(Raster.blank(self.width_bytes, cmd.lines * codec.LINE_DOTS))
        elif isinstance(cmd, codec.Cut):
            if cmd.feed_dots:
                self._print(Raster.blank(self.width_bytes, cmd.feed_dots))
            self._finish(cut=True)
        return b""

    def _print(self, band: Raster) -> None:
        if self.offline or band.height == 0:
            return  # nothing comes out
        if band.width_bytes > self.width_bytes:  # beyond the paper: lost
            rows = [band.row(y)[: self.width_bytes] for y in range(band.height)]
            band = Raster(self.width_bytes, band.height, b"".join(rows))
        band = band.padded(self.width_bytes)
        if self.paper_rows is not None:
            band = band.rows(0, self.paper_rows)
            self.paper_rows -= band.height
        self._rows.append(band)

    def _finish(self, *, cut: bool) -> None:
        if not self._rows:
            return
        slip = PrintedSlip(codec.stack(self._rows, width_bytes=self.width_bytes), cut=cut)
        self._rows = []
        out = self.options.out_dir
        if out is not None:
            from drivers.printer.pillow import to_image

            out.mkdir(parents=True, exist_ok=True)
            slip.path = out / f"slip-{len(self.slips) + 1:04d}.png"
            to_image(slip.raster).save(slip.path)
        self.slips.append(slip)

    def torn_off(self) -> PrintedSlip | None:
        """Whatever was printed since the last cut (a slip cut short by a
        pulled cable or an empty roll), taken out of the printer."""
        self._finish(cut=False)
        if self.slips and not self.slips[-1].cut:
            return self.slips[-1]
        return None
