"""An emulated OneTouch Ultra 2 on a pty: LifeScan's text protocol, with faults."""

from __future__ import annotations

from datetime import timedelta

from drivers.serial import lifescan_text as lt
from emulation.serial.device import EmulatorOptions, Fault, SerialEmulator

MEMORY_SIZE = 500
"""The meter keeps 500 tests (and the dump header has three digits)."""


class Ultra2Emulator(SerialEmulator):
    model = "OneTouch Ultra 2 (emulated)"
    serial = "EMU00001Y"
    version = "P02.00.00 30/08/06"
    new_value_mg_dl = 104

    def __init__(self, options: EmulatorOptions) -> None:
        super().__init__(options)
        self.framer = lt.CommandFramer()
        now = self.clock()
        # Memory newest first, one test every six hours going back.
        self.memory: list[lt.Ultra2Record] = [
            lt.Ultra2Record(
                when=now - timedelta(hours=6 * (i + 1)),
                mg_dl=self.rng.randint(70, 250),
                meal=self.rng.choice("NBA"),
            )
            for i in range(min(options.records, MEMORY_SIZE))
        ]
        self.measured = False
        self.measure_dropped = False

    async def measure_alone(self, mg_dl: int, *, ago: timedelta = timedelta(hours=3)) -> None:
        """Someone tested on the meter ``ago`` (by its clock) between visits."""
        self.memory.insert(0, lt.Ultra2Record(when=self.clock() - ago, mg_dl=mg_dl, meal="N"))
        del self.memory[MEMORY_SIZE:]

    async def tick(self) -> None:
        if not self.measurement_due():
            return
        self.measured = True
        value = self.new_value_mg_dl
        if Fault.OUT_OF_RANGE in self.faults:
            value = 10 if self.options.out_of_range == "LO" else 700
        record = lt.Ultra2Record(
            when=self.clock(),
            mg_dl=value,
            parity_error=Fault.DEVICE_ERROR in self.faults,
            meal="N",
        )
        self.memory.insert(0, record)
        del self.memory[MEMORY_SIZE:]

    async def respond(self, body: str, *, data: bool = False) -> None:
        line = lt.encode_line(body)
        if data and Fault.CHECKSUM in self.faults:
            line = line[:-6] + b"%04X\r\n" % ((lt.checksum(body.encode()) + 1) & 0xFFFF)
        if Fault.GARBAGE in self.faults:
            await self.send(bytes(b for b in self.garbage() if b != 0x0A) + b"\r\n")
        await self.send(line)

    async def on_bytes(self, data: bytes) -> None:
        for command in self.framer.feed(data):
            if Fault.NOISE in self.faults:
                await self.send_noise()
                continue
            await self.on_command(command)

    async def on_command(self, command: str) -> None:
        if command == "DM?":
            await self.respond("?" + self.version)
        elif command == "DM@":
            await self.respond(f'@ "{self.serial}"')
        elif command == "DMSU?":
            await self.respond(lt.format_unit("mmol/L"))
        elif command == "DMF":
            await self.respond("F " + lt.format_datetime(self.clock()))
        elif command.startswith("DMT"):
            self.set_clock(lt.parse_set_clock(command))
            await self.respond("T " + lt.format_datetime(self.clock()))
        elif command == "DMP":
            await self.dump()
        # Unknown commands get no answer, as on the meter.

    async def dump(self) -> None:
        if Fault.DROP_MEASUREMENT in self.faults and self.measured and not self.measure_dropped:
            self.measure_dropped = True
            self.unplug()
            return
        records = list(self.memory)
        header = lt.DumpHeader(len(records), self.serial, "mmol/L")
        await self.respond(lt.format_dump_header(header))
        for i, record in enumerate(records):
            if Fault.DROP_DOWNLOAD in self.faults and i == len(records) // 2:
                self.unplug()
                return
            await self.respond(lt.format_record(record), data=True)
