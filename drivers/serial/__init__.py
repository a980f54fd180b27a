"""Serial (RS-232 / USB-serial) glucose meters and blood pressure monitors.

Each model is one module with its docstring as the contract; pure codecs
(``lifescan_text``, ``lifescan_binary``, ``lineformat``) carry no I/O; the
transport (``transport``) owns the port; every driver's registry opener is
:func:`drivers.serial.opener.port_opener` over its device. The emulated twins
(behind a pty) are in ``emulation/serial``, outside the product.
"""

from __future__ import annotations

from drivers.registry import DriverSpec

DRIVERS: tuple[DriverSpec, ...] = (
    DriverSpec(
        name="onetouch-ultra2",
        role="glucose",
        transport="serial",
        summary="LifeScan OneTouch Ultra 2 (text protocol, 9600 8N1)",
        opener="drivers.serial.otultra2:open_device",
    ),
    DriverSpec(
        name="onetouch-ultraeasy",
        role="glucose",
        transport="serial",
        summary="LifeScan OneTouch UltraEasy / UltraMini (binary protocol, 9600 8N1)",
        opener="drivers.serial.otultraeasy:open_device",
    ),
    DriverSpec(
        name="serial-line-bp",
        role="blood_pressure",
        transport="serial",
        summary="blood pressure monitor printing lines in a configured format (options.format)",
        opener="drivers.serial.linemonitor:open_blood_pressure",
    ),
    DriverSpec(
        name="serial-line-glucose",
        role="glucose",
        transport="serial",
        summary="glucose meter printing lines in a configured format (options.format)",
        opener="drivers.serial.linemonitor:open_glucose",
    ),
)
