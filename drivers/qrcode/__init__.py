"""QR-code / barcode scanners for check-in (serial, "USB COM port" mode)."""

from __future__ import annotations

from drivers.registry import DriverSpec

DRIVERS: tuple[DriverSpec, ...] = (
    DriverSpec(
        name="serial-qr",
        role="qr_code",
        transport="serial",
        summary="QR / barcode scanner in USB-serial mode: one decoded code per CR/LF line",
        opener="drivers.qrcode.scanner:open_device",
    ),
)
