"""An emulated Pulse Oximeter Service oximeter (0x1822): a finger goes in, the
continuous measurement settles (early estimates first), then holds; a
spot-check follows once it has settled. With a ``memory``, stored spot-checks
are read through the Record Access Control Point (all records only, as the
Pulse Oximeter Service allows).

``qualified``: the oximeter marks settled data "fully qualified" (and says so
in PLX Features); without it, the driver must judge stability itself.
``continuous`` / ``spot_check``: which measurement characteristics it has.

Faults: ``garbage`` (a frame whose flags promise more than it carries),
``short_frame`` (a valid frame missing its last byte), ``drop_mid_measurement``,
``unstable`` (values that never settle), ``invalid`` (every value flagged
"invalid measurement detected"), ``sensor_off`` ("sensor unconnected to
user"), ``special_value`` (SpO2 NaN), ``out_of_range`` (SpO2 130 %),
``drop_mid_download``, ``racp_error``, ``wrong_clock``."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta, tzinfo

from drivers.ble import racp, uuids
from drivers.ble.gatt_time import DateTime
from drivers.ble.ieee11073 import Nfloat, Special
from drivers.ble.plx_codec import (
    ContinuousRecord,
    DeviceStatus,
    MeasurementStatus,
    PlxFeatures,
    SpotCheckRecord,
    encode_continuous,
    encode_features,
    encode_spot_check,
)
from drivers.ble.racp import OpCode, Operator, RacpRequest, RacpResponse, ResponseCode
from emulation.ble.gatt import (
    INDICATE_BIT,
    NOTIFY_BIT,
    AttError,
    AttErrorCode,
    Characteristic,
    Connection,
    LinkDown,
    Service,
)
from emulation.ble.peripheral import DEFAULT_BATTERY_PERCENT, EmulatedDevice, Fault

log = logging.getLogger(__name__)


class PulseOximeterEmulator(EmulatedDevice):
    advertised_service = uuids.PULSE_OXIMETER_SERVICE

    def __init__(
        self,
        *,
        tz: tzinfo,
        faults: frozenset[Fault] = frozenset(),
        address: str = "C0:FF:EE:00:18:22",
        name: str = "PLX-EMU",
        spo2: int = 97,
        pulse: int = 72,
        qualified: bool = True,
        continuous: bool = True,
        spot_check: bool = True,
        settle_frames: int = 3,
        frames: int = 12,
        step_s: float = 0.01,
        measure_after_s: float = 0.05,
        memory: int = 0,
        stored_on_connect: int = 0,
        drop_after: int | None = None,
        racp_response: ResponseCode = ResponseCode.PROCEDURE_NOT_COMPLETED,
        seed: int = 22,
        battery_percent: int | None = DEFAULT_BATTERY_PERCENT,
    ) -> None:
        self.spo2, self.pulse = spo2, pulse
        self.qualified = qualified
        self.settle_frames = settle_frames
        self.frames = frames
        self.step_s = step_s
        self.measure_after_s = measure_after_s
        self._downloading = False
        self.stored_on_connect = stored_on_connect
        self.drop_after = drop_after if drop_after is not None else memory // 2
        self.racp_response = racp_response
        self.frames_sent = 0
        self.spot_checks_sent = 0
        self.sent: Counter[int] = Counter()
        """How many times each stored record went over the air."""
        self._dropped = False
        self._running = False
        self.continuous: Characteristic | None = None
        self.spot: Characteristic | None = None
        self.racp: Characteristic | None = None
        if continuous:
            self.continuous = Characteristic(uuids.PLX_CONTINUOUS_MEASUREMENT, ("notify",))
        if spot_check:
            self.spot = Characteristic(uuids.PLX_SPOT_CHECK_MEASUREMENT, ("indicate",))
        supported = {"measurement_status_support", "device_and_sensor_status_support"}
        supported |= {"pulse_amplitude_index", "spot_check_time_stamp"}
        if memory and spot_check:
            supported.add("spot_check_measurement_storage")
            self.racp = Characteristic(
                uuids.RECORD_ACCESS_CONTROL_POINT, ("write", "indicate"), on_write=self._racp_write
            )
        self.features = Characteristic(
            uuids.PLX_FEATURES,
            ("read",),
            encode_features(
                PlxFeatures(
                    supported=frozenset(supported),
                    measurement_status_support=MeasurementStatus(
                        measurement_ongoing=True,
                        early_estimated_data=True,
                        fully_qualified_data=qualified,
                        data_from_measurement_storage=bool(memory or stored_on_connect),
                        invalid_measurement_detected=True,
                    ),
                    device_status_support=DeviceStatus(
                        sensor_unconnected_to_user=True, poor_signal_detected=True
                    ),
                )
            ),
        )
        super().__init__(
            name=name,
            address=address,
            manufacturer="healthkiosk emulator",
            model="PLX-EMU-1",
            serial="EMU-0001822",
            firmware="1.0.0-emu",
            tz=tz,
            faults=faults,
            seed=seed,
            battery_percent=battery_percent,
        )
        self.peripheral.rssi = -61
        self.memory: list[SpotCheckRecord] = []
        self.fill_memory(memory)

    def profile_services(self) -> list[Service]:
        chars = [c for c in (self.spot, self.continuous, self.racp) if c is not None]
        return [Service(uuids.PULSE_OXIMETER_SERVICE, [*chars, self.features])]

    # --- values ------------------------------------------------------------------
    def fill_memory(self, count: int) -> None:
        start = self.device_now() - timedelta(hours=6 * count)
        for i in range(count):
            when = DateTime.from_datetime(start + timedelta(hours=6 * i))
            spo2 = 93 + self.rng.randint(0, 6)
            self.memory.append(self._spot(spo2, 60 + self.rng.randint(0, 30), when, stored=True))

    def _status(self, *, settled: bool, ongoing: bool = True) -> MeasurementStatus:
        return MeasurementStatus(
            measurement_ongoing=ongoing,
            early_estimated_data=not settled,
            fully_qualified_data=settled and self.qualified,
            invalid_measurement_detected=Fault.INVALID in self.faults,
        )

    def _device_status(self) -> DeviceStatus:
        return DeviceStatus(sensor_unconnected_to_user=Fault.SENSOR_OFF in self.faults)

    def _spo2(self, spo2: int) -> Nfloat:
        if Fault.SPECIAL_VALUE in self.faults:
            return Nfloat.of(Special.NAN)
        if Fault.OUT_OF_RANGE in self.faults:
            return Nfloat(130, 0)
        return Nfloat(spo2 * 10, -1)

    def _spot(self, spo2: int, pulse: int, when: DateTime, *, stored: bool) -> SpotCheckRecord:
        return SpotCheckRecord(
            spo2=Nfloat(spo2 * 10, -1) if stored else self._spo2(spo2),
            pulse_rate=Nfloat(pulse, 0),
            timestamp=when,
            measurement_status=MeasurementStatus(data_from_measurement_storage=True)
            if stored
            else self._status(settled=True, ongoing=False),
            device_status=DeviceStatus() if stored else self._device_status(),
            pulse_amplitude_index=Nfloat(52, -1),
        )

    def frame(self, i: int) -> bytes:
        settled = i >= self.settle_frames and Fault.UNSTABLE not in self.faults
        if Fault.UNSTABLE in self.faults:
            spo2, pulse = self.spo2 - 2 * (i % 4), self.pulse + 7 * (i % 3)
        elif settled:
            spo2, pulse = self.spo2, self.pulse
        else:
            spo2, pulse = self.spo2 - self.settle_frames + i, self.pulse + 9 - 3 * i
        record = ContinuousRecord(
            spo2=self._spo2(spo2),
            pulse_rate=Nfloat(pulse, 0),
            measurement_status=self._status(settled=settled),
            device_status=self._device_status(),
            pulse_amplitude_index=Nfloat(48 + i % 5, -1),
        )
        return self._damaged(encode_continuous(record), at=i == self.settle_frames)

    def spot_bytes(self) -> bytes:
        record = self._spot(
            self.spo2, self.pulse, DateTime.from_datetime(self.device_now()), stored=False
        )
        return self._damaged(encode_spot_check(record), at=True)

    def _damaged(self, raw: bytes, *, at: bool) -> bytes:
        if at and Fault.GARBAGE in self.faults:
            return bytes([0x1F]) + self.rng.randbytes(self.rng.randint(4, 12))
        if at and Fault.SHORT_FRAME in self.faults:
            return raw[:-1]
        return raw

    # --- the measurement ---------------------------------------------------------
    def subscribed(self, conn: Connection, char: Characteristic, value: int) -> None:
        # The driver subscribes to the spot-check first and the continuous last:
        # the finger "goes in" at the last subscription this oximeter has.
        last = self.continuous or self.spot
        if char is last and value & (NOTIFY_BIT | INDICATE_BIT) and not self._running:
            self._running = True
            self.spawn(self.run_measurement(conn))

    def _connected(self, conn: Connection) -> None:
        super()._connected(conn)
        self._running = False
        self._downloading = False

    async def run_measurement(self, conn: Connection) -> None:
        try:
            await asyncio.sleep(self.measure_after_s)
            if self._downloading:
                return  # a memory download, not a finger
            spot = self.spot
            stored = self.memory[-self.stored_on_connect :] if self.stored_on_connect else []
            if spot is not None and conn.subscribed(spot, INDICATE_BIT):
                for record in stored:
                    await self.peripheral.indicate(spot, encode_spot_check(record))
            for i in range(self.frames):
                if Fault.DROP_MID_MEASUREMENT in self.faults and i == self.settle_frames:
                    self.peripheral.drop_link()
                    return
                cont = self.continuous
                if cont is not None and await self.peripheral.notify(cont, self.frame(i)):
                    self.frames_sent += 1
                await asyncio.sleep(self.step_s)
            settled = Fault.UNSTABLE not in self.faults
            if (
                spot is not None
                and settled
                and await self.peripheral.indicate(spot, self.spot_bytes())
            ):
                self.spot_checks_sent += 1
        except LinkDown:
            return

    # --- memory (RACP) -----------------------------------------------------------
    def _racp_write(self, conn: Connection, data: bytes) -> None:
        if self.racp is None or not conn.subscribed(self.racp, INDICATE_BIT):
            raise AttError(AttErrorCode.CCCD_IMPROPERLY_CONFIGURED)
        self._downloading = True
        try:
            request = racp.decode(data)
        except racp.RacpError:
            op = data[0] if data else 0
            self.spawn(self._respond_raw(bytes([6, 0, op, ResponseCode.OP_CODE_NOT_SUPPORTED])))
            return
        if not isinstance(request, RacpRequest):
            return
        self.spawn(self._procedure(request))

    async def _respond_raw(self, value: bytes) -> None:
        if self.racp is None:
            return
        try:
            await self.peripheral.indicate(self.racp, value)
        except LinkDown:
            return

    async def _respond(self, request: OpCode, code: ResponseCode) -> None:
        await self._respond_raw(racp.encode(RacpResponse(OpCode.RESPONSE_CODE, request, code)))

    async def _procedure(self, request: RacpRequest) -> None:
        op = request.op_code
        if op is OpCode.ABORT_OPERATION:
            await self._respond(op, ResponseCode.SUCCESS)
            return
        if request.operator is not Operator.ALL_RECORDS:
            await self._respond(op, ResponseCode.OPERATOR_NOT_SUPPORTED)
            return
        if op is OpCode.REPORT_NUMBER_OF_STORED_RECORDS:
            await self._respond_raw(
                racp.encode(
                    RacpResponse(
                        OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE,
                        number_of_records=len(self.memory),
                    )
                )
            )
            return
        if op is OpCode.DELETE_STORED_RECORDS:
            self.memory.clear()
            await self._respond(op, ResponseCode.SUCCESS)
            return
        if Fault.RACP_ERROR in self.faults:
            await self._respond(op, self.racp_response)
            return
        if not self.memory:
            await self._respond(op, ResponseCode.NO_RECORDS_FOUND)
            return
        spot = self.spot
        if spot is None:
            return
        try:
            for n, record in enumerate(self.memory):
                drop = Fault.DROP_MID_DOWNLOAD in self.faults and not self._dropped
                if drop and n == self.drop_after:
                    self._dropped = True
                    self.peripheral.drop_link()
                    return
                payload = encode_spot_check(record)
                if Fault.GARBAGE in self.faults and n == len(self.memory) // 2:
                    payload = bytes([0x0F]) + self.rng.randbytes(5)
                await self.peripheral.indicate(spot, payload)
                self.sent[n] += 1
        except LinkDown:
            return
        await self._respond(op, ResponseCode.SUCCESS)

    def sent_more_than_once(self) -> list[int]:
        return sorted(n for n, count in self.sent.items() if count > 1)
