"""An emulated line-printing monitor or meter, speaking any configured format."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from drivers.serial import lineformat as lf
from emulation.serial.device import EmulatorOptions, Fault, SerialEmulator


class LineEmulator(SerialEmulator):
    def __init__(self, options: EmulatorOptions, fmt: lf.LineFormat) -> None:
        super().__init__(options)
        self.fmt = fmt
        self.codec = lf.LineCodec(fmt)
        self.model = f"{fmt.model or fmt.name} (emulated)"
        self.framer = lf.LineFramer(b"\n")
        now = self.clock()
        self.memory: list[dict[str, Any]] = [  # oldest first
            self.values(now - timedelta(hours=6 * (options.records - i)), i + 1)
            for i in range(options.records)
        ]
        self.measured = False

    def values(self, when: datetime, sequence: int) -> dict[str, Any]:
        glucose = round(self.rng.uniform(4.0, 12.0), 1)
        kpa = self.fmt.unit == "kPa"
        return {
            "systolic": 17.1 if kpa else 128,
            "diastolic": 10.9 if kpa else 82,
            "pulse": 71,
            "mean_arterial": 97,
            "glucose": f"{glucose:04.1f}" if self.fmt.unit == "mmol/L" else f"{glucose * 18:03.0f}",
            "sequence": sequence,
            "datetime": when,
        }

    async def line(self, values: dict[str, Any], *, data: bool = True) -> None:
        raw = self.codec.encode(values)
        if (
            data
            and Fault.CHECKSUM in self.faults
            and self.fmt.checksum.kind is not lf.ChecksumKind.NONE
        ):
            raw = _corrupt(raw, self.fmt)
        if Fault.GARBAGE in self.faults:
            junk = bytes(b for b in self.garbage() if b not in self.fmt.terminator_bytes)
            await self.send(junk + self.fmt.terminator_bytes)
        await self.send(raw)

    async def measure_alone(
        self,
        *,
        systolic: int = 152,
        diastolic: int = 96,
        glucose: float = 15.2,
        ago: timedelta = timedelta(hours=3),
    ) -> None:
        """Someone measured ``ago`` (by the device's clock) while no visit
        waited: the device prints the line at once, as it prints every
        measurement, and keeps it in its memory."""
        values = self.values(self.clock() - ago, len(self.memory) + 1)
        kpa = self.fmt.unit == "kPa"
        values["systolic"] = round(systolic / 7.5, 1) if kpa else systolic
        values["diastolic"] = round(diastolic / 7.5, 1) if kpa else diastolic
        values["glucose"] = (
            f"{glucose:04.1f}" if self.fmt.unit == "mmol/L" else f"{glucose * 18:03.0f}"
        )
        self.memory.append(values)
        await self.line(values)

    async def tick(self) -> None:
        if not self.measurement_due():
            return
        self.measured = True
        if Fault.NOISE in self.faults:
            await self.send_noise()
            return
        values = self.values(self.clock(), len(self.memory) + 1)
        if Fault.DEVICE_ERROR in self.faults and self.fmt.error_pattern:
            code = next(iter(self.fmt.error_codes), "E1")
            await self.send(self._error_line(code))
            return
        if Fault.OUT_OF_RANGE in self.faults:
            if self.fmt.kind == "glucose" and self.fmt.out_of_range_words:
                wanted = self.options.out_of_range
                word = next(w for w, f in self.fmt.out_of_range_words.items() if f == wanted)
                values["glucose"] = word
            else:
                values.update(systolic=_beyond(self.fmt, "systolic", values["systolic"]))
        if self.fmt.cuff_pattern:
            for pressure in (40, 120, 160, 140, 100):
                await self.send(f"CUFF,{pressure:03d}".encode() + self.fmt.terminator_bytes)
        if Fault.DROP_MEASUREMENT in self.faults:
            raw = self.codec.encode(values)
            await self.send(raw[: len(raw) // 2])
            self.unplug()
            return
        self.memory.append(values)
        await self.line(values)

    def _error_line(self, code: str) -> bytes:
        if self.fmt.name == "bp-stx-xor":
            return b"\x02" + code.encode() + self.fmt.terminator_bytes
        return f"ERR,{code}".encode() + self.fmt.terminator_bytes

    async def on_bytes(self, data: bytes) -> None:
        if not self.fmt.dump_command:
            return
        command = self.fmt.dump_command.encode(self.fmt.encoding)
        self.framer.feed(data)
        if command.strip() and command.strip() in data:
            await self.dump()

    async def dump(self) -> None:
        for i, values in enumerate(list(self.memory)):
            if Fault.DROP_DOWNLOAD in self.faults and i == len(self.memory) // 2:
                await self.link.drain()  # what was sent arrives; the rest is cut off
                self.unplug()
                return
            await self.line(values)
        await self.send(b"END" + self.fmt.terminator_bytes)


def _beyond(fmt: lf.LineFormat, field: str, value: float) -> float:
    limits = fmt.field_ranges.get(field)
    if limits is None or limits.max is None:
        return value
    top = limits.max + (1 if fmt.unit != "kPa" else 0.5)
    return int(top) if isinstance(value, int) else round(top, 1)


def _corrupt(raw: bytes, fmt: lf.LineFormat) -> bytes:
    """Flip one hex digit of the checksum (the last hex digit before the terminator)."""
    body = raw[: len(raw) - len(fmt.terminator_bytes)]
    for i in range(len(body) - 1, -1, -1):
        ch = chr(body[i])
        if ch in "0123456789ABCDEF":
            swapped = "1" if ch != "1" else "2"
            return body[:i] + swapped.encode() + body[i + 1 :] + fmt.terminator_bytes
    return raw
