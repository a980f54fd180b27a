"""Thermal receipt printers (ESC/POS) for the take-home slip.

The slip is one raster image (``GS v 0``) at the paper's full width: a pure
codec (:mod:`~drivers.printer.escpos_codec`), Pillow conversions
(:mod:`~drivers.printer.pillow`), the printer (:mod:`~drivers.printer.printer`,
its contract) over two thin transports: USB through python-escpos
(:mod:`~drivers.printer.usb_link`) and a serial port through pyserial
(:mod:`~drivers.printer.serial_link`). The emulated twins are in
``emulation/printer``, outside the product. docs/protocols/escpos-printer.md
has the bytes.
"""

from __future__ import annotations

from drivers.registry import DriverSpec

DRIVERS: tuple[DriverSpec, ...] = (
    DriverSpec(
        name="escpos-usb",
        role="printer",
        transport="usb",
        summary="ESC/POS thermal receipt printer on USB (python-escpos; usb_id, GS v 0 raster)",
        opener="drivers.printer.usb_link:open_device",
    ),
    DriverSpec(
        name="escpos-serial",
        role="printer",
        transport="serial",
        summary="ESC/POS thermal receipt printer on a serial port (options.baudrate, GS v 0)",
        opener="drivers.printer.serial_link:open_device",
    ),
)
