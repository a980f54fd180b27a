"""``escpos-usb``'s twin: the emulated printer as a USB device, behind a pyusb
backend.

pyusb finds devices through a backend (libusb's on a station); this one
enumerates a single printer-class device (interface class 7) with the
configured vendor and product id and two bulk endpoints, so python-escpos'
``Usb`` finds, configures and writes to it through pyusb exactly as to a
real printer, and the driver reads the status answers from the IN endpoint.
Bulk writes reach :class:`~emulation.printer.paper.EmulatedPrinter`; a read
with no answer waiting times out (at once, as if the timeout had passed).
``drop_print`` makes the device vanish partway through a slip: every later
transfer fails with ``ENODEV`` and it is no longer enumerated.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import usb.backend
import usb.core

from emulation.printer.paper import EmulatedPrinter, PrinterTwinOptions

DEFAULT_USB_ID = "0416:5011"
"""Winbond's id, which many 58 mm Chinese printers (POS-5890 class) report."""


class EmulatedUsbPrinter(usb.backend.IBackend):  # type: ignore[misc]
    """A pyusb backend with one emulated receipt printer on it."""

    model = "ESC/POS printer (emulated, USB)"

    def __init__(
        self,
        options: PrinterTwinOptions,
        *,
        dot_width: int,
        usb_id: str = DEFAULT_USB_ID,
        in_ep: int = 0x82,
        out_ep: int = 0x01,
    ) -> None:
        self.printer = EmulatedPrinter(dot_width=dot_width, options=options)
        vendor, product = (int(part, 16) for part in usb_id.split(":"))
        self.usb_id = usb_id
        self.vendor, self.product = vendor, product
        self.in_ep, self.out_ep = in_ep, out_ep
        self.plugged = True
        self.opened = 0
        self.configured = False
        self._answers = bytearray()

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> EmulatedUsbPrinter:
        """The twin of a printer configured with ``options`` (the driver's)."""
        o = dict(options or {})
        return cls(
            PrinterTwinOptions.from_options(o),
            dot_width=int(o.get("dot_width", 384)),
            usb_id=str(o.get("usb_id") or DEFAULT_USB_ID),
            in_ep=int(o.get("in_ep", 0x82)),
            out_ep=int(o.get("out_ep", 0x01)),
        )

    def describe(self) -> str:
        return f"USB printer {self.usb_id} (emulated, {self.printer.dot_width} dots)"

    def unplug(self) -> None:
        self.plugged = False

    def _gone(self) -> usb.core.USBError:
        return usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)

    def _check(self) -> None:
        if not self.plugged:
            raise self._gone()

    # --- descriptors --------------------------------------------------------------

    def enumerate_devices(self) -> Iterator[str]:
        if self.plugged:
            yield "emulated-printer"

    def get_device_descriptor(self, dev: Any) -> Any:
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=self.vendor, idProduct=self.product,
            bcdDevice=0x0100, iManufacturer=0, iProduct=0, iSerialNumber=0,
            bNumConfigurations=1, address=7, bus=1, port_number=1, port_numbers=(1,),
            speed=2,
        )  # fmt: skip

    def get_configuration_descriptor(self, dev: Any, config: int) -> Any:
        return SimpleNamespace(
            bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
            bConfigurationValue=1, iConfiguration=0, bmAttributes=0xC0, bMaxPower=50,
            extra_descriptors=[],
        )  # fmt: skip

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> Any:
        return SimpleNamespace(
            bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
            bNumEndpoints=2, bInterfaceClass=7, bInterfaceSubClass=1, bInterfaceProtocol=2,
            iInterface=0, extra_descriptors=[],
        )  # fmt: skip

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> Any:
        address = (self.out_ep, self.in_ep)[ep]
        return SimpleNamespace(
            bLength=7, bDescriptorType=5, bEndpointAddress=address, bmAttributes=0x02,
            wMaxPacketSize=64, bInterval=0, bRefresh=0, bSynchAddress=0, extra_descriptors=[],
        )  # fmt: skip

    # --- handles and configuration -------------------------------------------------

    def open_device(self, dev: Any) -> str:
        self._check()
        self.opened += 1
        return "handle"

    def close_device(self, dev_handle: Any) -> None:
        self.opened = max(0, self.opened - 1)

    def set_configuration(self, dev_handle: Any, config_value: int) -> None:
        self._check()
        self.configured = True

    def get_configuration(self, dev_handle: Any) -> int:
        self._check()
        return 1

    def set_interface_altsetting(self, dev_handle: Any, intf: int, altsetting: int) -> None:
        self._check()

    def claim_interface(self, dev_handle: Any, intf: int) -> None:
        self._check()

    def release_interface(self, dev_handle: Any, intf: int) -> None:
        pass

    def reset_device(self, dev_handle: Any) -> None:
        self._check()

    def is_kernel_driver_active(self, dev_handle: Any, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: Any, intf: int) -> None:
        pass

    def clear_halt(self, dev_handle: Any, ep: int) -> None:
        self._check()

    # --- transfers -----------------------------------------------------------------

    def bulk_write(self, dev_handle: Any, ep: int, intf: int, data: Any, timeout: int) -> int:
        self._check()
        if ep != self.out_ep:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        self._answers += self.printer.receive(bytes(data))
        if self.printer.should_drop():
            self.printer.pull_cable()
            self.unplug()
            raise self._gone()
        return len(data)

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        self._check()
        if ep != self.in_ep:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        if not self._answers:
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
        n = min(len(buff), len(self._answers))
        for i in range(n):
            buff[i] = self._answers[i]
        del self._answers[:n]
        return n
