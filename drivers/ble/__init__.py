"""Bluetooth LE drivers: the Bluetooth SIG health profiles first, vendors on top.

Each driver's module docstring is its contract. Codecs (pure) live beside
them: :mod:`.ieee11073`, :mod:`.bps_codec`, :mod:`.glucose_codec`,
:mod:`.racp`, :mod:`.gatt_time`, :mod:`.devinfo`, :mod:`.battery`,
:mod:`.and_custom`, :mod:`.weight_codec`, :mod:`.plx_codec`, :mod:`.hts_codec`,
and Omron's memory protocol in :mod:`.omron`; the transport is :mod:`.link`,
which takes a :class:`~drivers.ble.link.BleBackend` from outside (the
platform's by default); pairing and bonds are :mod:`.pairing` and :mod:`.bonds`.
The emulated peripherals and the bumble backend that reaches them are in
``emulation/ble``, outside the product.
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
    ),
    DriverSpec(
        name="ble-glucose-standard",
        role="glucose",
        transport="ble",
        summary="Bluetooth SIG Glucose Service (0x1808) meter with RACP memory download",
        opener="drivers.ble.glucose:open_device",
    ),
    DriverSpec(
        name="ble-and-ua651",
        role="blood_pressure",
        transport="ble",
        summary="A&D Medical UA-651BLE (standard BPS + Date Time + A&D custom service)",
        opener="drivers.ble.and_ua651:open_device",
    ),
    DriverSpec(
        name="ble-omron",
        role="blood_pressure",
        transport="ble",
        summary="Omron BLE monitor (HEM-7361T, HEM-7322T, HEM-7600T, …): memory protocol, bonded",
        opener="drivers.ble.omron.driver:open_device",
    ),
    DriverSpec(
        name="ble-weight-standard",
        role="weight",
        transport="ble",
        summary="Bluetooth SIG Weight Scale Service (0x181D) scale, Body Composition (0x181B) too",
        opener="drivers.ble.weight:open_device",
    ),
    DriverSpec(
        name="ble-plx-standard",
        role="pulse_oximeter",
        transport="ble",
        summary="Bluetooth SIG Pulse Oximeter Service (0x1822) oximeter, spot-check memory by RACP",
        opener="drivers.ble.plx:open_device",
    ),
    DriverSpec(
        name="ble-thermometer-standard",
        role="thermometer",
        transport="ble",
        summary="Bluetooth SIG Health Thermometer Service (0x1809) thermometer",
        opener="drivers.ble.thermometer:open_device",
    ),
)
