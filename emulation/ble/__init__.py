"""Emulated BLE: GATT peripherals in this process, reached by the unchanged
driver code through a custom bleak backend (:mod:`.backend`).

This is a faithful model of the GATT server side — services, characteristics,
Client Characteristic Configuration descriptors, read/write/notify/indicate,
ATT error codes, MTU-limited values and disconnects — not a radio stack: there
is no HCI, no link layer and no pairing. The bytes in each attribute are the
real protocol bytes, produced by the same codecs the drivers decode with.
"""
