"""Emulated BLE health devices on a real Bluetooth stack: Google's bumble.

Each peripheral (:mod:`.bps`, :mod:`.glucose`, :mod:`.and_ua651`,
:mod:`.omron`, :mod:`.weight`, :mod:`.plx`, :mod:`.thermometer`, sharing
:mod:`.peripheral`)
keeps its behaviour in a small GATT server model
(:mod:`.gatt`: services, characteristics, ATT errors, one connection) and is
put on bumble's in-process link with an emulated controller of its own
(:mod:`.bumble_radio`). The unchanged driver code reaches it through a bleak
backend over bumble's central (:mod:`.bumble_backend`): real ATT PDUs, CCCD
writes, notifications, indications and their confirmations, advertising and
disconnections, and pairing and bonding by bumble's Security Manager on both
sides (a device that requires a bonded station, pairs only in its window,
forgets its bond and then refuses the stale key). The bytes in each
attribute are the real protocol bytes,
produced by the same codecs the drivers decode with. :mod:`.build` makes a
peripheral from a driver's ``options.emulator``.
"""
