"""An emulated A&D UA-651BLE: the standard Blood Pressure Service without
Intermediate Cuff Pressure and without a Current Time Service, a Date Time
characteristic (0x2A08) in the Blood Pressure Service that must be written
soon after the central enables indications, the measurements kept in the
monitor's buffer sent oldest first, and A&D's custom command characteristic.
Built from the public descriptions cited in docs/protocols/and-ua-651ble.md,
not from a device."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta, tzinfo

from drivers.ble import and_custom, uuids
from drivers.ble.bps_codec import encode_measurement
from drivers.ble.gatt_time import DateTime, TimeCodecError, decode_date_time
from emulation.ble.bps import BpsEmulator
from emulation.ble.gatt import (
    INDICATE_BIT,
    AttError,
    AttErrorCode,
    Characteristic,
    Connection,
    LinkDown,
    Service,
)
from emulation.ble.peripheral import DEFAULT_BATTERY_PERCENT, Fault


class AndUa651Emulator(BpsEmulator):
    def __init__(
        self,
        *,
        tz: tzinfo,
        faults: frozenset[Fault] = frozenset(),
        systolic: int = 131,
        diastolic: int = 84,
        pulse: int = 66,
        stored: int = 2,
        time_window_s: float = 5.0,
        hang_up_s: float = 2.0,
        battery_percent: int | None = DEFAULT_BATTERY_PERCENT,
    ) -> None:
        self.date_time = Characteristic(
            uuids.DATE_TIME, ("read", "write"), on_write=self._write_date_time
        )
        self.custom = Characteristic(
            uuids.AND_CUSTOM_CHARACTERISTIC,
            ("read", "write", "indicate"),
            on_write=self._write_custom,
        )
        self.stored = stored
        self.time_window_s = time_window_s
        self.hang_up_s = hang_up_s
        self.custom_commands: list[and_custom.AndFrame] = []
        self._time_written = asyncio.Event()
        super().__init__(
            tz=tz,
            faults=faults,
            address="5C:31:3E:00:4B:6B",
            name="A&D_UA-651_EMU",
            systolic=systolic,
            diastolic=diastolic,
            pulse=pulse,
            model="UA-651BLE",
            manufacturer="A&D Medical",
            with_current_time=False,
            battery_percent=battery_percent,
        )
        self.peripheral.rssi = -71

    def profile_services(self) -> list[Service]:
        return [
            Service(uuids.BLOOD_PRESSURE_SERVICE, [self.bpm, self.feature, self.date_time]),
            Service(uuids.AND_CUSTOM_SERVICE, [self.custom]),
        ]

    def _write_date_time(self, _conn: Connection, data: bytes) -> None:
        try:
            value = decode_date_time(data)
        except TimeCodecError:
            raise AttError(AttErrorCode.OUT_OF_RANGE) from None
        when = value.to_datetime(self.tz)
        if when is None:
            raise AttError(AttErrorCode.OUT_OF_RANGE)
        self.set_device_clock(when)
        self._time_written.set()

    def _write_custom(self, _conn: Connection, data: bytes) -> None:
        try:
            frame = and_custom.decode(data)
        except and_custom.AndCommandError:
            raise AttError(AttErrorCode.OUT_OF_RANGE) from None
        self.custom_commands.append(frame)
        if frame.command == and_custom.Command.DISCONNECT:
            asyncio.get_running_loop().call_soon(self.peripheral.drop_link)

    def _connected(self, conn: Connection) -> None:
        super()._connected(conn)
        self._time_written.clear()

    def subscribed(self, conn: Connection, char: Characteristic, value: int) -> None:
        if char is self.bpm and value & INDICATE_BIT:
            self.spawn(self.run_measurement(conn))

    async def run_measurement(self, conn: Connection) -> None:
        try:
            try:
                await asyncio.wait_for(self._time_written.wait(), self.time_window_s)
            except TimeoutError:
                self.peripheral.drop_link()  # the monitor gives up on this central
                return
            if Fault.DROP_MID_MEASUREMENT in self.faults:
                self.peripheral.drop_link()
                return
            while self.stored_records:  # measured alone since the last connection
                record = self.stored_records.pop(0)
                await self.peripheral.indicate(self.bpm, encode_measurement(record))
                self.stored_sent += 1
            if not self.measure_on_connect:
                await asyncio.sleep(self.hang_up_s)
                self.peripheral.drop_link()
                return
            newest = self.result_record()
            for i in range(self.stored, 0, -1):
                older = replace(
                    newest,
                    status=None,
                    timestamp=DateTime.from_datetime(self.device_now() - timedelta(days=i)),
                    systolic=self._pressure(self.systolic + 3 * i),
                )
                await self.peripheral.indicate(self.bpm, encode_measurement(older))
            await self.send_results(conn)
            await asyncio.sleep(self.hang_up_s)
            self.peripheral.drop_link()
        except LinkDown:
            return
