"""An emulated Omron blood pressure monitor: one twin per memory layout
(:data:`drivers.ble.omron.layouts.MODELS`), speaking the vendor protocol with
the same bytes the driver decodes (:mod:`drivers.ble.omron`).

What it models:

- **Bonding.** Every vendor characteristic needs a bonded (encrypted) link;
  the monitor pairs only in its pairing window (:meth:`press_pairing_button`,
  the Bluetooth button held until -P- blinks) and can forget its bond.
- **The unlock key.** ``02`` + zeros enters key programming only in the window
  and over the bonded link (``82 00``; else ``82 0f``); ``00`` + key stores it
  (``80 00``) and closes the window; ``01`` + key unlocks a session (``81 00``,
  else ``81 0f`` — what a real device answers to a wrong key is not
  documented; the driver treats anything but ``81 00`` as refused).
- **The memory.** A 64 KiB image: the settings (unread section, device clock)
  at the model's settings address, each user's ring of records. A write is
  accepted only into the settings' writable shadow (the write address), which
  updates the settings; the clock section follows the device clock.
- **Measurements.** :meth:`add_record` stores a record as the monitor does
  after a measurement (write slot and unread count move on). With
  ``measure_after_s``, a new measurement is stored that long after a session
  is unlocked (as when the elder presses START while the kiosk waits).
- **The standard path** (``standard_service``): a Blood Pressure Service whose
  Blood Pressure Measurement indications carry the records not sent that way
  yet, and a Current Time Service.
- **Faults** (:class:`~emulation.ble.peripheral.Fault`): ``bad_check_byte``
  (every reply's check byte is wrong), ``short_frame`` (read replies carry two
  bytes fewer than asked), ``wrong_key`` (the monitor holds another host's
  key), ``drop_mid_read`` (the link drops at the first read of the records).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
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
from drivers.ble.ieee11073 import sfloat_from_decimal
from drivers.ble.omron import frames
from drivers.ble.omron.frames import (
    Frame,
    Kind,
    OmronFrameError,
    Reassembler,
    UnlockOp,
    decode_frame,
    decode_unlock_frame,
    encode_frame,
    split,
)
from drivers.ble.omron.layouts import ModelLayout, TimeFormat, layout_for
from drivers.ble.omron.memory import (
    NOTHING_UNREAD,
    TimeSection,
    UnreadSection,
    decode_time,
    decode_unread,
    encode_time,
    encode_unread,
)
from drivers.ble.omron.records import OmronRecord, decode_record, encode_record
from emulation.ble.gatt import INDICATE_BIT, Characteristic, Connection, LinkDown, Service
from emulation.ble.peripheral import DEFAULT_BATTERY_PERCENT, EmulatedDevice, Fault
from healthkiosk.errors import ProtocolError
from healthkiosk.readings import PressureUnit

log = logging.getLogger(__name__)

IMAGE_SIZE = 0x10000
KEY_REFUSED = bytes([0x81, 0x0F])
KEY_NOT_STORED = bytes([0x80, 0x0F])
ID_BYTES = bytes.fromhex("000000940413110207785a00ffff954d")
"""The 16 ID bytes of the HEM-7280T in omblepy issue #57 (any would do)."""
KEPT_CLOCK_BYTES = {
    TimeFormat.SHORT_10: bytes.fromhex("08c8"),
    TimeFormat.LONG_16: bytes.fromhex("c8a8000000000000"),
}
"""Bytes before the clock fields, from the captures (issue #57, hass-omron)."""


