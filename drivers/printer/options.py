"""``[devices.printer]``'s settings as the printer drivers read them.

``dot_width`` and ``usb_id`` are keys of ``[devices.printer]`` itself
(validated with the configuration, :class:`healthkiosk.config.PrinterConfig`)
and reach the driver among its options; everything else is ``options = {...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from healthkiosk.config import USB_ID_PATTERN
from healthkiosk.errors import ConfigError


class PrinterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dot_width: int = Field(default=384, ge=128, le=1024, multiple_of=8)
    """Printable dots across: 384 (58 mm paper), 576 (most 80 mm), 512, 640."""
    usb_id: str | None = Field(default=None, pattern=USB_ID_PATTERN)
    """``escpos-usb``: vendor:product as ``lsusb`` prints it."""
    in_ep: int = Field(default=0x82, ge=0x81, le=0x8F)
    """``escpos-usb``: the bulk IN endpoint (status answers). Many Chinese
    printers (e.g. 0416:5011) use 0x81."""
    out_ep: int = Field(default=0x01, ge=0x01, le=0x0F)
    """``escpos-usb``: the bulk OUT endpoint. 0x03 on many Chinese printers."""
    baudrate: int = Field(default=9600, gt=0)
    """``escpos-serial``: the printer's baud rate (its self-test slip prints
    it). At 9600 baud a slip of about 1,500 rows takes over a minute."""
    band_rows: int = Field(default=256, ge=8, le=2303)
    """Rows per ``GS v 0`` band (smaller for printers with a small buffer)."""
    feed_lines: int = Field(default=4, ge=0, le=255)
    """Lines fed after the slip, so its end clears the tear bar or cutter."""
    cut: bool = True
    """Cut the paper at the end (``GS V 1``; printers without a cutter ignore it)."""
    check_status: bool = True
    """Ask the printer's real-time status (``DLE EOT``) before and after each
    slip, so no paper, an open cover or an unanswering printer is told at
    once. Turn off only for a printer that never answers (then those
    problems go unnoticed)."""
    status_timeout_s: float = Field(default=1.0, gt=0, le=30)
    """How long a status answer may take."""
    write_timeout_s: float = Field(default=10.0, gt=0)
    """How long one chunk of the slip may take to be accepted (on a serial
    port at least twice the chunk's time on the line): a printer that holds
    the line busy longer fails the slip instead of stalling it."""
    chunk_bytes: int = Field(default=4096, ge=64, le=1 << 20)
    """The slip is written in pieces of this size."""
    model: str = "ESC/POS receipt printer"
    """What the technician's screen and the logs call it."""
    emulator: dict[str, Any] = Field(default_factory=dict)
    """Settings of the printer's emulated twin (read by the ``emulation``
    package when it stands in for the printer; the driver ignores them)."""

    @classmethod
    def parse(cls, options: Mapping[str, Any] | None) -> Self:
        try:
            return cls.model_validate(dict(options or {}))
        except ValidationError as err:
            first = err.errors()[0]
            msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
            key = "options." + ".".join(str(p) for p in first["loc"])
            raise ConfigError(msg, key=key) from None

    @property
    def width_bytes(self) -> int:
        return self.dot_width // 8

    def usb_ids(self) -> tuple[int, int]:
        if self.usb_id is None:
            raise ConfigError("escpos-usb needs the printer's usb_id (lsusb)", key="usb_id")
        vendor, product = self.usb_id.split(":")
        return int(vendor, 16), int(product, 16)
