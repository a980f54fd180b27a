"""``escpos-serial``'s twin: the emulated printer behind a pty.

The real driver opens the pty as it would ``/dev/ttyUSB0``; every byte it
writes reaches :class:`~emulation.printer.paper.EmulatedPrinter`, whose
status answers come back on the line. ``drop_print`` unplugs the pty partway
through a slip, as a cable pulled out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulation.printer.paper import EmulatedPrinter, PrinterTwinOptions
from emulation.serial.device import SerialEmulator


class SerialPrinterEmulator(SerialEmulator):
    model = "ESC/POS printer (emulated, serial)"

    def __init__(self, options: PrinterTwinOptions, *, dot_width: int) -> None:
        super().__init__(options)
        self.printer = EmulatedPrinter(dot_width=dot_width, options=options)

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> SerialPrinterEmulator:
        """The twin of a printer configured with ``options`` (the driver's:
        ``dot_width`` and the ``emulator`` table)."""
        return cls(
            PrinterTwinOptions.from_options(options),
            dot_width=int((options or {}).get("dot_width", 384)),
        )

    async def on_bytes(self, data: bytes) -> None:
        if not self.link.plugged:
            return
        answer = self.printer.receive(data)
        if self.printer.should_drop():
            self.printer.pull_cable()
            self.unplug()
            return
        if answer:
            await self.send(answer)
