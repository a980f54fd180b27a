"""Bluetooth LE drivers: the Bluetooth SIG health profiles first, vendors on top.

Each driver's module docstring is its contract. Codecs (pure) live beside
them: :mod:`.ieee11073`, :mod:`.bps_codec`, :mod:`.glucose_codec`,
:mod:`.racp`, :mod:`.gatt_time`, :mod:`.devinfo`, :mod:`.battery`,
:mod:`.and_custom`; the transport is :mod:`.link`; emulated peripherals and the bleak backend that
reaches them are in :mod:`.emulated`.
"""

from __future__ import annotations

from drivers.registry import DriverSpec

DRIVERS = (
    DriverSpec(
        name="ble-bp-standard",
        role="blood_pressure",
        transport="ble",
        summary="Bluetooth SIG Blood Pressure Service (0x1810) monitor",
        opener="drivers.ble.bps:open_device",
        emulator="drivers.ble.emulated.runners:run_bps",
    ),
    DriverSpec(
        name="ble-glucose-standard",
        role="glucose",
        transport="ble",
        summary="Bluetooth SIG Glucose Service (0x1808) meter with RACP memory download",
        opener="drivers.ble.glucose:open_device",
        emulator="drivers.ble.emulated.runners:run_glucose",
    ),
    DriverSpec(
        name="ble-and-ua651",
        role="blood_pressure",
        transport="ble",
        summary="A&D Medical UA-651BLE (standard BPS + Date Time + A&D custom service)",
        opener="drivers.ble.and_ua651:open_device",
        emulator="drivers.ble.emulated.runners:run_and",
    ),
)
