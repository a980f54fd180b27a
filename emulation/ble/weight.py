"""An emulated Weight Scale Service scale (0x181D), with a Body Composition
Service (0x181B) when asked: someone steps on, the scale indicates the
measurements it stored while nobody listened (oldest first), then the one
just made, then its body composition (in two packets: a full one does not
fit the 20 bytes of a default ATT MTU), and hangs up.

Faults: ``garbage`` (flags promising every field, then too few bytes),
``short_frame`` (a valid value missing its last byte), ``drop_mid_measurement``
(the link dropped after the stored records, before the weight),
``special_value`` (0xFFFF, measurement unsuccessful), ``out_of_range`` (0 kg),
``wrong_clock``."""

from __future__ import annotations

import asyncio
from datetime import timedelta, tzinfo
from decimal import Decimal

from drivers.ble import uuids
from drivers.ble.gatt_time import DateTime
from drivers.ble.weight_codec import (
    BodyCompositionFeature,
    BodyCompositionRecord,
    WeightRecord,
    WeightScaleFeature,
    encode_body_composition,
    encode_body_composition_feature,
    encode_weight_measurement,
    encode_weight_scale_feature,
)
from emulation.ble.gatt import INDICATE_BIT, Characteristic, Connection, LinkDown, Service
from emulation.ble.peripheral import DEFAULT_BATTERY_PERCENT, EmulatedDevice, Fault
from healthkiosk.readings import KG_PER_LB, WeightUnit

KG_STEP, LB_STEP = Decimal("0.005"), Decimal("0.01")


