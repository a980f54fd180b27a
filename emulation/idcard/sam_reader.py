"""An emulated SAM ID card reader on a pty, with a synthetic card and faults.

Its own card lies on the reader from ``measure_after_s`` on (never when that
is None); :meth:`SamReaderEmulator.present` puts another card on it for one
read (the elder takes it back once it is read), as ``healthkiosk run
--simulate``'s ``c`` key and the scripted visitor do."""

from __future__ import annotations

from drivers.idcard import sam_frame as sf
from drivers.idcard import text_block as tb
from emulation.serial.device import EmulatorOptions, Fault, SerialEmulator
from healthkiosk.idnumber import check_character

_FIRST17 = "11010119500307123"
SAMPLE_CARD = tb.CardText(
    name="王小明",
    sex_code="1",
    nation_code="01",
    birth_date="19500307",
    address="北京市东城区示例路1号",
    id_number=_FIRST17 + check_character(_FIRST17),
    issuing_authority="北京市公安局东城分局",
    valid_from="20200101",
    valid_to=tb.NO_END,
)
"""A synthetic card (no real person): region 110101, born 1950-03-07."""


def card_for(id_number: str, *, name: str) -> tb.CardText:
    """A synthetic card holding ``id_number`` (its sex and birth date from the number)."""
    return tb.CardText(
        name=name or "示例居民",
        sex_code="1" if int(id_number[16]) % 2 else "2",
        nation_code="01",
        birth_date=id_number[6:14],
        address="浙江省杭州市西湖区示例路2号",
        id_number=id_number,
        issuing_authority="杭州市公安局西湖分局",
        valid_from="20200101",
        valid_to=tb.NO_END,
    )


class SamReaderEmulator(SerialEmulator):
    model = "SAM ID card reader (emulated)"

    def __init__(self, options: EmulatorOptions, card: tb.CardText = SAMPLE_CARD) -> None:
        super().__init__(options)
        self.card = card
        self.presented: tb.CardText | None = None
        self.framer = sf.SamFramer(minimum=3)
        self.reads = 0

    def present(self, card: tb.CardText) -> None:
        """Put ``card`` on the reader until it has been read once."""
        self.presented = card

    def card_present(self) -> bool:
        if Fault.NO_CARD in self.faults:
            return False
        if self.presented is not None:
            return True
        after = self.options.measure_after_s
        return after is not None and self.elapsed() >= after

    async def reply(self, sw3: int, data: bytes = b"", *, corrupt: bool = False) -> None:
        raw = sf.encode_response(sf.Response(0, 0, sw3, data))
        if corrupt:
            raw = raw[:-1] + bytes([raw[-1] ^ 0x5A])
        if Fault.GARBAGE in self.faults:
            await self.send(self.garbage())
        await self.send(raw)

    async def on_bytes(self, data: bytes) -> None:
        for frame in self.framer.feed(data):
            if Fault.NOISE in self.faults:
                await self.send_noise()
                continue
            await self.on_command(sf.decode_command(frame).command)

    async def on_command(self, command: int) -> None:
        if command == sf.Command.FIND_CARD:
            if Fault.DEVICE_ERROR in self.faults:
                await self.reply(0x60)
            elif self.card_present():
                await self.reply(sf.Sw3.FIND_SUCCESS, bytes(4))
            else:
                await self.reply(sf.Sw3.FIND_FAILED)
        elif command == sf.Command.SELECT_CARD:
            if self.card_present():
                await self.reply(sf.Sw3.SUCCESS, bytes(8))
            else:
                await self.reply(sf.Sw3.SELECT_FAILED)
        elif command == sf.Command.READ_BASE:
            self.reads += 1
            if Fault.CARD_REMOVED in self.faults or not self.card_present():
                await self.reply(sf.Sw3.READ_FAILED)
                return
            text = tb.encode(self.presented or self.card)
            photo = self.rng.randbytes(1024)
            data = (256).to_bytes(2, "big") + (1024).to_bytes(2, "big") + text + photo
            if self.faults & {Fault.DROP_MEASUREMENT, Fault.DROP_DOWNLOAD}:
                raw = sf.encode_response(sf.Response(0, 0, sf.Sw3.SUCCESS, data))
                await self.send(raw[: len(raw) // 2])
                self.unplug()
                return
            await self.reply(sf.Sw3.SUCCESS, data, corrupt=Fault.CHECKSUM in self.faults)
            self.presented = None  # read: the elder takes the card back
        else:
            await self.reply(sf.Sw3.COMMAND_UNKNOWN)
