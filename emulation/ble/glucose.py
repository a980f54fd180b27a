"""An emulated Glucose Service meter (0x1808) with a Record Access Control
Point, a memory of stored records (1,000 by default in the fault tests), and
the faults of :class:`~emulation.ble.peripheral.Fault`."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from drivers.ble import racp, uuids
from drivers.ble.gatt_time import DateTime
from drivers.ble.glucose_codec import (
    ConcentrationUnit,
    GlucoseContext,
    GlucoseFeature,
    GlucoseRecord,
    Meal,
    SensorStatus,
    encode_context,
    encode_feature,
    encode_measurement,
)
from drivers.ble.ieee11073 import Nfloat, Special
from drivers.ble.racp import OpCode, Operator, RacpRequest, ResponseCode
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
from healthkiosk.readings import MG_PER_DL_PER_MMOL_PER_L

log = logging.getLogger(__name__)

CAPILLARY_PLASMA, FINGER = 2, 1


class GlucoseEmulator(EmulatedDevice):
    advertised_service = uuids.GLUCOSE_SERVICE

    def __init__(
        self,
        *,
        tz: tzinfo,
        faults: frozenset[Fault] = frozenset(),
        memory: int = 20,
        address: str = "C0:FF:EE:00:18:08",
        name: str = "GLS-EMU",
        seed: int = 8,
        drop_after: int | None = None,
        racp_response: ResponseCode = ResponseCode.PROCEDURE_NOT_COMPLETED,
        new_record_after_s: float | None = None,
        battery_percent: int | None = DEFAULT_BATTERY_PERCENT,
    ) -> None:
        self.measurement = Characteristic(uuids.GLUCOSE_MEASUREMENT, ("notify",))
        self.context = Characteristic(uuids.GLUCOSE_MEASUREMENT_CONTEXT, ("notify",))
        self.feature = Characteristic(
            uuids.GLUCOSE_FEATURE, ("read",), encode_feature(GlucoseFeature(0x03FF))
        )
        self.racp = Characteristic(
            uuids.RECORD_ACCESS_CONTROL_POINT, ("write", "indicate"), on_write=self._racp_write
        )
        super().__init__(
            name=name,
            address=address,
            manufacturer="healthkiosk emulator",
            model="GLS-EMU-1",
            serial="EMU-0001808",
            firmware="1.0.0-emu",
            tz=tz,
            faults=faults,
            seed=seed,
            battery_percent=battery_percent,
        )
        self.peripheral.rssi = -63
        self.records: dict[int, tuple[GlucoseRecord, GlucoseContext | None]] = {}
        self.next_sequence = 1
        self.sent: Counter[int] = Counter()
        """How many times each record's measurement went over the air."""
        self.drop_after = drop_after if drop_after is not None else memory * 2 // 5
        self.racp_response = racp_response
        self.new_record_after_s = new_record_after_s
        self._strip_pending = False
        self._dropped = False
        self.racp_requests = 0
        self.counts_records = True
        """False: answers "op code not supported" to report-number requests."""
        self.aborts = 0
        self._procedure: asyncio.Task[None] | None = None
        self.fill_memory(memory)

    def profile_services(self) -> list[Service]:
        return [
            Service(
                uuids.GLUCOSE_SERVICE, [self.measurement, self.context, self.feature, self.racp]
            )
        ]

    # --- memory ------------------------------------------------------------------
    def fill_memory(self, count: int) -> None:
        start = self.device_now() - timedelta(hours=4 * count)
        for i in range(count):
            mmol = Decimal(self.rng.randint(40, 120)) / 10
            meal = (Meal.FASTING, Meal.POSTPRANDIAL, None)[i % 3]
            self.add_record(mmol, meal=meal, when=start + timedelta(hours=4 * i), newest=False)

    def add_record(
        self,
        mmol_per_l: Decimal,
        *,
        meal: Meal | None = None,
        when: datetime | None = None,
        newest: bool = True,
    ) -> int:
        """Store a record as a strip measurement would (faults apply to the newest)."""
        seq = self.next_sequence
        self.next_sequence += 1
        at = self.device_now() if when is None else when
        unit = ConcentrationUnit.MOL_PER_L if seq % 5 == 0 else ConcentrationUnit.KG_PER_L
        if unit is ConcentrationUnit.KG_PER_L:
            mg_dl = int((mmol_per_l * Decimal(str(MG_PER_DL_PER_MMOL_PER_L))).to_integral_value())
            value = Nfloat(mg_dl, -5)
        else:
            value = Nfloat(int(mmol_per_l * 10), -4)
        status: SensorStatus | None = None
        if newest and Fault.STRIP_ERROR in self.faults:
            status = SensorStatus(strip_insertion_error=True)
        if newest and Fault.SPECIAL_VALUE in self.faults:
            value = Nfloat.of(Special.NAN)
        if newest and Fault.OUT_OF_RANGE in self.faults:
            unit, value = ConcentrationUnit.MOL_PER_L, Nfloat(5, -1)  # 500 mmol/L
        if newest and Fault.RESULT_HIGH in self.faults:
            unit, value = ConcentrationUnit.MOL_PER_L, Nfloat(333, -4)
            status = SensorStatus(result_too_high=True)
        record = GlucoseRecord(
            sequence_number=seq,
            base_time=DateTime.from_datetime(at),
            time_offset_minutes=0,
            concentration=value,
            unit=unit,
            sample_type=CAPILLARY_PLASMA,
            sample_location=FINGER,
            sensor_status=status,
            context_follows=meal is not None,
        )
        context = None if meal is None else GlucoseContext(sequence_number=seq, meal=meal)
        self.records[seq] = (record, context)
        return seq

    # --- sessions ----------------------------------------------------------------
    def subscribed(self, conn: Connection, char: Characteristic, value: int) -> None:
        if char is self.racp and value & INDICATE_BIT:
            self._strip_soon()

    def _strip_soon(self) -> None:
        """A strip measured ``new_record_after_s`` from now (one at a time), as
        when an elder inserts a strip while the kiosk waits for it."""
        if self.new_record_after_s is not None and not self._strip_pending:
            self._strip_pending = True
            self.spawn(self._strip_later(self.new_record_after_s))

    async def _strip_later(self, delay_s: float) -> None:
        try:
            await asyncio.sleep(delay_s)
            self.add_record(Decimal("6.4"), meal=Meal.FASTING)
        finally:
            self._strip_pending = False

    def _select(self, request: RacpRequest) -> list[int]:
        seqs = sorted(self.records)
        op = request.operator
        if op is Operator.ALL_RECORDS:
            return seqs
        if op is Operator.FIRST_RECORD:
            return seqs[:1]
        if op is Operator.LAST_RECORD:
            return seqs[-1:]
        if op is Operator.LESS_THAN_OR_EQUAL:
            return [s for s in seqs if s <= request.operand[0]]
        if op is Operator.GREATER_THAN_OR_EQUAL:
            return [s for s in seqs if s >= request.operand[0]]
        low, high = request.operand
        return [s for s in seqs if low <= s <= high]

    def _racp_write(self, conn: Connection, data: bytes) -> None:
        self.racp_requests += 1
        if not conn.subscribed(self.racp, INDICATE_BIT):
            raise AttError(AttErrorCode.CCCD_IMPROPERLY_CONFIGURED)
        busy = self._procedure is not None and not self._procedure.done()
        if busy and data[:1] != bytes([OpCode.ABORT_OPERATION]):
            raise AttError(AttErrorCode.PROCEDURE_ALREADY_IN_PROGRESS)
        try:
            request = racp.decode(data)
        except racp.RacpError:
            self.spawn(self._respond_raw(self._reject_code(data)))
            return
        if not isinstance(request, RacpRequest):
            self.spawn(
                self._respond_raw(bytes([6, 0, data[0], ResponseCode.OP_CODE_NOT_SUPPORTED]))
            )
            return
        if request.op_code is OpCode.ABORT_OPERATION:
            self.aborts += 1
            if busy and self._procedure is not None:
                self._procedure.cancel()
            self.spawn(self._respond(OpCode.ABORT_OPERATION, ResponseCode.SUCCESS))
            return
        self._procedure = asyncio.get_running_loop().create_task(self._run(request))
        self._tasks.add(self._procedure)
        self._procedure.add_done_callback(self._tasks.discard)

    @staticmethod
    def _reject_code(data: bytes) -> bytes:
        op = data[0] if data else 0
        if op not in {o.value for o in OpCode}:
            code = ResponseCode.OP_CODE_NOT_SUPPORTED
        elif len(data) < 2 or data[1] not in {o.value for o in Operator}:
            code = ResponseCode.INVALID_OPERATOR
        elif len(data) > 2 and data[2] != 1:
            code = ResponseCode.OPERAND_NOT_SUPPORTED
        else:
            code = ResponseCode.INVALID_OPERAND
        return bytes([OpCode.RESPONSE_CODE, 0, op, code])

    async def _respond_raw(self, value: bytes) -> None:
        try:
            await self.peripheral.indicate(self.racp, value)
        except LinkDown:
            return

    async def _respond(self, request: OpCode, code: ResponseCode) -> None:
        await self._respond_raw(racp.encode(racp.RacpResponse(OpCode.RESPONSE_CODE, request, code)))

    async def _run(self, request: RacpRequest) -> None:
        try:
            await self._procedure_body(request)
        except LinkDown:
            return

    async def _procedure_body(self, request: RacpRequest) -> None:
        op = request.op_code
        if Fault.RACP_ERROR in self.faults and op is OpCode.REPORT_STORED_RECORDS:
            await self._respond(op, self.racp_response)
            return
        if op is OpCode.REPORT_NUMBER_OF_STORED_RECORDS and not self.counts_records:
            await self._respond(op, ResponseCode.OP_CODE_NOT_SUPPORTED)
            return
        seqs = self._select(request)
        if op is OpCode.REPORT_NUMBER_OF_STORED_RECORDS:
            await self.peripheral.indicate(
                self.racp,
                racp.encode(
                    racp.RacpResponse(
                        OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, number_of_records=len(seqs)
                    )
                ),
            )
            return
        if not seqs:
            if op is OpCode.REPORT_STORED_RECORDS and request.operator is (
                Operator.GREATER_THAN_OR_EQUAL
            ):
                self._strip_soon()  # the kiosk waits for a new strip
            await self._respond(op, ResponseCode.NO_RECORDS_FOUND)
            return
        if op is OpCode.DELETE_STORED_RECORDS:
            for s in seqs:
                del self.records[s]
            await self._respond(op, ResponseCode.SUCCESS)
            return
        garbage_at = seqs[len(seqs) // 2] if Fault.GARBAGE in self.faults else None
        for n, seq in enumerate(seqs):
            record, context = self.records[seq]
            payload = encode_measurement(record)
            if seq == garbage_at:
                payload = bytes([0x1B]) + self.rng.randbytes(5)
            await self.peripheral.notify(self.measurement, payload)
            self.sent[seq] += 1
            if (
                Fault.DROP_MID_DOWNLOAD in self.faults
                and not self._dropped
                and n >= self.drop_after
            ) and context is not None:  # between a measurement and its context
                self._dropped = True
                self.peripheral.drop_link()  # and it advertises again
                return
            if context is not None:
                await self.peripheral.notify(self.context, encode_context(context))
        await self._respond(op, ResponseCode.SUCCESS)

    def sent_more_than_once(self) -> list[int]:
        return sorted(s for s, n in self.sent.items() if n > 1)

    def with_status(self, seq: int, status: SensorStatus) -> None:
        record, context = self.records[seq]
        self.records[seq] = (replace(record, sensor_status=status), context)


__all__ = ["NOTIFY_BIT", "GlucoseEmulator"]
