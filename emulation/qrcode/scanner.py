"""An emulated QR scanner on a pty: "scans" an elder service card's code.

The code is the kind a district prints on an elder service card (a URL with
the ID number as a query field; a synthetic person); it is sent with the
scanner's default CR terminator at ``measure_after_s`` and then every
``repeat_after_s``. Faults: ``garbage`` sends a line of random bytes before
the code, ``noise`` a megabyte of random bytes instead of it,
``no_card`` never scans, ``device_error`` scans a code without an ID number,
``drop_measurement`` unplugs the scanner halfway through a code.
"""

from __future__ import annotations

from emulation.serial.device import EmulatorOptions, Fault, SerialEmulator
from healthkiosk.idnumber import check_character

_FIRST17 = "11010519491231002"
SAMPLE_ID = _FIRST17 + check_character(_FIRST17)
"""A synthetic number (no real person): region 110105, born 1949-12-31."""
SAMPLE_CODE = f"https://elder.example.cn/card?v=1&idno={SAMPLE_ID}&n=03"
NOT_AN_ID_CODE = "https://example.cn/promo?id=12345"


class QrScannerEmulator(SerialEmulator):
    model = "QR code scanner (emulated)"

    def __init__(self, options: EmulatorOptions, code: str = SAMPLE_CODE) -> None:
        super().__init__(options)
        self.code = code
        self.scans = 0

    async def on_bytes(self, data: bytes) -> None:
        """A scanner ignores what the host sends."""

    async def tick(self) -> None:
        if Fault.NO_CARD in self.faults or not self.measurement_due():
            return
        self.scans += 1
        if Fault.NOISE in self.faults:
            await self.send_noise()
            return
        if Fault.GARBAGE in self.faults:
            noise = self.garbage().replace(b"\r", b"").replace(b"\n", b"")
            await self.send(b"\x00" + noise + b"\r")  # a line of noise, then the code
        code = NOT_AN_ID_CODE if Fault.DEVICE_ERROR in self.faults else self.code
        raw = code.encode() + b"\r"
        if Fault.DROP_MEASUREMENT in self.faults:
            await self.send(raw[: len(raw) // 2])
            self.unplug()
            return
        await self.send(raw)
