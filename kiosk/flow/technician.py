"""The technician's screen, behind a PIN: device and sync status, a device
test, BLE pairing, and a restart of the app.

Pairing is guided: **Pair** shows how to put the device in its pairing window
(hold its Bluetooth button until -P- blinks); **Start pairing**, while it
blinks, bonds each BLE device (removing a bond the device has forgotten
first), pins its address when none is configured, and says each step and
any failure in plain words (``pair.step.*``, ``pair.error.*``).

Reached from the attract screen only (never during a visit). The PIN is
compared in constant time; the digits typed are dropped when the PIN screen
opens and when they are submitted.

Wrong PINs: :data:`FREE_TRIES` are allowed in a row; after each further one,
every PIN (the right one too) is refused for a delay that doubles, from
:data:`FIRST_DELAY_S` up to :data:`MAX_DELAY_S` (:func:`delay_after`), so the
10,000 four-digit PINs take years instead of seconds. The count and the end of
the delay are kept through :class:`~kiosk.flow.ports.PinAttempts` (a restart
gives no fresh tries) and reach the fleet page through the station's status.
The right PIN clears them. The built-in PIN (:data:`DEMO_PIN`) is for the demo
and ``--simulate`` only: a station refuses to start on it
(:func:`check_pin_for_station`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from healthkiosk.config import KioskConfig
from healthkiosk.errors import ConfigError, HealthKioskError
from healthkiosk.readings import DeviceInfo
from kiosk.flow.context import FlowContext
from kiosk.flow.errors import pair_error_key
from kiosk.flow.ports import MemoryPinAttempts, PinAttempts
from kiosk.flow.state import DeviceStatus, Screen, TechView

log = logging.getLogger(__name__)

PIN_MAX = 8
DEMO_PIN = "2468"
"""The PIN the configuration ships with (``kiosk.technician_pin``)."""
FREE_TRIES = 3
FIRST_DELAY_S = 30.0
MAX_DELAY_S = 3600.0


def delay_after(failures: int) -> float:
    """Seconds every PIN is refused after ``failures`` wrong ones in a row."""
    if failures <= FREE_TRIES:
        return 0.0
    return min(MAX_DELAY_S, FIRST_DELAY_S * 2.0 ** (failures - FREE_TRIES - 1))


def check_pin_for_station(cfg: KioskConfig, *, simulate: bool) -> None:
    """A real station (not ``--simulate``) must not run on the built-in PIN:
    the technician screen pairs devices. Raises :class:`ConfigError`."""
    if not simulate and cfg.technician_pin == DEMO_PIN:
        raise ConfigError(
            f"is the built-in demo PIN {DEMO_PIN}: set this station's own 4-8 digits in its "
            "configuration file (only the demo and --simulate accept the built-in one)",
            key="kiosk.technician_pin",
        )


STATUS_WAIT_S = 10.0
DEVICE_TEST_S = 30.0
"""The technician's test waits this long for each device to answer."""
PAIR_S = 75.0
"""A pairing waits this long per device: its window (30 s), connects, the bond."""


