"""The receipt printer's emulated twins: the printer itself
(:mod:`~emulation.printer.paper`: ESC/POS in, status out, slips as images)
behind a pty (``escpos-serial``, :mod:`~emulation.printer.serial`) or a pyusb
backend (``escpos-usb``, :mod:`~emulation.printer.usb`)."""