class OmronEmulator(EmulatedDevice):
    advertised_service = frames.SERVICE

    def __init__(
        self,
        *,
        tz: tzinfo,
        model: str = "HEM-7361T",
        faults: frozenset[Fault] = frozenset(),
        address: str = "C0:FF:EE:07:36:1A",
        name: str | None = None,
        key: bytes | None = None,
        stored: int = 3,
        stored_user: int = 1,
        measure_after_s: float | None = None,
        measure_user: int = 1,
        standard_service: bool = False,
        battery_percent: int | None = DEFAULT_BATTERY_PERCENT,
        systolic: int = 132,
        diastolic: int = 84,
        pulse: int = 68,
        seed: int = 7,
        bond_at_start: bool = False,
        pairing_window_at_start_s: float | None = None,
    ) -> None:
        """``key``: the unlock key the monitor holds (None: none programmed yet);
        ``stored``: records already in ``stored_user``'s memory, a day apart,
        the newest a day old; ``bond_at_start``: bonded with the emulated
        station as soon as it starts (paired in an earlier run)."""
        self.bond_at_start = bond_at_start
        self.pairing_window_at_start_s = pairing_window_at_start_s
        self.layout: ModelLayout = layout_for(model)
        self.key = key
        self.measure_after_s = measure_after_s
        self.measure_user = measure_user
        self.standard_service = standard_service
        self.values = (systolic, diastolic, pulse)
        self.image = bytearray(b"\xff" * IMAGE_SIZE)
        self.reads: list[tuple[int, int]] = []
        """(address, length) of every read command answered (tests check that
        no record slot is read twice)."""
        self.writes: list[tuple[int, bytes]] = []
        self.sessions = 0
        self.sent_standard: set[tuple[int, OmronRecord]] = set()
        self._unlocked = False
        self._programming = False
        self._pending_measurement = False
        self._rx = Reassembler()
        self._records_read = 0
        self._record_count = 0
        self._tx = [
            Characteristic(u, ("write", "write-without-response"), on_write=self._on_tx(i))
            for i, u in enumerate(frames.TX_CHANNELS)
        ]
        self.rx = [Characteristic(u, ("notify",)) for u in frames.RX_CHANNELS]
        self.unlock = Characteristic(frames.UNLOCK, ("write", "notify"), on_write=self._on_unlock)
        self.bpm = Characteristic(uuids.BLOOD_PRESSURE_MEASUREMENT, ("indicate",))
        super().__init__(
            name=name or f"BLEsmart_{self.layout.model}",
            address=address,
            manufacturer="OMRON HEALTHCARE",
            model=self.layout.model,
            serial=f"EMU-{self.layout.model}",
            firmware="emu-1",
            tz=tz,
            faults=faults,
            seed=seed,
            with_current_time=standard_service,
            battery_percent=battery_percent,
            bonding=True,
        )
        if Fault.WRONG_KEY in faults:
            self.key = bytes(reversed(frames.DEFAULT_KEY))  # another phone's key
        self._init_settings()
        now = self.device_now()
        for i in range(stored):
            when = now - timedelta(days=stored - i)
            self.add_record(self.record_at(when, systolic=120 + i % 20), user=stored_user)

    def profile_services(self) -> list[Service]:
        services = [Service(frames.SERVICE, [self.unlock, *self._tx, *self.rx])]
        if self.standard_service:
            feature = Characteristic(
                uuids.BLOOD_PRESSURE_FEATURE,
                ("read",),
                encode_feature(BloodPressureFeature(True, False, True, False, False, False)),
            )
            services.append(Service(uuids.BLOOD_PRESSURE_SERVICE, [self.bpm, feature]))
        return services

    # --- the memory image --------------------------------------------------------
    @property
    def settings_size(self) -> int:
        return self.layout.settings_write - self.layout.settings_read

    def _init_settings(self) -> None:
        layout = self.layout
        if layout.unread_size is not None:
            rest = bytes(layout.unread_size - 8)
            section = UnreadSection((0, 0, NOTHING_UNREAD, NOTHING_UNREAD), rest)
            self._put(layout.settings_read, encode_unread(section, layout))
        if layout.time is not None:
            self._sync_clock_bytes()

    def _put(self, address: int, data: bytes) -> None:
        self.image[address : address + len(data)] = data

    def _get(self, address: int, length: int) -> bytes:
        return bytes(self.image[address : address + length])

    def _clock_address(self) -> int:
        return self.layout.settings_read + self.layout.time_offset

    def _sync_clock_bytes(self) -> None:
        layout = self.layout
        if layout.time is None:
            return
        address = self._clock_address()
        old = self._get(address, layout.time_size)
        try:
            section = decode_time(old, layout)
            kept, spare = section.kept, section.spare
        except ProtocolError:
            kept, spare = KEPT_CLOCK_BYTES[layout.time], 0
        now = self.device_now().replace(microsecond=0)
        self._put(address, encode_time(TimeSection(now, kept, spare), layout))

    def unread_section(self) -> UnreadSection:
        layout = self.layout
        return decode_unread(self._get(layout.settings_read, layout.unread_size or 0), layout)

    def record_at(self, when: datetime, *, systolic: int | None = None) -> OmronRecord:
        sys_, dia, pulse = self.values
        return OmronRecord(
            systolic=systolic or sys_,
            diastolic=dia,
            pulse=pulse,
            year=when.year,
            month=when.month,
            day=when.day,
            hour=when.hour,
            minute=when.minute,
            second=when.second,
            irregular_heartbeat=Fault.IRREGULAR_PULSE in self.faults,
            movement=Fault.BODY_MOVEMENT in self.faults,
        )

    def add_record(self, record: OmronRecord, *, user: int = 1) -> int:
        """Store ``record`` as the monitor does after a measurement; its slot."""
        layout = self.layout
        area = layout.user(user)
        if layout.unread_size is None:
            slot = self._record_count % area.capacity
        else:
            section = self.unread_section()
            slot = section.write_slot(user) % area.capacity
            self._put(
                layout.settings_read,
                encode_unread(section.with_new_record(user, area.capacity), layout),
            )
        self._record_count += 1
        self._put(area.start + slot * layout.record_size, encode_record(record, layout))
        log.info("%s: stored a record for user %d in slot %d", self.peripheral.name, user, slot)
        return slot

    def records(self, user: int = 1) -> list[OmronRecord]:
        """Every record in ``user``'s memory, in slot order."""
        layout = self.layout
        area = layout.user(user)
        out = []
        for slot in range(area.capacity):
            raw = self._get(area.start + slot * layout.record_size, layout.record_size)
            record = decode_record(raw, layout)
            if record is not None:
                out.append(record)
        return out

    def measure_now(self) -> OmronRecord:
        """The elder measured: a record timestamped by the device clock."""
        record = self.record_at(self.device_now())
        self.add_record(record, user=self.measure_user)
        return record

    # --- the unlock characteristic -------------------------------------------------
    def _on_unlock(self, conn: Connection, data: bytes) -> None:
        try:
            op, key = decode_unlock_frame(data)
        except OmronFrameError:
            return  # a real device ignores what it does not understand
        if op is UnlockOp.ENTER_KEY_PROGRAMMING:
            ok = self.pairing_window_open() and conn.encrypted
            self._programming = ok
            self._answer_unlock(
                frames.KEY_PROGRAMMING_READY if ok else frames.KEY_PROGRAMMING_REFUSED
            )
        elif op is UnlockOp.PROGRAM_KEY:
            if not self._programming:
                self._answer_unlock(KEY_NOT_STORED)
                return
            self.key = key
            self._programming = False
            self.close_pairing_window()
            log.info("%s: unlock key stored", self.peripheral.name)
            self._answer_unlock(frames.KEY_STORED)
        else:
            self._unlocked = self.key is not None and key == self.key
            self._answer_unlock(frames.UNLOCK_OK if self._unlocked else KEY_REFUSED)
            if self._unlocked:
                self.sessions += 1
                self._measure_soon()

    def _answer_unlock(self, head: bytes) -> None:
        self.spawn(self._notify(self.unlock, head + bytes(14)))

    async def _notify(self, char: Characteristic, value: bytes) -> None:
        try:
            await self.peripheral.notify(char, value)
        except LinkDown:
            return

    def _measure_soon(self) -> None:
        if self.measure_after_s is not None and not self._pending_measurement:
            self._pending_measurement = True
            self.spawn(self._measure_later(self.measure_after_s))

    async def _measure_later(self, delay_s: float) -> None:
        try:
            await asyncio.sleep(delay_s)
            self.measure_now()
        finally:
            self._pending_measurement = False

    # --- the memory frames ---------------------------------------------------------
    def _on_tx(self, channel: int) -> Callable[[Connection, bytes], None]:
        def on_write(conn: Connection, data: bytes) -> None:
            try:
                whole = self._rx.feed(channel, data)
            except OmronFrameError:
                return
            if whole is not None:
                self._frame(conn, whole)

        return on_write

    def _frame(self, conn: Connection, raw: bytes) -> None:
        try:
            frame = decode_frame(raw)
        except ProtocolError:
            return  # a bad check byte: the device does not answer
        if not self._unlocked:
            return
        if frame.kind is Kind.START:
            self._reply(Frame(Kind.START_REPLY, 0, frames.ID_BYTES, ID_BYTES))
        elif frame.kind is Kind.END:
            self._reply(Frame(Kind.END_REPLY, 0, 0))
        elif frame.kind is Kind.READ:
            self._read(frame)
        elif frame.kind is Kind.WRITE:
            self._write(frame)

    def _in_records(self, address: int) -> bool:
        return any(
            u.start <= address < u.start + u.capacity * self.layout.record_size
            for u in self.layout.users
        )

    def _read(self, frame: Frame) -> None:
        if self._in_records(frame.address):
            self._records_read += 1
            if Fault.DROP_MID_READ in self.faults:
                self.peripheral.drop_link()
                return
        self._sync_clock_bytes()
        data = self._get(frame.address, frame.length)
        self.reads.append((frame.address, frame.length))
        if Fault.SHORT_FRAME in self.faults:
            data = data[:-2]
        self._reply(Frame(Kind.READ_REPLY, frame.address, frame.length, data))

    def _write(self, frame: Frame) -> None:
        layout = self.layout
        base = layout.settings_write
        if not base <= frame.address < base + self.settings_size - len(frame.data) + 1:
            log.warning(
                "%s: write at %#06x refused (not settings)", self.peripheral.name, frame.address
            )
            return
        target = layout.settings_read + (frame.address - base)
        self._put(target, frame.data)
        self.writes.append((frame.address, frame.data))
        clock = self._clock_address()
        if (
            layout.time is not None
            and target < clock + layout.time_size
            and (clock < target + len(frame.data))
        ):
            section = decode_time(self._get(clock, layout.time_size), layout)
            self.set_device_clock(section.when.replace(tzinfo=self.tz))
        self._reply(Frame(Kind.WRITE_REPLY, frame.address, frame.length, frame.data))

    def _reply(self, frame: Frame) -> None:
        raw = bytearray(encode_frame(frame))
        if Fault.BAD_CHECK_BYTE in self.faults:
            raw[-1] ^= 0x5A
        self.spawn(self._send(bytes(raw)))

    async def _send(self, raw: bytes) -> None:
        try:
            for i, piece in enumerate(split(raw)):
                await self.peripheral.notify(self.rx[i], piece)
        except LinkDown:
            return

    # --- the standard path -----------------------------------------------------------
    def subscribed(self, conn: Connection, char: Characteristic, value: int) -> None:
        if char is self.bpm and value & INDICATE_BIT:
            self.spawn(self._send_standard())

    async def _send_standard(self) -> None:
        """Indicate every record not sent this way yet (both users, oldest first)."""
        for user in range(1, len(self.layout.users) + 1):
            for record in self.records(user):
                ident = (user, record)
                if ident in self.sent_standard:
                    continue
                value = encode_measurement(_bps_record(record, user))
                try:
                    if await self.peripheral.indicate(self.bpm, value):
                        self.sent_standard.add(ident)
                except LinkDown:
                    return

    # --- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        await super().start()
        if self.bond_at_start:
            await self.bond_with_station()
        if self.pairing_window_at_start_s is not None:
            self.press_pairing_button(self.pairing_window_at_start_s)

    def _connected(self, conn: Connection) -> None:
        super()._connected(conn)
        self._unlocked = False
        self._programming = False
        self._rx.clear()

    def describe(self) -> str:
        key = "none" if self.key is None else self.key.hex()
        return super().describe() + f"\n  Omron {self.layout.model}; unlock key {key}"


def _bps_record(record: OmronRecord, user: int) -> BloodPressureRecord:
    when = record.when
    mean = Decimal(record.systolic + 2 * record.diastolic) // 3
    return BloodPressureRecord(
        unit=PressureUnit.MMHG,
        systolic=sfloat_from_decimal(record.systolic),
        diastolic=sfloat_from_decimal(record.diastolic),
        mean_arterial_pressure=sfloat_from_decimal(mean),
        timestamp=DateTime.from_datetime(when),
        pulse_rate=sfloat_from_decimal(record.pulse),
        user_id=user,
        status=MeasurementStatus(
            body_movement=record.movement,
            irregular_pulse=record.irregular_heartbeat,
            pulse_rate_range=PulseRateRange.WITHIN,
        ),
    )