class WeightScaleEmulator(EmulatedDevice):
    advertised_service = uuids.WEIGHT_SCALE_SERVICE

    def __init__(
        self,
        *,
        tz: tzinfo,
        faults: frozenset[Fault] = frozenset(),
        address: str = "C0:FF:EE:00:18:1D",
        name: str = "WSS-EMU",
        weight_kg: Decimal = Decimal("68.4"),
        height_m: Decimal | None = Decimal("1.65"),
        unit: WeightUnit = WeightUnit.KG,
        user_id: int | None = 1,
        stored: int = 0,
        body_composition: bool = False,
        body_fat_percent: Decimal = Decimal("27.5"),
        measure_after_s: float = 0.05,
        hang_up_s: float = 0.3,
        seed: int = 29,
        with_current_time: bool = True,
        battery_percent: int | None = DEFAULT_BATTERY_PERCENT,
    ) -> None:
        self.weight_kg = Decimal(weight_kg)
        self.height_m = None if height_m is None else Decimal(height_m)
        self.unit = unit
        self.user_id = user_id
        self.stored = stored
        self.body_fat_percent = Decimal(body_fat_percent)
        self.measure_after_s = measure_after_s
        self.hang_up_s = hang_up_s
        self.weights_sent = 0
        self.body_packets_sent = 0
        self.weight = Characteristic(uuids.WEIGHT_MEASUREMENT, ("indicate",))
        self.feature = Characteristic(
            uuids.WEIGHT_SCALE_FEATURE,
            ("read",),
            encode_weight_scale_feature(
                WeightScaleFeature(True, True, True, weight_resolution=4, height_resolution=3)
            ),
        )
        self.body: Characteristic | None = None
        self.body_feature: Characteristic | None = None
        if body_composition:
            self.body = Characteristic(uuids.BODY_COMPOSITION_MEASUREMENT, ("indicate",))
            self.body_feature = Characteristic(
                uuids.BODY_COMPOSITION_FEATURE,
                ("read",),
                encode_body_composition_feature(
                    BodyCompositionFeature(
                        frozenset(
                            {"time_stamp", "multiple_users", "muscle_percentage", "weight"}
                            | {"height", "impedance", "body_water_mass", "basal_metabolism"}
                        ),
                        mass_resolution=4,
                        height_resolution=3,
                    )
                ),
            )
        super().__init__(
            name=name,
            address=address,
            manufacturer="healthkiosk emulator",
            model="WSS-EMU-1",
            serial="EMU-000181D",
            firmware="1.0.0-emu",
            tz=tz,
            faults=faults,
            seed=seed,
            with_current_time=with_current_time,
            battery_percent=battery_percent,
        )
        self.peripheral.rssi = -58

    def profile_services(self) -> list[Service]:
        services = [Service(uuids.WEIGHT_SCALE_SERVICE, [self.weight, self.feature])]
        if self.body is not None and self.body_feature is not None:
            services.append(Service(uuids.BODY_COMPOSITION_SERVICE, [self.body, self.body_feature]))
        return services

    def subscribed(self, conn: Connection, char: Characteristic, value: int) -> None:
        if char is self.weight and value & INDICATE_BIT:
            self.spawn(self.run_measurement(conn))

    # --- values ----------------------------------------------------------------
    def _mass(self, kg: Decimal) -> Decimal:
        """``kg`` in the scale's unit, on its field's 5 g / 0.01 lb steps."""
        if self.unit is WeightUnit.KG:
            return (kg / KG_STEP).to_integral_value() * KG_STEP
        return (kg / Decimal(str(KG_PER_LB)) / LB_STEP).to_integral_value() * LB_STEP

    def _height(self) -> Decimal | None:
        if self.height_m is None:
            return None
        if self.unit is WeightUnit.KG:
            return self.height_m.quantize(Decimal("0.001"))
        return (self.height_m / Decimal("0.0254")).quantize(Decimal("0.1"))

    def record(self, kg: Decimal, when: DateTime) -> WeightRecord:
        height = self._height()
        bmi = None
        if height is not None and self.height_m is not None:
            bmi = (kg / (self.height_m * self.height_m)).quantize(Decimal("0.1"))
        return WeightRecord(
            unit=self.unit,
            weight=self._mass(kg),
            timestamp=when,
            user_id=self.user_id,
            bmi=bmi,
            height=height,
        )

    def result_bytes(self) -> bytes:
        if Fault.GARBAGE in self.faults:
            return bytes([0x0F]) + self.rng.randbytes(self.rng.randint(2, 8))
        now = DateTime.from_datetime(self.device_now())
        record = self.record(self.weight_kg, now)
        if Fault.SPECIAL_VALUE in self.faults:
            record = WeightRecord(self.unit, None, now, self.user_id)
        elif Fault.OUT_OF_RANGE in self.faults:
            record = WeightRecord(self.unit, Decimal(0), now, self.user_id)
        raw = encode_weight_measurement(record)
        return raw[:-1] if Fault.SHORT_FRAME in self.faults else raw

    def body_packets(self) -> list[bytes]:
        """The body composition of the result, as two packets."""
        now = DateTime.from_datetime(self.device_now())
        height = self._height()
        first = BodyCompositionRecord(
            unit=self.unit,
            body_fat_percent=self.body_fat_percent,
            timestamp=now,
            user_id=self.user_id,
            basal_metabolism_kj=Decimal(5900),
            muscle_percent=Decimal("34.0"),
            multiple_packet=True,
        )
        rest = BodyCompositionRecord(
            unit=self.unit,
            body_fat_percent=self.body_fat_percent,
            body_water_mass=self._mass(self.weight_kg * Decimal("0.52")),
            impedance_ohm=Decimal("512.3"),
            weight=self._mass(self.weight_kg),
            height=height,
        )
        return [encode_body_composition(first), encode_body_composition(rest)]

    # --- the measurement -------------------------------------------------------
    async def run_measurement(self, conn: Connection) -> None:
        try:
            await asyncio.sleep(self.measure_after_s)
            now = self.device_now()
            for i in range(self.stored, 0, -1):
                older = self.record(
                    self.weight_kg + Decimal(i) / 2,
                    DateTime.from_datetime(now - timedelta(days=i, hours=3)),
                )
                await self.peripheral.indicate(self.weight, encode_weight_measurement(older))
            if Fault.DROP_MID_MEASUREMENT in self.faults:
                self.peripheral.drop_link()
                return
            if await self.peripheral.indicate(self.weight, self.result_bytes()):
                self.weights_sent += 1
            body = self.body
            if body is not None and conn.subscribed(body, INDICATE_BIT):
                for packet in self.body_packets():
                    if await self.peripheral.indicate(body, packet):
                        self.body_packets_sent += 1
            await asyncio.sleep(self.hang_up_s)
            self.peripheral.drop_link()  # a scale goes back to sleep
        except LinkDown:
            return
