"""An ESC/POS thermal receipt printer that prints raster images.

Contract (both ``escpos-usb`` and ``escpos-serial``; :class:`drivers.base.ReceiptPrinter`):

* Features: print one 1-bit image at the paper's full width
  (:meth:`EscPosPrinter.print_raster`: ``ESC @``, ``GS v 0`` bands, feed, cut;
  :mod:`drivers.printer.escpos_codec`), and say whether it can
  (:meth:`EscPosPrinter.status`). Nothing is ever printed as text.
* Connection: :class:`PrinterLink` — USB through python-escpos and pyusb
  (:mod:`drivers.printer.usb_link`) or a serial port through pyserial
  (:mod:`drivers.printer.serial_link`).
* Errors, each before anything is printed where the printer can tell:
  no paper → :class:`~healthkiosk.errors.PrinterError` (``no_paper``), cover
  open (``cover_open``), offline for another reason (``offline``), no
  answer to the status query (``no_answer``: off, wrong port or baud rate);
  the paper running out during the slip → ``no_paper`` after it; the cable
  pulled out mid-slip → :class:`~healthkiosk.errors.DeviceConnectionError`;
  not there at all → :class:`~healthkiosk.errors.DeviceNotFoundError`.
  An image wider than the paper is a ``ValueError`` (the caller's mistake).
* Status: ``DLE EOT 1`` (online?), then, when offline, ``DLE EOT 2`` (why),
  and ``DLE EOT 4`` (paper). A printer that answers nothing with
  ``check_status = true`` is reported, never assumed fine (python-escpos'
  own ``paper_status()`` says "paper adequate" when nobody answers).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from drivers.printer import escpos_codec as codec
from drivers.printer.escpos_codec import PrinterStatus, Raster
from drivers.printer.options import PrinterOptions
from healthkiosk.errors import PrinterError, PrinterProblem
from healthkiosk.readings import DeviceInfo

log = logging.getLogger(__name__)


class PrinterLink(Protocol):
    """The bytes to and from a printer (USB or serial)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, data: bytes) -> None:
        """Send ``data``; :class:`DeviceConnectionError` when the link is lost."""
        ...

    async def ask(self, query: bytes, *, timeout_s: float) -> int | None:
        """Send a real-time status query and return the one byte answered,
        None when nothing comes within ``timeout_s``."""
        ...


class EscPosPrinter:
    """A :class:`drivers.base.ReceiptPrinter` over a :class:`PrinterLink`."""

    def __init__(self, link: PrinterLink, *, options: PrinterOptions, info: DeviceInfo) -> None:
        self.link = link
        self.options = options
        self._info = info
        self._lock = asyncio.Lock()
        self.jobs_printed = 0

    @property
    def info(self) -> DeviceInfo:
        return self._info

    @property
    def dot_width(self) -> int:
        return self.options.dot_width

    async def open(self) -> None:
        await self.link.open()

    async def close(self) -> None:
        await self.link.close()

    # --- status ------------------------------------------------------------------

    async def _ask(self, n: int) -> int:
        value = await self.link.ask(codec.status_query(n), timeout_s=self.options.status_timeout_s)
        if value is None:
            raise PrinterError(
                f"no answer to the status query (DLE EOT {n}) within "
                f"{self.options.status_timeout_s:g} s",
                problem=PrinterProblem.NO_ANSWER,
                device=self._info.label,
            )
        return value

    async def status(self) -> PrinterStatus:
        """The printer's real-time status (raises only for no answer or a lost link)."""
        async with self._lock:
            return await self._status()

    async def _status(self) -> PrinterStatus:
        offline = codec.printer_offline(await self._ask(1))
        cover_open = paper_stop = error = None
        if offline:
            cover_open, paper_stop, error = codec.offline_cause(await self._ask(2))
        paper_end, near_end = codec.paper_sensor(await self._ask(4))
        return PrinterStatus(
            online=not offline,
            cover_open=cover_open,
            paper_end=paper_end or bool(paper_stop),
            paper_near_end=near_end,
            error=error,
        )

    async def check_ready(self) -> PrinterStatus:
        """The status, or :class:`PrinterError` when it could not print now."""
        async with self._lock:
            st = await self._status()
        self._refuse(st)
        return st

    def _refuse(self, st: PrinterStatus, *, after: bool = False) -> None:
        """Raise for a status that cannot print."""
        when = "during the slip" if after else "before the slip"
        if st.paper_end:
            problem, why = PrinterProblem.NO_PAPER, f"out of paper {when}"
        elif st.cover_open:
            problem, why = PrinterProblem.COVER_OPEN, f"cover open {when}"
        elif not st.online:
            problem, why = PrinterProblem.OFFLINE, f"offline {when}"
        else:
            return
        raise PrinterError(why, problem=problem, device=self._info.label)

    # --- printing ----------------------------------------------------------------

    async def print_raster(self, raster: Raster) -> None:
        """Print ``raster`` (at most :attr:`dot_width` wide; narrower is padded
        white at the right). Returns once every byte is sent and, with
        ``check_status``, the printer still has paper."""
        o = self.options
        if raster.width > o.dot_width:
            raise ValueError(f"a {raster.width}-dot image on a {o.dot_width}-dot printer")
        job = codec.encode_job(
            raster.padded(o.width_bytes),
            band_rows=o.band_rows,
            feed_lines=o.feed_lines,
            cut=o.cut,
        )
        async with self._lock:
            if o.check_status:
                self._refuse(await self._status())
            sent = 0
            for chunk in codec.job_chunks(job, o.chunk_bytes):
                try:
                    await self.link.write(chunk)
                except Exception:
                    log.warning("%s: the slip stopped after %d of %d bytes",
                                self._info.label, sent, len(job))  # fmt: skip
                    raise
                sent += len(chunk)
            if o.check_status:
                self._refuse(await self._status(), after=True)
            self.jobs_printed += 1
            log.info("%s: printed a slip of %d rows (%d bytes)",
                     self._info.label, raster.height, len(job))  # fmt: skip
