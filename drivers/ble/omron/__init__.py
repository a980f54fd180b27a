"""Omron blood pressure monitors over Bluetooth LE.

The pure codec is :mod:`.frames` (the vendor transport: unlock frames, memory
frames with their XOR check byte, four-channel segmentation), :mod:`.layouts`
(each model's memory map, as data), :mod:`.records` (record bytes ↔ values)
and :mod:`.memory` (the unread counters, the device clock, the ring
arithmetic). The driver on :mod:`drivers.ble.link` is :mod:`.driver`. The
protocol, its sources and the worked bytes: docs/protocols/omron.md.
"""
