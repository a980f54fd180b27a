"""Second-generation resident ID card readers (SAM frame protocol over serial)."""

from __future__ import annotations

from drivers.registry import DriverSpec

DRIVERS: tuple[DriverSpec, ...] = (
    DriverSpec(
        name="sam-idcard",
        role="id_card",
        transport="serial",
        summary="second-generation ID card reader, SAM frames (AA AA AA 96 69), 115200 8N1",
        opener="drivers.idcard.sam_reader:open_device",
    ),
)
