"""What every phase of the visit shares: one :class:`FlowContext`.

The phases (:mod:`~kiosk.flow.checkin`, :mod:`~kiosk.flow.bloodpressure`,
:mod:`~kiosk.flow.glucose`, :mod:`~kiosk.flow.result`, :mod:`~kiosk.flow.summary`,
:mod:`~kiosk.flow.technician`, :mod:`~kiosk.flow.leaving`) each hold the same
context and change the visit only through it:

- the ports from the composition root (config, rules, devices, recorder,
  clock and whether it is synchronised, the visit gate);
- the :class:`~kiosk.flow.state.State` the screen renders, and its listeners;
- the flow's device tasks (one task group, owned by :meth:`VisitFlow.run
  <kiosk.flow.visit.VisitFlow.run>`);
- the deadlines :mod:`~kiosk.flow.timing` ticks on (idle, "still here?",
  the countdowns, the thank-you screen);
- :class:`VisitRecord`, everything personal the flow holds beyond the state,
  replaced whole when a visit ends;
- the error screen, which every phase (and a failed task) may show.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from healthkiosk.config import KioskConfig
from healthkiosk.errors import HealthKioskError
from healthkiosk.readings import BloodPressureMeasurement, DeviceInfo, DeviceMemoryRecord
from healthkiosk.rules import RulesConfig, rule_set_id
from kiosk.flow.clock import Clock
from kiosk.flow.errors import error_actions, error_key
from kiosk.flow.ports import CouldNotMeasure, Devices, Recorder, ResidentIdentity, VisitGate
from kiosk.flow.state import (
    BpResult,
    ErrorView,
    GlucoseResult,
    Screen,
    State,
    SummaryItem,
    TrendPoint,
)

log = logging.getLogger(__name__)

Listener = Callable[[State], None]


class MeasuringDevice(Protocol):
    """What visit-bound capture needs of a measuring device (drivers.base)."""

    async def begin_step(self) -> None: ...

    def take_memory(self) -> list[DeviceMemoryRecord]: ...


EVENT_WAIT_S = 10.0
"""How long a device event (a discarded or implausible reading) may take to keep."""


@dataclass
class VisitRecord:
    """The visit under way, beyond what the screen shows (a new one per visit)."""

    identity: ResidentIdentity | None = None
    uuid: str | None = None
    """Set when the elder confirms who they are."""
    saved_any: bool = False
    """A reading of this visit is in the store (so its end is recorded too)."""
    bp: list[tuple[BloodPressureMeasurement, datetime]] = field(default_factory=list)
    """The blood pressure measurements kept so far, with the kiosk's clock when each arrived."""
    glucose_pending: bool = False
    """Choice "both": glucose is still to come after the blood pressure result."""
    history: list[TrendPoint] | None = None
    """The resident's earlier readings (fetched at confirmation) plus this visit's."""
    results: list[SummaryItem] = field(default_factory=list)
    """Every result of this visit saved and shown, in order (:mod:`kiosk.flow.summary`)."""
    slip_results: list[tuple[BpResult | GlucoseResult, datetime]] = field(default_factory=list)
    """Every saved result shown in this visit, with when it was measured (the take-home slip)."""
    steps: dict[str, asyncio.Event] = field(default_factory=dict)
    """Per role, set once the device has taken the baseline of this visit's step."""


