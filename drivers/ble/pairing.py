"""Pairing a device with this station, on :mod:`drivers.ble.link`.

Field reports from Omron users and integrations (docs/guides/devices.md)
shape the steps:

1. **Forget a stale bond first.** When BlueZ still holds a bond the device has
   forgotten, ``Pair()`` returns at once and every connection fails with "PIN
   or Key Missing"; putting the device back in pairing mode does not help.
   So a bond this station holds for the device is removed before pairing.
2. **Pair within the device's window.** The technician holds the device's
   Bluetooth button until its pairing sign (Omron: a blinking **-P-**) shows;
   the device then accepts a pairing for some seconds only. The station scans
   for it, connects and pairs (bleak ``pair()``: Just Works, bonding), retrying
   a refused attempt while the window lasts.
3. **Check the bond is kept** (``Device1.Bonded``): a pairing for the session
   only would fail again at the next connection.
4. **The device's own step**, if its driver has one (Omron: program the
   unlock key, which the device accepts only over the bonded link).

Every failure is a :class:`~healthkiosk.errors.DeviceError` whose ``reason``
the technician's screen and ``healthkiosk devices pair`` turn into plain
words, Chinese and English (``pair.error.*`` in kiosk/app/texts.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from drivers.ble import radio_errors
from drivers.ble.bonds import BondState, BondStore
from drivers.ble.link import BleBackend, BleLink, find_device
from healthkiosk.errors import DeviceConnectionError, DeviceError, DeviceTimeoutError
from healthkiosk.readings import DeviceInfo

log = logging.getLogger(__name__)

PAIRING_WINDOW_S = 30.0
"""How long the station keeps trying (an Omron -P- window lasts about that)."""
RETRY_PAUSE_S = 1.0


class Step(StrEnum):
    """What the pairing is doing now (shown to the technician)."""

    REMOVING_OLD_BOND = "removing_old_bond"
    LOOKING = "looking"
    BONDING = "bonding"
    DEVICE_KEY = "device_key"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Paired:
    info: DeviceInfo
    bond: BondState
    removed_old_bond: bool


DeviceStep = Callable[[BleLink], Awaitable[None]]
"""A driver's own step on the freshly bonded link (Omron: its unlock key)."""


async def pair_device(
    *,
    service_uuid: str | None,
    address: str | None,
    backend: BleBackend,
    label: str,
    window_s: float = PAIRING_WINDOW_S,
    connect_timeout_s: float = 20.0,
    device_step: DeviceStep | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> Paired:
    """Pair the device at ``address`` (or the first one advertising
    ``service_uuid``; None: whatever the device at ``address`` advertises)
    with this station and keep the bond."""

    def step(now: Step) -> None:
        log.info("%s: pairing: %s", label, now.value)
        if on_step is not None:
            on_step(now)

    bonds = backend.bond_store()
    async with bonds.pairing_agent():
        return await _pair(
            bonds,
            service_uuid=service_uuid,
            address=address,
            backend=backend,
            label=label,
            window_s=window_s,
            connect_timeout_s=connect_timeout_s,
            device_step=device_step,
            step=step,
        )


async def _pair(
    bonds: BondStore,
    *,
    service_uuid: str | None,
    address: str | None,
    backend: BleBackend,
    label: str,
    window_s: float,
    connect_timeout_s: float,
    device_step: DeviceStep | None,
    step: Callable[[Step], None],
) -> Paired:
    removed = False
    if address is not None and (await bonds.state(address)).has_bond:
        step(Step.REMOVING_OLD_BOND)
        removed = await bonds.remove(address)
    step(Step.LOOKING)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window_s
    last: DeviceError | None = None
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            device = await find_device(
                service_uuid=service_uuid,
                address=address,
                backend=backend,
                timeout_s=remaining,
                label=label,
            )
        except DeviceError as err:
            if err.reason in radio_errors.RADIO_DOWN:
                raise
            last = err
            break
        if address is None and (await bonds.state(device.address)).has_bond:
            step(Step.REMOVING_OLD_BOND)
            removed = await bonds.remove(device.address) or removed
        link = BleLink(device, backend=backend, label=label)
        try:
            await link.connect(timeout_s=connect_timeout_s)
            step(Step.BONDING)
            await link.pair(timeout_s=max(1.0, deadline - loop.time()))
            bond = await link.bond_state()
            if not bond.bonded:
                raise DeviceConnectionError(
                    "the device paired for this session only and kept no bond",
                    device=link.label,
                    reason=radio_errors.PAIRING_FAILED,
                )
            info = await link.read_device_info(model_fallback=label)
            if device_step is not None:
                step(Step.DEVICE_KEY)
                await device_step(link)
        except DeviceError as err:
            # The window may not be open yet, or the link dropped: try again
            # while it lasts. A radio that is off will not come back by itself.
            last = err
            if err.reason in radio_errors.RADIO_DOWN:
                raise
            log.info("%s: pairing attempt failed (%s); trying again", label, err.reason)
            await link.close()
            await asyncio.sleep(min(RETRY_PAUSE_S, max(0.0, deadline - loop.time())))
            continue
        finally:
            await link.close()
        step(Step.DONE)
        return Paired(info=info, bond=bond, removed_old_bond=removed)
    if last is not None:
        raise last
    raise DeviceTimeoutError(f"no pairing within {window_s:.0f} s", device=label)
