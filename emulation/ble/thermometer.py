"""An emulated Health Thermometer Service thermometer (0x1809): once a central
subscribes to Temperature Measurement, the reading climbs (Intermediate
Temperature notifications), the thermometer indicates the measurements it
stored while nobody listened (oldest first), then the final one, and hangs up.

Faults: ``garbage`` (flags promising a time stamp and type, then too few
bytes), ``short_frame`` (a valid value missing its last byte),
``drop_mid_measurement`` (the link dropped while the value climbs),
``special_value`` (NaN), ``out_of_range`` (55 °C), ``wrong_clock``."""

from __future__ import annotations

import asyncio
from datetime import timedelta, tzinfo
from decimal import Decimal

from drivers.ble import uuids
from drivers.ble.gatt_time import DateTime
from drivers.ble.hts_codec import TemperatureRecord, encode_measurement, encode_temperature_type
from drivers.ble.ieee11073 import Nfloat, Special
from emulation.ble.gatt import INDICATE_BIT, Characteristic, Connection, LinkDown, Service
from emulation.ble.peripheral import DEFAULT_BATTERY_PERCENT, EmulatedDevice, Fault
from healthkiosk.readings import TemperatureUnit

ARMPIT = 1


class ThermometerEmulator(EmulatedDevice):
    advertised_service = uuids.HEALTH_THERMOMETER_SERVICE

    def __init__(
        self,
        *,
        tz: tzinfo,
        faults: frozenset[Fault] = frozenset(),
        address: str = "C0:FF:EE:00:18:09",
        name: str = "HTS-EMU",
        celsius: Decimal = Decimal("36.6"),
        unit: TemperatureUnit = TemperatureUnit.CELSIUS,
        temperature_type: int | None = ARMPIT,
        type_in_measurement: bool = False,
        stored: int = 0,
        steps: int = 6,
        step_s: float = 0.01,
        hang_up_s: float = 0.3,
        seed: int = 9,
        with_current_time: bool = True,
        battery_percent: int | None = DEFAULT_BATTERY_PERCENT,
    ) -> None:
        """``temperature_type``: the fixed site (Temperature Type 0x2A1D), or in
        each measurement with ``type_in_measurement``; None: no type at all."""
        self.celsius = Decimal(celsius)
        self.unit = unit
        self.temperature_type = temperature_type
        self.type_in_measurement = type_in_measurement
        self.stored = stored
        self.steps = steps
        self.step_s = step_s
        self.hang_up_s = hang_up_s
        self.results_sent = 0
        self.intermediates_sent = 0
        self.measurement = Characteristic(uuids.TEMPERATURE_MEASUREMENT, ("indicate",))
        self.intermediate = Characteristic(uuids.INTERMEDIATE_TEMPERATURE, ("notify",))
        self.type_char: Characteristic | None = None
        if temperature_type is not None and not type_in_measurement:
            self.type_char = Characteristic(
                uuids.TEMPERATURE_TYPE, ("read",), encode_temperature_type(temperature_type)
            )
        super().__init__(
            name=name,
            address=address,
            manufacturer="healthkiosk emulator",
            model="HTS-EMU-1",
            serial="EMU-0001809",
            firmware="1.0.0-emu",
            tz=tz,
            faults=faults,
            seed=seed,
            with_current_time=with_current_time,
            battery_percent=battery_percent,
        )
        self.peripheral.rssi = -66

    def profile_services(self) -> list[Service]:
        chars = [self.measurement, self.intermediate]
        if self.type_char is not None:
            chars.append(self.type_char)
        return [Service(uuids.HEALTH_THERMOMETER_SERVICE, chars)]

    def subscribed(self, conn: Connection, char: Characteristic, value: int) -> None:
        if char is self.measurement and value & INDICATE_BIT:
            self.spawn(self.run_measurement(conn))

    # --- values ----------------------------------------------------------------
    def value(self, celsius: Decimal) -> Nfloat:
        """``celsius`` in the thermometer's unit, to 0.01, as a FLOAT."""
        shown = celsius if self.unit is TemperatureUnit.CELSIUS else celsius * 9 / 5 + 32
        return Nfloat(int(shown.quantize(Decimal("0.01")) * 100), -2)

    def record(self, celsius: Decimal, when: DateTime | None) -> TemperatureRecord:
        return TemperatureRecord(
            unit=self.unit,
            temperature=self.value(celsius),
            timestamp=when,
            temperature_type=self.temperature_type if self.type_in_measurement else None,
        )

    def result_bytes(self) -> bytes:
        if Fault.GARBAGE in self.faults:
            return bytes([0x06]) + self.rng.randbytes(self.rng.randint(1, 8))
        record = self.record(self.celsius, DateTime.from_datetime(self.device_now()))
        if Fault.SPECIAL_VALUE in self.faults:
            record = TemperatureRecord(self.unit, Nfloat.of(Special.NAN), record.timestamp)
        elif Fault.OUT_OF_RANGE in self.faults:
            record = TemperatureRecord(self.unit, self.value(Decimal(55)), record.timestamp)
        raw = encode_measurement(record)
        return raw[:-1] if Fault.SHORT_FRAME in self.faults else raw

    def climb(self) -> list[Decimal]:
        start = Decimal("34.0")
        step = (self.celsius - start) / max(self.steps, 1)
        return [(start + step * i).quantize(Decimal("0.1")) for i in range(self.steps)]

    # --- the measurement -------------------------------------------------------
    async def run_measurement(self, conn: Connection) -> None:
        try:
            for i, celsius in enumerate(self.climb()):
                if Fault.DROP_MID_MEASUREMENT in self.faults and i == self.steps // 2:
                    self.peripheral.drop_link()
                    return
                if await self.peripheral.notify(
                    self.intermediate, encode_measurement(self.record(celsius, None))
                ):
                    self.intermediates_sent += 1
                await asyncio.sleep(self.step_s)
            now = self.device_now()
            for i in range(self.stored, 0, -1):
                older = self.record(
                    self.celsius + Decimal(i) / 10,
                    DateTime.from_datetime(now - timedelta(days=i, hours=2)),
                )
                await self.peripheral.indicate(self.measurement, encode_measurement(older))
            if await self.peripheral.indicate(self.measurement, self.result_bytes()):
                self.results_sent += 1
            await asyncio.sleep(self.hang_up_s)
            self.peripheral.drop_link()
        except LinkDown:
            return
