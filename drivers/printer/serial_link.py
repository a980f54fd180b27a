"""``escpos-serial``: a receipt printer on a serial port (RS-232 through a
USB adapter or a level shifter, never straight onto the Pi's 3.3 V UART),
through the house's serial transport (:mod:`drivers.serial.transport`).

The port is a path (``/dev/ttyUSB0``, a ``/dev/serial/by-id`` link, or an
emulated twin's pty); ``options.baudrate`` must match the printer's (its
self-test slip prints it). See :mod:`drivers.printer.printer` for the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.printer.options import PrinterOptions
from drivers.printer.printer import EscPosPrinter
from drivers.serial.opener import port_opener
from drivers.serial.transport import SerialLink
from healthkiosk.errors import DeviceConnectionError, DeviceTimeoutError
from healthkiosk.readings import DeviceInfo, Transport


class SerialPrinterLink:
    """A :class:`drivers.printer.printer.PrinterLink` on a serial port."""

    def __init__(self, port: str, *, options: PrinterOptions, device: str) -> None:
        # One chunk must be able to leave at the line's speed (10 bits a byte).
        chunk_s = options.chunk_bytes * 10 / options.baudrate
        self.serial = SerialLink(
            port,
            baudrate=options.baudrate,
            device=device,
            reconnect_max_s=0,
            write_timeout_s=max(options.write_timeout_s, 2 * chunk_s),
        )

    async def open(self) -> None:
        await self.serial.open()

    async def close(self) -> None:
        await self.serial.close()

    async def _ensure_open(self) -> None:
        if not self.serial.is_open:
            await self.serial.open()

    async def write(self, data: bytes) -> None:
        await self._ensure_open()
        try:
            await self.serial.write(data)
        except (DeviceConnectionError, DeviceTimeoutError):
            await self.serial.close()  # the next slip opens the port afresh
            raise

    async def ask(self, query: bytes, *, timeout_s: float) -> int | None:
        await self._ensure_open()
        try:
            await self.serial.discard_input()
            await self.serial.write(query)
            answer = await self.serial.read_some(timeout_s=timeout_s)
        except DeviceTimeoutError:
            return None
        except DeviceConnectionError:
            await self.serial.close()
            raise
        return answer[0]


async def _make(port: str, options: Mapping[str, Any] | None) -> EscPosPrinter:
    o = PrinterOptions.parse(options)
    label = f"{o.model} at {port}"
    link = SerialPrinterLink(port, options=o, device=label)
    info = DeviceInfo(model=o.model, transport=Transport.SERIAL, address=port)
    return EscPosPrinter(link, options=o, info=info)


open_device = port_opener(_make)
"""The registry's opener: the printer on ``port``."""
