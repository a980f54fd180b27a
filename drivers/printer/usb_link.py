"""``escpos-usb``: a receipt printer spoken to over USB through python-escpos
(``escpos.printer.Usb``: pyusb/libusb, the kernel's ``usblp`` detached).

``usb_id`` (``lsusb``'s ``0416:5011``) finds the printer; ``options.in_ep``
and ``options.out_ep`` are its bulk endpoints (python-escpos' defaults 0x82
and 0x01; many Chinese printers use 0x81 and 0x03: ``lsusb -v`` shows them).
A non-root kiosk needs the udev rule in ``systemd/99-healthkiosk-printer.rules``.

python-escpos is used for finding, claiming and writing to the device; its
text, image and status helpers are not: the slip is our own raster
(:mod:`drivers.printer.escpos_codec`, see there why) and a status query
reads the IN endpoint with a timeout (its ``paper_status()`` reports "paper
adequate" when the printer does not answer). Every pyusb call runs in a
worker thread. Importing python-escpos pickles its printer profiles into
``ESCPOS_CAPABILITIES_PICKLE_DIR`` (a new temporary directory on every
import otherwise): it is set to a cache directory before the first import.

``usb_backend`` (the registry opener's keyword) is a pyusb backend to find
the printer through instead of libusb's: the emulated twin's.
"""

from __future__ import annotations

import asyncio
import errno
import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from drivers.printer.options import PrinterOptions
from drivers.printer.printer import EscPosPrinter
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceNotFoundError,
    DeviceTimeoutError,
)
from healthkiosk.readings import DeviceInfo, Transport

PICKLE_DIR_VAR = "ESCPOS_CAPABILITIES_PICKLE_DIR"


def _pickle_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "healthkiosk" / "escpos"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.gettempdir()) / f"healthkiosk-escpos-{os.getuid()}"
        path.mkdir(mode=0o700, exist_ok=True)
    return str(path)


def _escpos_usb() -> Any:
    os.environ.setdefault(PICKLE_DIR_VAR, _pickle_dir())
    from escpos.printer import Usb

    return Usb


class UsbPrinterLink:
    """A :class:`drivers.printer.printer.PrinterLink` over ``escpos.printer.Usb``."""

    def __init__(self, options: PrinterOptions, *, device: str, backend: Any = None) -> None:
        self.options = options
        self.device = device
        self._backend = backend
        self._printer: Any = None

    async def open(self) -> None:
        if self._printer is None:
            self._printer = await asyncio.to_thread(self._open_blocking)

    def _open_blocking(self) -> Any:
        from escpos.exceptions import DeviceNotFoundError as EscposNotFound

        vendor, product = self.options.usb_ids()
        usb = _escpos_usb()(
            idVendor=vendor,
            idProduct=product,
            usb_args={"backend": self._backend} if self._backend is not None else {},
            timeout=int(self.options.write_timeout_s * 1000),
            in_ep=self.options.in_ep,
            out_ep=self.options.out_ep,
        )
        try:
            usb.open()
        except EscposNotFound as err:
            raise DeviceNotFoundError(
                f"no USB printer {self.options.usb_id} (not plugged in, switched off, "
                "or not ours to open: see the udev rule in docs/guides/devices.md)",
                device=self.device,
            ) from err
        return usb

    async def close(self) -> None:
        printer, self._printer = self._printer, None
        if printer is not None:
            await asyncio.to_thread(printer.close)

    def _lost(self, err: Exception) -> DeviceConnectionError:
        gone = getattr(err, "errno", None) == errno.ENODEV
        why = "unplugged" if gone else str(err)
        return DeviceConnectionError(
            f"lost the USB printer: {why}", device=self.device, reason="link_lost"
        )

    async def write(self, data: bytes) -> None:
        await self.open()
        try:
            await asyncio.to_thread(self._printer._raw, data)
        except Exception as err:
            mapped = await self._mapped(err)
            if mapped is None:
                raise
            raise mapped from err

    async def _mapped(self, err: Exception) -> Exception | None:
        """Ours for a pyusb error (None for anything else); a lost device is
        closed, so the next slip finds it afresh."""
        import usb.core

        if isinstance(err, usb.core.USBTimeoutError):
            return DeviceTimeoutError(
                f"the printer took no data for {self.options.write_timeout_s:g} s",
                device=self.device,
            )
        if isinstance(err, usb.core.USBError):
            await self.close()
            return self._lost(err)
        return None

    async def ask(self, query: bytes, *, timeout_s: float) -> int | None:
        await self.open()
        try:
            return await asyncio.to_thread(self._ask_blocking, query, timeout_s)
        except Exception as err:
            mapped = await self._mapped(err)
            if isinstance(mapped, DeviceTimeoutError):
                return None  # nothing answered in time
            if mapped is None:
                raise
            raise mapped from err

    def _ask_blocking(self, query: bytes, timeout_s: float) -> int | None:
        printer = self._printer
        printer._raw(query)
        answer = printer.device.read(self.options.in_ep, 16, int(timeout_s * 1000))
        return int(answer[-1]) if len(answer) else None


@asynccontextmanager
async def open_device(
    *,
    port: str | None = None,
    address: str | None = None,
    options: Mapping[str, Any] | None = None,
    usb_backend: Any = None,
) -> AsyncIterator[EscPosPrinter]:
    """The registry's opener: the printer ``options.usb_id`` names (``port``
    and ``address`` are not used: a USB printer is found by its ids)."""
    o = PrinterOptions.parse(options)
    o.usb_ids()  # a missing usb_id is a configuration error, named at once
    info = DeviceInfo(model=o.model, transport=Transport.USB, address=f"usb {o.usb_id}")
    link = UsbPrinterLink(o, device=info.label, backend=usb_backend)
    printer = EscPosPrinter(link, options=o, info=info)
    await printer.open()
    try:
        yield printer
    finally:
        await printer.close()