class FlowContext:
    def __init__(
        self,
        *,
        config: KioskConfig,
        rules: RulesConfig,
        devices: Devices,
        recorder: Recorder,
        clock: Clock,
        version: str,
        gate: VisitGate,
        clock_synced: Callable[[], bool | None] = lambda: None,
    ) -> None:
        self.cfg = config
        self.rules = rules
        self.rule_set = rule_set_id(rules)
        """Its name and digest, carried by every reading classified here."""
        self.devices = devices
        self.recorder = recorder
        self.clock = clock
        self.version = version
        self.gate = gate
        self.clock_synced = clock_synced
        """Whether the wall clock is synchronised now (a reading is marked with it)."""
        self.state = State(language=config.language)
        self.visit = VisitRecord()
        self.retry_action: Callable[[], None] | None = None
        """What "Try again" on the error screen does (None: no such button)."""
        self._listeners: list[Listener] = []
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Deadlines on the clock's monotonic seconds (ticked by kiosk.flow.timing).
        self.last_touch = clock.monotonic()
        self.still_deadline: float | None = None
        self.done_deadline: float | None = None
        self.countdown_deadline: float | None = None
        self.on_countdown: Callable[[], None] | None = None

    # --- the state the screen renders -----------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        listener(self.state)
        return lambda: self._listeners.remove(listener)

    def set(self, state: State) -> None:
        """Replace the state and tell the listeners (not when nothing changed)."""
        if state == self.state:
            return
        if state.screen != self.state.screen:
            state = replace(state, history=(*self.state.history, state.screen.value))
        self.state = state
        for listener in list(self._listeners):
            listener(state)

    def update(self, **changes: Any) -> None:
        self.set(replace(self.state, **changes))

    # --- tasks -----------------------------------------------------------------

    @asynccontextmanager
    async def task_group(self) -> AsyncIterator[None]:
        """Where :meth:`spawn` puts tasks; on leaving, every one left is cancelled."""
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            try:
                yield
            finally:
                self.cancel_tasks()
                self._tg = None

    def spawn(self, make: Callable[[], Awaitable[None]], name: str, *, keep: bool = False) -> None:
        """Run ``make()`` as a task of the flow (created only when the task starts);
        a task that fails shows the error screen, never a stack trace. ``keep``:
        the task outlives the visit (not cancelled when it ends: a slip being
        printed is never cut off halfway), and ends only with the flow."""

        async def guarded() -> None:
            try:
                await make()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("kiosk task %s failed", name)
                self.show_error("device_error", device="")

        if self._tg is None:
            raise RuntimeError("the flow is not running (call run() first)")
        task = self._tg.create_task(guarded(), name=name)
        if not keep:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # --- timers ----------------------------------------------------------------

    def touch(self) -> None:
        """The elder touched the screen (while "still here?" shows, only its button counts)."""
        if self.state.still_here_s is None:
            self.last_touch = self.clock.monotonic()

    def idle_from_now(self) -> None:
        """Count the idle time afresh (a new screen the elder must read first)."""
        self.last_touch = self.clock.monotonic()

    def start_countdown(self, seconds: float, then: Callable[[], None]) -> None:
        """Show a countdown of ``seconds``, then call ``then`` (at once if none)."""
        if seconds <= 0:
            self.stop_countdown()
            then()
            return
        self.countdown_deadline = self.clock.monotonic() + seconds
        self.on_countdown = then
        self.update(countdown_s=math.ceil(seconds))

    def stop_countdown(self) -> None:
        self.countdown_deadline = None
        self.on_countdown = None

    # --- the error screen ------------------------------------------------------

    def show_error(
        self, key: str, *, device: str = "", retry: Callable[[], None] | None = None
    ) -> None:
        """The plain-words error screen for ``key`` (:mod:`kiosk.flow.errors`);
        "Try again" only when there is a ``retry``."""
        self.stop_countdown()
        self.retry_action = retry
        actions = error_actions(key)
        if retry is None:
            actions = tuple(a for a in actions if a != "retry") or ("finish",)
        self.idle_from_now()
        self.update(
            screen=Screen.ERROR,
            error=ErrorView(key=key, actions=actions, device=device),
            cuff_mmhg=None,
            countdown_s=None,
        )

    def retry(self) -> None:
        if self.state.screen is not Screen.ERROR or self.retry_action is None:
            return
        self.touch()
        again, self.retry_action = self.retry_action, None
        again()

    async def device_failed(
        self, err: HealthKioskError, device: str, *, retry: Callable[[], None]
    ) -> None:
        """A measuring device raised: keep what it said about the elder's
        measurement, then the error screen."""
        key = error_key(err)
        log.warning("device %s: %s", device, err.reason)
        if key in ("body_movement", "cuff_fit", "improper_position", "strip_error"):
            await self.record_event(device, key, {"reason": err.reason})
        self.show_error(key, device=device, retry=retry)

    # --- visit-bound capture (drivers.memory) -------------------------------------

    def begin_step(self, role: str, device: MeasuringDevice | None) -> None:
        """The visit's measurement step on ``role``'s device begins now: the
        device takes its baseline (in a task; the measurement waits for it),
        and what it kept from before is stored as device memory."""
        if device is None:
            return
        done = asyncio.Event()
        self.visit.steps[role] = done

        async def begin() -> None:
            try:
                await device.begin_step()
            except HealthKioskError as err:
                # The measurement opens the device again and takes the baseline then.
                log.warning("device %s: step baseline not taken: %s", role, err.reason)
            finally:
                done.set()
            await self.keep_memory(role, device)

        self.spawn(begin, f"begin-step-{role}")

    async def step_begun(self, role: str) -> None:
        """Wait until ``role``'s device has taken this visit's baseline."""
        done = self.visit.steps.get(role)
        if done is not None:
            await done.wait()

    async def keep_memory(self, role: str, device: MeasuringDevice | None) -> None:
        """Store what the device kept from outside the step (best effort):
        never a resident's reading, never sent as one."""
        if device is None:
            return
        for record in device.take_memory():
            try:
                await asyncio.wait_for(
                    self.recorder.record_memory(role=role, record=record), EVENT_WAIT_S
                )
            except (HealthKioskError, TimeoutError) as err:
                log.warning("device-memory record not kept: %s", err)

    async def could_not_measure(
        self,
        measurement: Literal["blood_pressure", "glucose"],
        reason: str,
        *,
        device: DeviceInfo,
        device_time: datetime | None,
        values: dict[str, Any],
    ) -> None:
        """A value the rules refused during this elder's measurement: stored and
        sent to the doctor as a device event ("could not measure"), never
        silence. Best effort like :meth:`record_event`: the elder is not held
        up by a full or broken store (it is logged)."""
        identity, visit_uuid = self.visit.identity, self.visit.uuid
        if identity is None or visit_uuid is None:
            return
        event = CouldNotMeasure(
            uuid=str(uuid.uuid4()),
            visit_uuid=visit_uuid,
            measurement=measurement,
            reason=reason,
            measured_at=self.clock.now(),
            device_time=device_time,
            resident=identity,
            device=device,
            values=values,
            clock_synced=self.clock_synced(),
        )
        try:
            await asyncio.wait_for(self.recorder.save_event(event), EVENT_WAIT_S)
        except (HealthKioskError, TimeoutError, ValueError) as err:
            log.warning("could-not-measure event not kept: %s", err)

    async def record_event(self, device: str, kind: str, detail: dict[str, Any]) -> None:
        """Keep something a device said that is not a valid reading (best effort)."""
        try:
            await asyncio.wait_for(
                self.recorder.record_event(device=device, kind=kind, detail=detail), EVENT_WAIT_S
            )
        except (HealthKioskError, TimeoutError) as err:
            log.warning("device event not kept: %s", err)
