"""Second-generation resident ID card readers with a SAM module (serial).

Contract:

* Features: wait for a card (find card, polled), select it, read its base
  information; the 256-byte text block is decoded and the ID number checked
  with :func:`healthkiosk.idnumber.parse` (check digit, region, birth date);
  the photo block is skipped, never decoded or stored.
* Connection: the reader's USB-serial port (CH340/PL2303/CP210x), 115200 8N1
  on most readers (``options.baudrate``); ``/dev/ttyUSB0`` or a
  ``/dev/serial/by-id`` link.
* Errors: no card before the timeout → ``DeviceTimeoutError`` (reason
  ``no_card``); the card taken away during the read → ``DeviceError``
  (reason ``card_removed``); any other SAM status → ``DeviceError``
  (reason ``device_error``, the status named); a bad number on the card →
  ``IdNumberError``. The ID number never appears in a log or an error.
* Protocol: :mod:`drivers.idcard.sam_frame`, :mod:`drivers.idcard.text_block`;
  notes in ``docs/protocols/sam-idcard.md``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import Field

from drivers.idcard import sam_frame as sf
from drivers.idcard import text_block as tb
from drivers.serial.common import SerialOptions, ensure_open, named, on_link_error
from drivers.serial.opener import port_opener
from drivers.serial.transport import SerialLink
from healthkiosk.errors import DeviceConnectionError, DeviceError, DeviceTimeoutError
from healthkiosk.idnumber import parse as parse_id_number
from healthkiosk.readings import DeviceInfo, IdCardData, Transport

MODEL = "SAM ID card reader"


class ReaderOptions(SerialOptions):
    baudrate: int = Field(default=115200, gt=0)
    poll_interval_s: float = Field(default=0.3, gt=0)


def _iso(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def to_card_data(card: tb.CardText, *, today: date | None = None) -> IdCardData:
    """The kiosk's view of a card: the number checked, dates ISO 8601."""
    number = parse_id_number(card.id_number, today=today)
    if number.birth_date.strftime("%Y%m%d") != card.birth_date:
        raise tb.CardTextError("the card's birth date and its ID number disagree")
    if card.sex in ("male", "female") and number.sex.value != card.sex:
        raise tb.CardTextError("the card's sex and its ID number disagree")
    return IdCardData(
        name=card.name,
        sex=card.sex,
        nation=card.nation,
        birth_date=_iso(card.birth_date),
        address=card.address,
        id_number=number.value,
        issuing_authority=card.issuing_authority,
        valid_from=_iso(card.valid_from),
        valid_to=card.valid_to if card.valid_to == tb.NO_END else _iso(card.valid_to),
    )


class SamIdCardReader:
    """A :class:`drivers.base.IdCardReader`."""

    def __init__(self, *, port: str, options: ReaderOptions) -> None:
        self.options = options
        self.link = SerialLink(
            port, baudrate=options.baudrate, device=f"{MODEL} at {port}",
            reconnect_max_s=options.reconnect_max_s,
        )  # fmt: skip
        self._info = DeviceInfo(model=MODEL, transport=Transport.SERIAL, address=port)
        self._framer = sf.SamFramer()

    @property
    def info(self) -> DeviceInfo:
        return self._info

    async def open(self) -> None:
        await self.link.open()

    async def close(self) -> None:
        await self.link.close()

    async def _transact(self, command: sf.Command) -> sf.Response:
        await self.link.discard_input()
        self._framer = sf.SamFramer()
        await self.link.write(sf.encode_command(command))
        deadline = time.monotonic() + self.options.response_limit_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeoutError("no answer from the reader", device=self._info.label)
            chunk = await self.link.read_some(
                timeout_s=min(self.options.response_timeout_s, remaining)
            )
            frames = self._framer.feed(chunk)
            if frames:
                return sf.decode_response(frames[0])
            error, self._framer.last_error = self._framer.last_error, None
            if error is not None:
                raise named(error, self._info.label)

    def _fail(self, response: sf.Response, reason: str) -> DeviceError:
        return DeviceError(
            f"the reader says: {response.status}", device=self._info.label, reason=reason
        )

    async def read_card(self, *, timeout_s: float = 60.0) -> IdCardData:
        await ensure_open(self.link)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                found = await self._transact(sf.Command.FIND_CARD)
                if found.sw3 == sf.Sw3.FIND_SUCCESS:
                    break
                if found.sw3 != sf.Sw3.FIND_FAILED:
                    raise self._fail(found, "device_error")
                if time.monotonic() + self.options.poll_interval_s > deadline:
                    raise DeviceTimeoutError(
                        f"no card on the reader within {timeout_s:g} s",
                        device=self._info.label, reason="no_card",
                    )  # fmt: skip
                await asyncio.sleep(self.options.poll_interval_s)
            selected = await self._transact(sf.Command.SELECT_CARD)
            if selected.sw3 != sf.Sw3.SUCCESS:
                raise self._fail(selected, "card_removed")
            read = await self._transact(sf.Command.READ_BASE)
        except DeviceConnectionError as err:
            await on_link_error(self.link, err)
            raise
        if read.sw3 != sf.Sw3.SUCCESS:
            raise self._fail(
                read, "card_removed" if read.sw3 == sf.Sw3.READ_FAILED else "device_error"
            )
        return to_card_data(tb.decode(base_text(read.data)))


def base_text(data: bytes) -> bytes:
    """The text block out of a read-base-information reply (photo dropped)."""
    if len(data) < 4:
        raise sf.SamError("read reply too short", raw=data[:4])
    text_len = int.from_bytes(data[:2], "big")
    photo_len = int.from_bytes(data[2:4], "big")
    if text_len != tb.TEXT_SIZE or len(data) != 4 + text_len + photo_len:
        raise sf.SamError("read reply lengths do not match", raw=data[:4])
    return data[4 : 4 + text_len]


async def _make(port: str, options: Mapping[str, Any] | None) -> SamIdCardReader:
    return SamIdCardReader(port=port, options=ReaderOptions.parse(options))


open_device = port_opener(_make)
"""The registry's opener: the reader on ``port``."""
