"""A QR-code scanner in USB-serial mode, as a check-in source.

Contract:

* Features: wait for a scanned code and return the resident ID number it
  carries, as an :class:`~healthkiosk.readings.IdCardData` with only the number
  (and the sex and birth date the number encodes): the same port as the ID
  card reader (:class:`drivers.base.IdCardReader`), so the kiosk treats both
  alike. The scanner only listens; nothing is written to it.
* Connection: the scanner's serial port (``/dev/ttyACM0`` for CDC-ACM,
  ``/dev/ttyUSB0`` behind a USB-serial chip), 9600 8N1 by default
  (``options.baudrate``).
* Errors: a line of noise (undecodable, control characters, too long) is
  skipped and counted (``noise_lines``); nothing scanned before the timeout → ``DeviceTimeoutError``
  (reason ``no_card``); a code without an ID number → ``IdNumberError``
  (reason ``not_an_id_code``); a number with a bad check digit →
  ``IdNumberError`` from :func:`healthkiosk.idnumber.parse`; the scanner
  unplugged → ``DeviceConnectionError``. No code text or number is ever put
  in a log or an error message.
* Protocol: :mod:`drivers.qrcode.scan_codec`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from drivers.qrcode import scan_codec as sc
from drivers.serial.common import SerialOptions, ensure_open, on_link_error
from drivers.serial.opener import port_opener
from drivers.serial.transport import SerialLink
from healthkiosk.errors import (
    ConfigError,
    DeviceConnectionError,
    DeviceTimeoutError,
    ProtocolError,
)
from healthkiosk.idnumber import parse as parse_id_number
from healthkiosk.readings import DeviceInfo, IdCardData, Transport

MODEL = "QR code scanner"


class ScannerOptions(SerialOptions):
    patterns: list[str] = Field(default_factory=lambda: list(sc.DEFAULT_PATTERNS))
    """Regular expressions with a group named ``id``; the first that matches wins."""
    code_gap_s: float = Field(default=0.5, gt=0)
    """Longest silence inside one code's line (a code arrives in one burst)."""


class QrScanner:
    """A :class:`drivers.base.IdCardReader` over a serial QR scanner."""

    def __init__(self, *, port: str, options: ScannerOptions) -> None:
        self.options = options
        try:
            self._patterns = sc.compile_patterns(options.patterns)
        except (ValueError, re.error) as err:
            raise ConfigError(str(err), key="options.patterns") from None
        self.link = SerialLink(
            port, baudrate=options.baudrate, device=f"{MODEL} at {port}",
            reconnect_max_s=options.reconnect_max_s,
        )  # fmt: skip
        self._info = DeviceInfo(model=MODEL, transport=Transport.SERIAL, address=port)
        self._lines = sc.LineSplitter()
        self.noise_lines = 0

    @property
    def info(self) -> DeviceInfo:
        return self._info

    async def open(self) -> None:
        await self.link.open()

    async def close(self) -> None:
        await self.link.close()

    async def read_card(self, *, timeout_s: float = 60.0) -> IdCardData:
        """The next scanned code's ID number (codes scanned before this call are dropped)."""
        await ensure_open(self.link)
        try:
            await self.link.discard_input()
            self._lines = sc.LineSplitter()
            deadline = time.monotonic() + timeout_s
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DeviceTimeoutError(
                        f"nothing scanned within {timeout_s:g} s",
                        device=self._info.label, reason="no_card",
                    )  # fmt: skip
                try:
                    chunk = await self.link.read_some(timeout_s=min(remaining, 1.0))
                except DeviceTimeoutError:
                    continue  # a quiet scanner: nobody has shown a code yet
                for raw in self._lines.feed(chunk):
                    try:
                        text = sc.decode_line(raw)
                    except ProtocolError:
                        self.noise_lines += 1  # line noise, not a code: keep waiting
                        continue
                    return to_card_data(text, self._patterns)
        except DeviceConnectionError as err:
            await on_link_error(self.link, err)
            raise


def to_card_data(text: str, patterns: tuple[re.Pattern[str], ...]) -> IdCardData:
    """The kiosk's view of a scanned code: only what the ID number tells."""
    number = parse_id_number(sc.find_id_number(text, patterns))
    born = number.birth_date
    return IdCardData(
        name="",
        sex=number.sex.value,
        nation="",
        birth_date=born.isoformat() if born else "",
        address="",
        id_number=number.value,
        issuing_authority="",
        valid_from="",
        valid_to="",
    )


async def _make(port: str, options: Mapping[str, Any] | None) -> QrScanner:
    return QrScanner(port=port, options=ScannerOptions.parse(options))


open_device = port_opener(_make)
"""The registry's opener: the scanner on ``port``."""