class Technician:
    def __init__(self, ctx: FlowContext, attempts: PinAttempts | None = None) -> None:
        self._ctx = ctx
        self._pin = ""
        self._attempts = attempts or MemoryPinAttempts()
        self._failures, until = self._attempts.load()
        self._locked_until = ctx.clock.monotonic()  # refused until (monotonic seconds)
        if until is not None:  # a delay left from before a restart (at most the longest one)
            left = (until - ctx.clock.now()).total_seconds()
            self._locked_until += max(0.0, min(left, MAX_DELAY_S))

    def _locked_s(self) -> int | None:
        left = self._locked_until - self._ctx.clock.monotonic()
        return math.ceil(left) if left > 0 else None

    # --- the PIN ---------------------------------------------------------------

    def open(self) -> None:
        ctx = self._ctx
        if ctx.state.screen is not Screen.ATTRACT:
            return
        ctx.idle_from_now()
        self._pin = ""
        ctx.update(
            screen=Screen.TECH_PIN, pin_length=0, pin_error=False, pin_locked_s=self._locked_s()
        )

    def pin_key(self, digit: str) -> None:
        ctx = self._ctx
        if ctx.state.screen is not Screen.TECH_PIN or not digit.isdigit():
            return
        if len(self._pin) >= PIN_MAX:
            return
        ctx.touch()
        self._pin += digit
        ctx.update(pin_length=len(self._pin), pin_error=False, pin_locked_s=self._locked_s())

    def pin_backspace(self) -> None:
        ctx = self._ctx
        if ctx.state.screen is not Screen.TECH_PIN:
            return
        ctx.touch()
        self._pin = self._pin[:-1]
        ctx.update(pin_length=len(self._pin), pin_error=False)

    def pin_submit(self) -> None:
        ctx = self._ctx
        if ctx.state.screen is not Screen.TECH_PIN:
            return
        ctx.touch()
        pin, self._pin = self._pin, ""
        locked = self._locked_s()
        if locked is not None:  # not even compared while the delay runs
            log.warning("technician screen: PIN refused, %d s of delay left", locked)
            ctx.update(pin_length=0, pin_error=True, pin_locked_s=locked)
            return
        ok = hmac.compare_digest(pin.encode(), ctx.cfg.technician_pin.encode())
        if not ok:
            self._failures += 1
            delay = delay_after(self._failures)
            self._locked_until = ctx.clock.monotonic() + delay
            until = ctx.clock.now() + timedelta(seconds=delay) if delay else None
            self._keep(until)
            log.warning(
                "technician screen: wrong PIN (%d in a row; next try in %g s)",
                self._failures,
                delay,
            )
            ctx.update(pin_length=0, pin_error=True, pin_locked_s=self._locked_s())
            return
        if self._failures:
            self._failures = 0
            self._keep(None)
        ctx.update(screen=Screen.TECHNICIAN, pin_length=0, pin_error=False, pin_locked_s=None)
        ctx.spawn(self._refresh, "tech-status")

    def _keep(self, until: datetime | None) -> None:
        try:
            self._attempts.save(self._failures, until, at=self._ctx.clock.now())
        except OSError as err:  # the count in memory still holds
            log.error("technician PIN attempts not kept: %s", err)

    # --- the technician's screen -----------------------------------------------

    async def _refresh(self) -> None:
        ctx = self._ctx
        status = await asyncio.wait_for(ctx.recorder.status(), STATUS_WAIT_S)
        if ctx.state.screen is Screen.TECHNICIAN:
            ctx.update(
                tech=TechView(
                    devices=ctx.devices.statuses(),
                    pending=status.pending,
                    delivered=status.delivered,
                    last_delivered=status.last_delivered,
                    version=ctx.version,
                )
            )

    def _idle_tech_screen(self) -> bool:
        st = self._ctx.state
        return (
            st.screen is Screen.TECHNICIAN
            and st.tech is not None
            and not st.tech.testing
            and st.tech.pairing is None
        )

    def test(self) -> None:
        """Test every device: connect afresh and show who answered (or why not)."""
        if self._idle_tech_screen():
            self._ctx.touch()
            self._ctx.spawn(self._test_devices, "tech-test")

    def pair(self) -> None:
        """Show how to put the device in its pairing window (the first step)."""
        tech = self._ctx.state.tech
        if self._idle_tech_screen() and tech is not None:
            self._ctx.touch()
            self._ctx.update(tech=replace(tech, pairing="guide", pair_step="", pair_error=""))

    def pair_start(self) -> None:
        """While the device's pairing sign blinks: pair every BLE device (bond,
        and pin the one that answers when no address is configured)."""
        st = self._ctx.state
        if st.screen is Screen.TECHNICIAN and st.tech is not None and st.tech.pairing == "guide":
            self._ctx.touch()
            self._ctx.update(tech=replace(st.tech, pairing="running"))
            self._ctx.spawn(lambda: self._test_devices(pairing=True), "tech-pair")

    def pair_cancel(self) -> None:
        st = self._ctx.state
        if st.screen is Screen.TECHNICIAN and st.tech is not None and st.tech.pairing == "guide":
            self._ctx.touch()
            self._ctx.update(tech=replace(st.tech, pairing=None))

    def restart(self) -> None:
        """Ask the app to exit so its service manager starts it again."""
        ctx = self._ctx
        st = ctx.state
        if st.screen is Screen.TECHNICIAN and st.tech is not None:
            ctx.update(tech=replace(st.tech, restart_requested=True))

    async def _test_devices(self, *, pairing: bool = False) -> None:
        ctx = self._ctx
        await self._refresh()  # the sync counts too: one button for "look again"
        tech = ctx.state.tech
        assert tech is not None
        results = {d.role: replace(d, state="testing", detail="") for d in tech.devices}
        ctx.update(tech=replace(tech, devices=tuple(results.values()), testing=True))
        for role, status in list(results.items()):
            results[role] = await self._test_one(role, status, pairing=pairing)
            current = ctx.state.tech
            if ctx.state.screen is not Screen.TECHNICIAN or current is None:
                return
            ctx.update(tech=replace(current, devices=tuple(results.values())))
        current = ctx.state.tech
        if current is not None:
            ctx.update(tech=replace(current, testing=False, pairing=None))

    async def _test_one(self, role: str, status: DeviceStatus, *, pairing: bool) -> DeviceStatus:
        device = getattr(self._ctx.devices, role, None)
        check = getattr(device, "pair" if pairing else "check", None)
        if pairing and device is not None and not getattr(device, "pairable", False):
            return replace(status, state="not_pairable", detail=status.model)
        if check is None:
            return replace(status, state="missing" if device is None else "ready")
        if not pairing:
            return await _check_one(status, check, pairing=False)
        self._show(replace(status, state="pairing"), step="looking", error="")
        result = await _check_one(status, lambda: check(on_step=self._on_step), pairing=True)
        if result.state == "failed":
            self._show(result, step="", error=pair_error_key(result.detail))
        else:
            self._show(result, step="done", error="")
        return result

    def _on_step(self, step: str) -> None:
        tech = self._ctx.state.tech
        if tech is not None and self._ctx.state.screen is Screen.TECHNICIAN:
            self._ctx.update(tech=replace(tech, pair_step=str(step)))

    def _show(self, status: DeviceStatus, *, step: str, error: str) -> None:
        tech = self._ctx.state.tech
        if tech is None or self._ctx.state.screen is not Screen.TECHNICIAN:
            return
        devices = tuple(status if d.role == status.role else d for d in tech.devices)
        self._ctx.update(tech=replace(tech, devices=devices, pair_step=step, pair_error=error))


async def _check_one(
    status: DeviceStatus, check: Callable[[], Awaitable[DeviceInfo]], *, pairing: bool
) -> DeviceStatus:
    try:
        info = await asyncio.wait_for(check(), PAIR_S if pairing else DEVICE_TEST_S)
    except TimeoutError:
        return replace(status, state="failed", detail="device_timeout")
    except HealthKioskError as err:
        log.warning("technician %s: %s failed: %s", "pair" if pairing else "test",
                    status.role, err.reason)  # fmt: skip
        return replace(status, state="failed", detail=err.reason)
    who = f"s/n {info.serial}" if info.serial else info.model
    if pairing:
        return replace(status, state="paired", model=info.model, detail=f"{info.address} {who}")
    return replace(status, state="ok", model=info.model, detail=who)
