"""An emulated Blood Pressure Service monitor (0x1810): the elder presses
start, the cuff inflates (Intermediate Cuff Pressure notifications), and the
result comes as a Blood Pressure Measurement indication — once a central has
subscribed to it.

Like many real monitors it keeps a memory: measurements made while no
station listened (:meth:`BpsEmulator.measure_alone`, someone using the
monitor between visits) are stored, and sent as indications right after a
central subscribes, oldest first, before the new measurement begins."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from drivers.ble import uuids
from drivers.ble.bps_codec import (
    BloodPressureFeature,
    BloodPressureRecord,
    MeasurementStatus,
    PulseRateRange,
    encode_feature,
    encode_measurement,
)
from drivers.ble.gatt_time import DateTime
from drivers.ble.ieee11073 import Nfloat, Special, sfloat_from_decimal
from emulation.ble.gatt import (
    INDICATE_BIT,
    Characteristic,
    Connection,
    LinkDown,
    Service,
)
from emulation.ble.peripheral import DEFAULT_BATTERY_PERCENT, EmulatedDevice, Fault
from healthkiosk.readings import KPA_TO_MMHG, PressureUnit

NAN = Nfloat.of(Special.NAN)


class BpsEmulator(EmulatedDevice):
    advertised_service = uuids.BLOOD_PRESSURE_SERVICE

    def __init__(
        self,
        *,
        tz: tzinfo,
        faults: frozenset[Fault] = frozenset(),
        address: str = "C0:FF:EE:00:18:10",
        name: str = "BPS-EMU",
        systolic: int = 128,
        diastolic: int = 82,
        pulse: int = 71,
        unit: PressureUnit = PressureUnit.MMHG,
        step_s: float = 0.01,
        seed: int = 4,
        model: str = "BPS-EMU-1",
        manufacturer: str = "healthkiosk emulator",
        with_current_time: bool = True,
        battery_percent: int | None = DEFAULT_BATTERY_PERCENT,
        bonding: bool = False,
        measure_on_connect: bool = True,
    ) -> None:
        self.systolic, self.diastolic, self.pulse = systolic, diastolic, pulse
        self.measure_on_connect = measure_on_connect
        """False: the monitor only sends what it stored (nobody presses start)."""
        self.stored_records: list[BloodPressureRecord] = []
        """Measurements made while no station listened, sent at the next subscription."""
        self.stored_sent = 0
        self.unit = unit
        self.step_s = step_s
        self.measurements_sent = 0
        self.cuff_pressures_sent = 0
        self.bpm = Characteristic(uuids.BLOOD_PRESSURE_MEASUREMENT, ("indicate",))
        self.icp = Characteristic(uuids.INTERMEDIATE_CUFF_PRESSURE, ("notify",))
        self.feature = Characteristic(
            uuids.BLOOD_PRESSURE_FEATURE,
            ("read",),
            encode_feature(BloodPressureFeature(True, True, True, True, True, False)),
        )
        super().__init__(
            name=name,
            address=address,
            manufacturer=manufacturer,
            model=model,
            serial="EMU-0001810",
            firmware="1.0.0-emu",
            tz=tz,
            faults=faults,
            seed=seed,
            with_current_time=with_current_time,
            battery_percent=battery_percent,
            bonding=bonding,
        )

    def profile_services(self) -> list[Service]:
        return [Service(uuids.BLOOD_PRESSURE_SERVICE, [self.bpm, self.icp, self.feature])]

    def subscribed(self, conn: Connection, char: Characteristic, value: int) -> None:
        if char is self.bpm and value & INDICATE_BIT:
            self.spawn(self._session(conn))

    def measure_alone(
        self, systolic: int, diastolic: int, pulse: int, *, ago: timedelta = timedelta(hours=3)
    ) -> None:
        """Someone measured on the monitor ``ago`` (by its own clock) while no
        station listened: the measurement is stored."""
        self.stored_records.append(
            self._record(systolic, diastolic, pulse, self.device_now() - ago)
        )

    async def _session(self, conn: Connection) -> None:
        """What a subscription starts: the stored measurements, then a new one."""
        try:
            while self.stored_records:
                if not await self.peripheral.indicate(
                    self.bpm, encode_measurement(self.stored_records[0])
                ):
                    return
                self.stored_records.pop(0)
                self.stored_sent += 1
        except LinkDown:
            return
        if self.measure_on_connect:
            await self.run_measurement(conn)

    # --- values ----------------------------------------------------------------
    def _pressure(self, mmhg: int | Decimal) -> Nfloat:
        if self.unit is PressureUnit.KPA:
            kpa = (Decimal(mmhg) / Decimal(str(KPA_TO_MMHG))).quantize(Decimal("0.1"))
            return sfloat_from_decimal(kpa)
        return sfloat_from_decimal(mmhg)

    def cuff_pressure_bytes(self, mmhg: int) -> bytes:
        return encode_measurement(BloodPressureRecord(self.unit, self._pressure(mmhg), NAN, NAN))

    def result_record(self) -> BloodPressureRecord:
        systolic = self._pressure(self.systolic)
        if Fault.SPECIAL_VALUE in self.faults:
            systolic = NAN
        elif Fault.OUT_OF_RANGE in self.faults:
            systolic = self._pressure(999)
        mean = self._pressure((self.systolic + 2 * self.diastolic) // 3)
        status = MeasurementStatus(
            body_movement=Fault.BODY_MOVEMENT in self.faults,
            cuff_too_loose=Fault.CUFF_LOOSE in self.faults,
            irregular_pulse=Fault.IRREGULAR_PULSE in self.faults,
            pulse_rate_range=PulseRateRange.WITHIN,
            improper_position=Fault.IMPROPER_POSITION in self.faults,
        )
        return BloodPressureRecord(
            unit=self.unit,
            systolic=systolic,
            diastolic=self._pressure(self.diastolic),
            mean_arterial_pressure=mean,
            timestamp=DateTime.from_datetime(self.device_now()),
            pulse_rate=sfloat_from_decimal(self.pulse),
            user_id=1,
            status=status,
        )

    def _record(
        self, systolic: int, diastolic: int, pulse: int, when: datetime
    ) -> BloodPressureRecord:
        return BloodPressureRecord(
            unit=self.unit,
            systolic=self._pressure(systolic),
            diastolic=self._pressure(diastolic),
            mean_arterial_pressure=self._pressure((systolic + 2 * diastolic) // 3),
            timestamp=DateTime.from_datetime(when),
            pulse_rate=sfloat_from_decimal(pulse),
            user_id=1,
            status=MeasurementStatus(pulse_rate_range=PulseRateRange.WITHIN),
        )

    def result_bytes(self) -> bytes:
        if Fault.GARBAGE in self.faults:
            # Flags promising every field, then too few bytes: what a corrupted
            # or truncated indication looks like. Never decodable by chance.
            return bytes([0x1F]) + self.rng.randbytes(self.rng.randint(6, 12))
        return encode_measurement(self.result_record())

    def cuff_profile(self) -> list[int]:
        top = self.systolic + 30
        up = [*range(20, top, 40), top]
        down = list(range(top - 10, self.diastolic - 10, -15))
        return up + down

    # --- the measurement -------------------------------------------------------
    async def run_measurement(self, conn: Connection) -> None:
        try:
            profile = self.cuff_profile()
            for i, mmhg in enumerate(profile):
                if Fault.DROP_MID_MEASUREMENT in self.faults and i == len(profile) // 2:
                    self.peripheral.drop_link()
                    return
                if await self.peripheral.notify(self.icp, self.cuff_pressure_bytes(mmhg)):
                    self.cuff_pressures_sent += 1
                await asyncio.sleep(self.step_s)
            await self.send_results(conn)
        except LinkDown:
            return

    async def send_results(self, conn: Connection) -> None:
        if await self.peripheral.indicate(self.bpm, self.result_bytes()):
            self.measurements_sent += 1
