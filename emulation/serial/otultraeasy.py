"""An emulated OneTouch UltraEasy on a pty: LifeScan's binary protocol, with faults."""

from __future__ import annotations

from datetime import timedelta

from drivers.serial import lifescan_binary as lb
from emulation.serial.device import EmulatorOptions, Fault, SerialEmulator

REFUSED = b"\x05\x15"
"""What the emulator answers under ``device_error`` (any non-success reply
is a refusal to the driver)."""


MEMORY_SIZE = 500
"""The meter keeps 500 tests; record index 501 asks for the count instead."""


class UltraEasyEmulator(SerialEmulator):
    model = "OneTouch UltraEasy (emulated)"
    serial = "EMU2000AB"
    version = "P02.00.00 01/01/09"
    new_value_mg_dl = 110

    def __init__(self, options: EmulatorOptions) -> None:
        super().__init__(options)
        self.framer = lb.PacketFramer()
        now = self.clock()
        self.memory: list[lb.EasyRecord] = [  # index 0 is the newest
            lb.EasyRecord(now - timedelta(hours=6 * (i + 1)), self.rng.randint(70, 250))
            for i in range(min(options.records, MEMORY_SIZE))
        ]
        self.seq = False
        self.measured = False
        self.measure_dropped = False
        self.records_sent = 0

    async def measure_alone(self, mg_dl: int, *, ago: timedelta = timedelta(hours=3)) -> None:
        """Someone tested on the meter ``ago`` (by its clock) between visits."""
        self.memory.insert(0, lb.EasyRecord(self.clock() - ago, mg_dl))
        del self.memory[MEMORY_SIZE:]

    async def tick(self) -> None:
        if not self.measurement_due():
            return
        self.measured = True
        value = self.new_value_mg_dl
        if Fault.OUT_OF_RANGE in self.faults:
            value = 10 if self.options.out_of_range == "LO" else 700
        self.memory.insert(0, lb.EasyRecord(self.clock(), value))
        del self.memory[MEMORY_SIZE:]

    async def packet(
        self, link: lb.LinkControl, message: bytes = b"", *, corrupt: bool = False
    ) -> None:
        raw = lb.encode_packet(lb.Packet(link, message))
        if corrupt:
            raw = raw[:-2] + bytes([raw[-2] ^ 0xFF, raw[-1]])
        if Fault.GARBAGE in self.faults:
            await self.send(self.garbage())
        await self.send(raw)

    async def on_bytes(self, data: bytes) -> None:
        if Fault.NOISE in self.faults:
            await self.send_noise()
            return
        for packet in self.framer.feed(data):
            await self.on_packet(packet)

    async def on_packet(self, packet: lb.Packet) -> None:
        link = packet.link
        if link.disconnect:
            self.seq = False
            await self.packet(lb.LinkControl(disconnect=True, acknowledge=True))
            return
        if link.acknowledge:
            return  # the host acknowledged our last response
        host_next = not link.sequence
        await self.packet(
            lb.LinkControl(acknowledge=True, sequence=self.seq, expect_receive=host_next)
        )
        reply, data = self.answer(packet.message)
        if reply is None:
            return
        await self.packet(
            lb.LinkControl(sequence=self.seq, expect_receive=host_next),
            reply,
            corrupt=data and Fault.CHECKSUM in self.faults,
        )
        self.seq = not self.seq

    def answer(self, message: bytes) -> tuple[bytes | None, bool]:
        """(reply or None after an unplug, whether it is a data reply)."""
        if message == lb.VERSION_REQUEST:
            return lb.encode_version(self.version), False
        if message == lb.SERIAL_REQUEST:
            return lb.SUCCESS + self.serial.encode("ascii"), False
        if message == lb.UNIT_REQUEST:
            return lb.encode_unit("mmol/L"), False
        if message[:2] == b"\x05\x20" and len(message) == 7:
            if message[2] == 0x01:
                self.set_clock(lb.from_meter_seconds(int.from_bytes(message[3:], "little")))
            return lb.encode_clock(self.clock()), False
        if message[:2] == b"\x05\x1f" and len(message) == 4:
            index = int.from_bytes(message[2:], "little")
            if index == lb.COUNT_RECORD:
                if (
                    Fault.DROP_MEASUREMENT in self.faults
                    and self.measured
                    and not self.measure_dropped
                ):
                    self.measure_dropped = True
                    self.unplug()
                    return None, False
                return lb.encode_count(len(self.memory)), False
            if Fault.DEVICE_ERROR in self.faults or index >= len(self.memory):
                return REFUSED, False
            if Fault.DROP_DOWNLOAD in self.faults and self.records_sent == len(self.memory) // 2:
                self.unplug()
                return None, False
            self.records_sent += 1
            return lb.encode_record(self.memory[index]), True
        return REFUSED, False
