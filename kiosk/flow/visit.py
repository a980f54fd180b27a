"""The visit as a state machine: plain Python, no Kivy, an injected clock.

The screen calls the event methods (``start_checkin``, ``key``, ``choose``...)
and renders :attr:`VisitFlow.state` whenever a subscriber is told it
changed. Device work runs as tasks in the flow's own task group; every wait
has a timeout; device errors become :class:`~kiosk.flow.state.ErrorView`
states and never a reading. A completed reading is saved through the
injected :class:`~kiosk.flow.ports.Recorder` *before* the state says saved.

Timing (idle, "still here?", rest and pause countdowns, the result
screen's longer idle time) is driven by :meth:`VisitFlow.run`, which ticks on the clock.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from drivers.base import IdCardReader
from drivers.readings import (
    BloodPressureMeasurement,
    CuffPressure,
    DeviceInfo,
    GlucoseMeasurement,
    IdCardData,
)
from healthkiosk.config import KioskConfig
from healthkiosk.errors import (
    DeviceError,
    DeviceTimeoutError,
    HealthKioskError,
    IdNumberError,
    ImplausibleValueError,
)
from healthkiosk.idnumber import parse
from healthkiosk.rules import (
    RulesConfig,
    average_blood_pressure,
    check_blood_pressure_plausible,
    check_glucose_plausible,
    classify_blood_pressure,
    classify_glucose,
    classify_glucose_out_of_range,
    needs_third_measurement,
)
from kiosk.flow.clock import Clock
from kiosk.flow.errors import error_actions, error_key
from kiosk.flow.explain import (
    advice_blood_pressure,
    advice_glucose,
    explain_blood_pressure,
    explain_glucose,
)
from kiosk.flow.ports import (
    BpValues,
    CompletedReading,
    Devices,
    GlucoseValues,
    OpenGate,
    Recorder,
    ResidentIdentity,
    VisitGate,
)
from kiosk.flow.state import (
    BUSY_SCREENS,
    BpResult,
    Choice,
    DeviceStatus,
    ErrorView,
    GlucoseResult,
    Language,
    MealAnswer,
    ResidentView,
    Screen,
    State,
    TechView,
    TrendPoint,
)

log = logging.getLogger(__name__)

TICK_S = 0.2
CARD_WAIT_S = 30.0
"""One wait for a card; the reader is asked again while the check-in screen shows."""
DEVICE_TEST_S = 30.0
"""The technician's test (or pairing) waits this long for each device to answer."""
TREND_LIMIT = 8
ID_LENGTH = 18
KEYPAD_CHARS = frozenset("0123456789X")

Listener = Callable[[State], None]


class VisitFlow:
    def __init__(
        self,
        *,
        config: KioskConfig,
        rules: RulesConfig,
        devices: Devices,
        recorder: Recorder,
        clock: Clock,
        version: str = "",
        visit_gate: VisitGate | None = None,
    ) -> None:
        self._gate: VisitGate = visit_gate or OpenGate()
        self._cfg = config
        self._rules = rules
        self._devices = devices
        self._recorder = recorder
        self._clock = clock
        self._version = version
        self._state = State(language=config.language)
        self._listeners: list[Listener] = []
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()
        self._last_touch = clock.monotonic()
        self._still_deadline: float | None = None
        self._countdown_deadline: float | None = None
        self._on_countdown: Callable[[], None] | None = None
        self._done_deadline: float | None = None
        self._identity: ResidentIdentity | None = None
        self._visit_uuid: str | None = None
        self._saved_any = False
        self._bp: list[BloodPressureMeasurement] = []
        self._bp_at: list[datetime] = []
        """The kiosk's clock when each of ``_bp`` arrived."""
        self._retry: Callable[[], None] | None = None
        self._glucose_pending = False
        self._pin = ""
        self._history: list[TrendPoint] | None = None

    # --- observing -----------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        listener(self._state)
        return lambda: self._listeners.remove(listener)

    def _set(self, state: State) -> None:
        if state == self._state:
            return
        if state.screen != self._state.screen:
            state = replace(state, history=(*self._state.history, state.screen.value))
        self._state = state
        for listener in list(self._listeners):
            listener(state)

    def _update(self, **changes: Any) -> None:
        self._set(replace(self._state, **changes))

    # --- lifecycle -----------------------------------------------------------

    async def run(self) -> None:
        """Tick until :meth:`close`; owns every device task of the visit."""
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            try:
                while not self._closed.is_set():
                    self._tick()
                    await self._clock.sleep(TICK_S)
            finally:
                self._cancel_tasks()
                self._tg = None

    def close(self) -> None:
        """Stop :meth:`run` (idempotent)."""
        self._closed.set()

    def _spawn(self, make: Callable[[], Awaitable[None]], name: str) -> None:
        """Run ``make()`` as a task of the flow (created only when the task starts)."""

        async def guarded() -> None:
            try:
                await make()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("kiosk task %s failed", name)
                self._show_error("device_error", device="")

        if self._tg is None:
            raise RuntimeError("the flow is not running (call run() first)")
        task = self._tg.create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # --- timing --------------------------------------------------------------

    def _tick(self) -> None:
        now = self._clock.monotonic()
        st = self._state
        if self._countdown_deadline is not None:
            left = self._countdown_deadline - now
            if left <= 0:
                self._countdown_deadline = None
                done, self._on_countdown = self._on_countdown, None
                self._update(countdown_s=None)
                if done is not None:
                    done()
            else:
                self._update(countdown_s=math.ceil(left))
        st = self._state
        if st.screen is Screen.ATTRACT:
            return
        if st.screen is Screen.DONE:
            if self._done_deadline is not None and now >= self._done_deadline:
                self._reset()
            return
        if st.screen in BUSY_SCREENS or (st.screen is Screen.PREP_BP and not st.ready):
            self._still_deadline = None
            self._last_touch = now
            if st.still_here_s is not None:
                self._update(still_here_s=None)
            return
        # The result screen gives the elder longer to read before it asks.
        idle_s = (
            self._cfg.result_timeout_s if st.screen is Screen.RESULT else self._cfg.idle_timeout_s
        )
        if self._still_deadline is None:
            if now - self._last_touch >= idle_s:
                self._still_deadline = now + self._cfg.still_here_s
                self._update(still_here_s=math.ceil(self._cfg.still_here_s))
            return
        left = self._still_deadline - now
        if left <= 0:
            log.info("visit ended by inactivity on %s", st.screen.value)
            self._still_deadline = None
            if st.screen is Screen.RESULT:
                self._to_done("completed")  # the reading is saved: a completed visit
            else:
                self._reset(outcome="timeout")
        else:
            self._update(still_here_s=math.ceil(left))

    def _start_countdown(self, seconds: float, then: Callable[[], None]) -> None:
        if seconds <= 0:
            self._countdown_deadline = None
            self._on_countdown = None
            then()
            return
        self._countdown_deadline = self._clock.monotonic() + seconds
        self._on_countdown = then
        self._update(countdown_s=math.ceil(seconds))

    def _stop_countdown(self) -> None:
        self._countdown_deadline = None
        self._on_countdown = None

    # --- events from the screen: always allowed ------------------------------

    def touch(self) -> None:
        """Any touch on the screen: the elder is here."""
        if self._state.still_here_s is None:
            self._last_touch = self._clock.monotonic()

    def still_here(self) -> None:
        self._still_deadline = None
        self._last_touch = self._clock.monotonic()
        self._update(still_here_s=None)

    def set_language(self, language: Language) -> None:
        self.touch()
        self._update(language=language)

    # --- attract and check-in --------------------------------------------------

    def start_checkin(self) -> None:
        if self._state.screen is not Screen.ATTRACT:
            return
        self._last_touch = self._clock.monotonic()
        if not self._gate.begin(wait=False):
            # The updater is switching releases: the kiosk restarts in a moment.
            log.info("visit not started: an update is being installed")
            self._show_error("updating")
            return
        card = self._devices.id_card is not None
        qr = self._devices.qr_code is not None
        self._update(screen=Screen.CHECKIN, card_reader=card, qr_reader=qr)
        if card:
            self._spawn(self._read_cards, "read-card")
        if qr:
            self._spawn(self._read_codes, "read-qr")

    async def _read_cards(self) -> None:
        reader = self._devices.id_card
        assert reader is not None
        card = await self._wait_for_id(
            reader, flag="card_reader", unreadable="card_unreadable", what="ID card reader"
        )
        if card is not None:
            self._card_read(card)

    async def _read_codes(self) -> None:
        scanner = self._devices.qr_code
        assert scanner is not None
        card = await self._wait_for_id(
            scanner, flag="qr_reader", unreadable="code_unreadable", what="QR scanner"
        )
        if card is not None:
            self.touch()
            # A code carries the number only: the name, if known, is the store's.
            await self._submit(card.id_number)

    async def _wait_for_id(
        self, reader: IdCardReader, *, flag: str, unreadable: str, what: str
    ) -> IdCardData | None:
        """A card (or code) read while the check-in screen shows; None once the
        screen has moved on or the reader failed (its ``flag`` then cleared). A
        card or code without a valid ID number says ``unreadable`` and waits again."""
        while self._state.screen is Screen.CHECKIN:
            try:
                card = await reader.read_card(timeout_s=CARD_WAIT_S)
            except DeviceTimeoutError:
                continue
            except IdNumberError as err:
                log.info("%s: refused: %s", what, err.reason)
                if self._state.screen is Screen.CHECKIN:
                    self._update(keypad_error=unreadable)
                continue
            except DeviceError as err:
                log.warning("%s unavailable: %s (%s)", what, err.reason, reader.info.label)
                self._update(**{flag: False})
                return None
            return card if self._state.screen is Screen.CHECKIN else None
        return None

    def _card_read(self, card: IdCardData) -> None:
        try:
            number = parse(card.id_number, today=self._clock.now().date())
        except IdNumberError:
            self._update(keypad_error="card_unreadable")
            self._spawn(self._read_cards, "read-card")
            return
        self._identity = ResidentIdentity(
            id_number=number.value,
            masked_id=number.masked,
            name=card.name or None,
            sex=number.sex.value,
            birth_date=number.birth_date,
        )
        self._confirm_screen()

    def key(self, char: str) -> None:
        st = self._state
        if st.screen is not Screen.CHECKIN:
            return
        self.touch()
        char = char.upper()
        if char not in KEYPAD_CHARS or len(st.keypad) >= ID_LENGTH:
            return
        if char == "X" and len(st.keypad) != ID_LENGTH - 1:
            self._update(keypad_error="id_x_position")
            return
        typed = st.keypad + char
        error: str | None = None
        valid = False
        if len(typed) == ID_LENGTH:
            try:
                parse(typed, today=self._clock.now().date())
                valid = True
            except IdNumberError as err:
                error = err.reason
        self._update(keypad=typed, keypad_error=error, keypad_valid=valid)

    def backspace(self) -> None:
        st = self._state
        if st.screen is not Screen.CHECKIN:
            return
        self.touch()
        self._update(keypad=st.keypad[:-1], keypad_error=None, keypad_valid=False)

    def submit_id(self) -> None:
        st = self._state
        if st.screen is not Screen.CHECKIN or not st.keypad_valid:
            return
        self.touch()
        number = parse(st.keypad, today=self._clock.now().date())
        self._spawn(lambda: self._submit(number.value), "known-name")

    async def _submit(self, id_number: str) -> None:
        name = await asyncio.wait_for(self._recorder.known_name(id_number), 10.0)
        number = parse(id_number, today=self._clock.now().date())
        self._identity = ResidentIdentity(
            id_number=number.value,
            masked_id=number.masked,
            name=name,
            sex=number.sex.value,
            birth_date=number.birth_date,
        )
        self._confirm_screen()

    def _confirm_screen(self) -> None:
        ident = self._identity
        assert ident is not None
        self._last_touch = self._clock.monotonic()
        self._update(
            screen=Screen.CONFIRM,
            keypad="",
            keypad_error=None,
            keypad_valid=False,
            card_reader=False,
            qr_reader=False,
            resident=ResidentView(
                masked_id=ident.masked_id,
                name=ident.name,
                birth_year=ident.birth_date.year if ident.birth_date else 0,
                sex=ident.sex,
            ),
        )

    def confirm(self) -> None:
        if self._state.screen is not Screen.CONFIRM:
            return
        self.touch()
        self._visit_uuid = str(uuid.uuid4())
        self._history = None
        self._spawn(self._prefetch_history, "trend-history")
        self._update(screen=Screen.CHOOSE)

    def not_me(self) -> None:
        if self._state.screen is not Screen.CONFIRM:
            return
        self._identity = None
        self._update(screen=Screen.ATTRACT, resident=None)
        self.start_checkin()

    # --- choose and prepare ----------------------------------------------------

    def choose(self, choice: Choice) -> None:
        if self._state.screen is not Screen.CHOOSE:
            return
        self.touch()
        self._update(
            choice=choice, bp_result=None, glucose_result=None, trend=(), error=None, notice=None
        )
        self._glucose_pending = choice == "both"
        if choice == "glucose":
            self._to_glucose_meal()
        else:
            self._to_prep_bp()

    def _to_prep_bp(self) -> None:
        if self._devices.blood_pressure is None:
            self._show_error("device_not_found", retry=self._to_prep_bp)
            return
        self._bp = []
        self._bp_at = []
        protocol = self._rules.blood_pressure.protocol
        self._update(
            screen=Screen.PREP_BP,
            ready=False,
            bp_taken=(),
            bp_reading_no=0,
            bp_readings_needed=protocol.readings,
            cuff_mmhg=None,
            error=None,
        )
        self._start_countdown(protocol.rest_s, self._rest_over)

    def _rest_over(self) -> None:
        self._last_touch = self._clock.monotonic()
        self._update(ready=True, countdown_s=None)

    def start_bp(self) -> None:
        st = self._state
        if st.screen is not Screen.PREP_BP or not st.ready:
            return
        self.touch()
        self._measure_bp()

    # --- blood pressure --------------------------------------------------------

    def _measure_bp(self) -> None:
        self._stop_countdown()
        self._update(
            screen=Screen.MEASURE_BP,
            bp_reading_no=len(self._bp) + 1,
            cuff_mmhg=None,
            countdown_s=None,
            error=None,
        )
        self._spawn(self._bp_task, "measure-bp")

    def _on_cuff(self, pressure: CuffPressure) -> None:
        if self._state.screen is Screen.MEASURE_BP:
            self._update(cuff_mmhg=round(pressure.mmhg))

    async def _bp_task(self) -> None:
        monitor = self._devices.blood_pressure
        if monitor is None:
            self._show_error("device_not_found", retry=self._measure_bp)
            return
        try:
            m = await monitor.measure(
                on_cuff_pressure=self._on_cuff, timeout_s=self._cfg.measure_timeout_s
            )
        except HealthKioskError as err:
            await self._device_failed(err, monitor.info.label, retry=self._measure_bp)
            return
        if self._state.screen is not Screen.MEASURE_BP:
            return
        if m.status.discards_reading:
            flag = (
                "body_movement"
                if m.status.body_movement
                else "cuff_fit"
                if m.status.cuff_too_loose
                else "improper_position"
            )
            await self._event(m.device.label, flag, _bp_detail(m))
            self._update(notice=flag)
            self._show_error(flag, device=m.device.model, retry=self._measure_bp)
            return
        bp_rules = self._rules.blood_pressure
        try:
            check_blood_pressure_plausible(m.systolic_mmhg, m.diastolic_mmhg, m.pulse_bpm, bp_rules)
        except ImplausibleValueError as err:
            await self._event(m.device.label, "implausible", {**_bp_detail(m), "why": err.reason})
            self._show_error("implausible", device=m.device.model, retry=self._measure_bp)
            return
        self._bp.append(m)
        self._bp_at.append(self._clock.now())
        taken = tuple((r.systolic_mmhg, r.diastolic_mmhg, r.pulse_bpm) for r in self._bp)
        needed = self._state.bp_readings_needed
        if (
            len(self._bp) == 2
            and needed == 2
            and needs_third_measurement(taken[0][:2], taken[1][:2], bp_rules)
        ):
            needed = 3
        self._update(bp_taken=taken, bp_readings_needed=needed, cuff_mmhg=None, notice=None)
        if len(self._bp) < needed:
            self._update(screen=Screen.BP_PAUSE)
            self._start_countdown(bp_rules.protocol.pause_s, self._measure_bp)
            return
        await self._finish_bp()

    async def _finish_bp(self) -> None:
        rules = self._rules.blood_pressure
        taken = [(r.systolic_mmhg, r.diastolic_mmhg, r.pulse_bpm) for r in self._bp]
        systolic, diastolic, pulse = average_blood_pressure(taken)
        c = classify_blood_pressure(systolic, diastolic, rules, pulse=pulse)
        irregular = any(r.status.irregular_pulse for r in self._bp)
        maps = [r.mean_arterial_mmhg for r in self._bp if r.mean_arterial_mmhg is not None]
        last = self._bp[-1]
        assert self._identity is not None and self._visit_uuid is not None
        reading = CompletedReading(
            uuid=str(uuid.uuid4()),
            visit_uuid=self._visit_uuid,
            kind="blood_pressure",
            measured_at=self._clock.now(),
            device_time=last.device_time,
            resident=self._identity,
            device=last.device,
            values=BpValues(
                systolic=systolic,
                diastolic=diastolic,
                pulse=pulse,
                mean_arterial=round(sum(maps) / len(maps)) if maps else None,
                irregular_pulse=irregular,
                measurements=tuple(
                    _bp_measurement(r, at) for r, at in zip(self._bp, self._bp_at, strict=True)
                ),
            ),
            category=c.category,
            urgent=c.urgent,
            isolated_systolic=c.isolated_systolic,
            close_to_limit=c.close_to_limit,
            rule=c.rule,
        )
        result = BpResult(
            systolic=systolic,
            diastolic=diastolic,
            pulse=pulse,
            irregular_pulse=irregular,
            readings=tuple(taken),
            category=c.category,
            urgent=c.urgent,
            isolated_systolic=bool(c.isolated_systolic),
            rule=c.rule,
            explanation=explain_blood_pressure(c, rules),
            advice=advice_blood_pressure(c),
            saved=False,
        )
        self._update(screen=Screen.SAVING, cuff_mmhg=None)
        if await self._save(reading):
            self._glucose_pending = self._state.choice == "both"
            await self._show_result(reading, bp_result=replace(result, saved=True))

    # --- glucose ---------------------------------------------------------------

    def _to_glucose_meal(self) -> None:
        if self._devices.glucose is None:
            self._show_error("device_not_found", retry=self._to_glucose_meal)
            return
        self._glucose_pending = False
        self._update(screen=Screen.GLUCOSE_MEAL, meal=None, error=None)

    def next_glucose(self) -> None:
        """From a blood pressure result, on to glucose (choice "both")."""
        if self._state.screen is not Screen.RESULT or not self._glucose_pending:
            return
        self.touch()
        self._to_glucose_meal()

    def answer_meal(self, answer: MealAnswer | None) -> None:
        """Fasting or not; no answer ("not sure") counts as random."""
        if self._state.screen is not Screen.GLUCOSE_MEAL:
            return
        self.touch()
        self._update(screen=Screen.PREP_GLUCOSE, meal=answer or "random")

    def start_glucose(self) -> None:
        if self._state.screen is not Screen.PREP_GLUCOSE:
            return
        self.touch()
        self._measure_glucose()

    def _measure_glucose(self) -> None:
        self._update(screen=Screen.MEASURE_GLUCOSE, error=None)
        self._start_countdown(self._cfg.measure_timeout_s, lambda: None)
        self._spawn(self._glucose_task, "measure-glucose")

    async def _glucose_task(self) -> None:
        meter = self._devices.glucose
        if meter is None:
            self._show_error("device_not_found", retry=self._measure_glucose)
            return
        try:
            m = await meter.measure(timeout_s=self._cfg.measure_timeout_s)
        except HealthKioskError as err:
            await self._device_failed(err, meter.info.label, retry=self._measure_glucose)
            return
        if self._state.screen is not Screen.MEASURE_GLUCOSE:
            return
        self._stop_countdown()
        rules = self._rules.glucose
        meal: MealAnswer = self._state.meal or "random"
        if m.out_of_range in ("LO", "HI"):
            c = classify_glucose_out_of_range("LO" if m.out_of_range == "LO" else "HI", rules)
        else:
            try:
                check_glucose_plausible(round(m.mmol_per_l, 1), rules)
            except ImplausibleValueError as err:
                await self._event(
                    m.device.label, "implausible", {**_glucose_detail(m), "why": err.reason}
                )
                self._show_error("implausible", device=m.device.model, retry=self._measure_glucose)
                return
            c = classify_glucose(m.mmol_per_l, meal, rules)
        assert self._identity is not None and self._visit_uuid is not None
        shown = m.out_of_range if m.out_of_range in ("LO", "HI") else None
        value = None if shown else round(m.mmol_per_l, 1)
        reading = CompletedReading(
            uuid=str(uuid.uuid4()),
            visit_uuid=self._visit_uuid,
            kind="glucose",
            measured_at=self._clock.now(),
            device_time=m.device_time,
            resident=self._identity,
            device=m.device,
            values=GlucoseValues(
                mmol_per_l=value,
                meal=meal,
                original_value=None if shown else m.original_value,
                original_unit=m.original_unit.value,
                out_of_range=shown,
            ),
            category=c.category,
            urgent=c.urgent,
            isolated_systolic=None,
            close_to_limit=c.close_to_limit,
            rule=c.rule,
        )
        result = GlucoseResult(
            mmol_per_l=value,
            shown=shown,
            meal=meal,
            category=c.category,
            urgent=c.urgent,
            close_to_limit=c.close_to_limit,
            rule=c.rule,
            explanation=explain_glucose(c, rules),
            advice=advice_glucose(c),
            saved=False,
        )
        self._update(screen=Screen.SAVING)
        if await self._save(reading):
            await self._show_result(reading, glucose_result=replace(result, saved=True))

    # --- saving and results ----------------------------------------------------

    async def _save(self, reading: CompletedReading) -> bool:
        try:
            await asyncio.wait_for(self._recorder.save(reading), 30.0)
        except HealthKioskError as err:
            log.error("reading not saved: %s", err.reason)
            self._show_error(error_key(err))
            return False
        except TimeoutError:
            log.error("reading not saved: the store did not answer in time")
            self._show_error("store_error")
            return False
        self._saved_any = True
        return True

    async def _show_result(
        self,
        reading: CompletedReading,
        *,
        bp_result: BpResult | None = None,
        glucose_result: GlucoseResult | None = None,
    ) -> None:
        """The result screen, with the trend: the history fetched at confirmation
        plus this reading (no database round trip between saving and showing)."""
        if self._history is None:
            self._history = await self._fetch_history()
        self._history = [*self._history, _trend_point(reading)][-TREND_LIMIT:]
        self._last_touch = self._clock.monotonic()
        self._update(
            screen=Screen.RESULT,
            bp_result=bp_result or self._state.bp_result,
            glucose_result=glucose_result or self._state.glucose_result,
            trend=tuple(self._history),
            countdown_s=None,
        )

    async def _fetch_history(self) -> list[TrendPoint]:
        assert self._identity is not None
        try:
            return list(
                await asyncio.wait_for(
                    self._recorder.recent(self._identity, limit=TREND_LIMIT), 10.0
                )
            )
        except (HealthKioskError, TimeoutError):
            return []

    async def _prefetch_history(self) -> None:
        self._history = await self._fetch_history()

    @property
    def glucose_pending(self) -> bool:
        """The result shows blood pressure and glucose is still to come."""
        return self._glucose_pending and self._state.screen is Screen.RESULT

    # --- errors ----------------------------------------------------------------

    async def _device_failed(
        self, err: HealthKioskError, device: str, *, retry: Callable[[], None]
    ) -> None:
        key = error_key(err)
        log.warning("device %s: %s", device, err.reason)
        if key in ("body_movement", "cuff_fit", "improper_position", "strip_error"):
            await self._event(device, key, {"reason": err.reason})
        self._show_error(key, device=device, retry=retry)

    async def _event(self, device: str, kind: str, detail: dict[str, Any]) -> None:
        try:
            await asyncio.wait_for(
                self._recorder.record_event(device=device, kind=kind, detail=detail), 10.0
            )
        except (HealthKioskError, TimeoutError) as err:
            log.warning("device event not kept: %s", err)

    def _show_error(
        self, key: str, *, device: str = "", retry: Callable[[], None] | None = None
    ) -> None:
        self._stop_countdown()
        self._retry = retry
        actions = error_actions(key)
        if retry is None:
            actions = tuple(a for a in actions if a != "retry") or ("finish",)
        self._last_touch = self._clock.monotonic()
        self._update(
            screen=Screen.ERROR,
            error=ErrorView(key=key, actions=actions, device=device),
            cuff_mmhg=None,
            countdown_s=None,
        )

    def retry(self) -> None:
        if self._state.screen is not Screen.ERROR or self._retry is None:
            return
        self.touch()
        again, self._retry = self._retry, None
        again()

    # --- leaving ---------------------------------------------------------------

    def cancel(self) -> None:
        """Stop a measurement or a preparation: back to the choice (kept readings stay)."""
        st = self._state
        if st.screen not in (
            Screen.MEASURE_BP,
            Screen.BP_PAUSE,
            Screen.MEASURE_GLUCOSE,
            Screen.PREP_BP,
            Screen.PREP_GLUCOSE,
            Screen.GLUCOSE_MEAL,
            Screen.ERROR,
        ):
            return
        self._cancel_tasks()
        self._stop_countdown()
        self._bp = []
        self._retry = None
        self._last_touch = self._clock.monotonic()
        self._update(
            screen=Screen.CHOOSE,
            cuff_mmhg=None,
            countdown_s=None,
            bp_taken=(),
            error=None,
            notice=None,
            ready=False,
        )

    def back(self) -> None:
        """The "back" button every screen has."""
        st = self._state
        self.touch()
        if st.screen is Screen.CHECKIN:
            self._reset(outcome="abandoned")
        elif st.screen is Screen.CONFIRM:
            self.not_me()
        elif st.screen is Screen.CHOOSE:
            self.finish()
        elif st.screen is Screen.PREP_GLUCOSE:
            self._update(screen=Screen.GLUCOSE_MEAL)
        elif st.screen in (Screen.TECH_PIN, Screen.TECHNICIAN):
            self._reset()
        else:
            self.cancel()

    def finish(self) -> None:
        """The elder is done: thank-you screen, then the attract screen."""
        st = self._state
        if st.screen in (Screen.ATTRACT, Screen.DONE, Screen.SAVING):
            return
        outcome = "completed" if st.screen is Screen.RESULT else "abandoned"
        self._to_done(outcome)

    def _to_done(self, outcome: str) -> None:
        self._cancel_tasks()
        self._stop_countdown()
        self._end_visit(outcome)
        self._done_deadline = self._clock.monotonic() + self._cfg.done_s
        self._set(State(screen=Screen.DONE, language=self._state.language))

    def _end_visit(self, outcome: str) -> None:
        if self._saved_any and self._visit_uuid is not None:
            visit, at = self._visit_uuid, self._clock.now()
            self._spawn(
                lambda: self._recorder.end_visit(visit, outcome=outcome, at=at), "end-visit"
            )
        self._gate.end()
        self._identity = None
        self._visit_uuid = None
        self._saved_any = False
        self._bp = []
        self._retry = None
        self._glucose_pending = False
        self._history = None

    def _reset(self, *, outcome: str = "abandoned") -> None:
        """Back to the attract screen with nothing personal left."""
        self._cancel_tasks()
        self._stop_countdown()
        self._end_visit(outcome)
        self._still_deadline = None
        self._done_deadline = None
        self._pin = ""
        self._set(State(language=self._cfg.language))

    # --- technician ------------------------------------------------------------

    def open_technician(self) -> None:
        if self._state.screen is not Screen.ATTRACT:
            return
        self._last_touch = self._clock.monotonic()
        self._pin = ""
        self._update(screen=Screen.TECH_PIN, pin_length=0, pin_error=False)

    def pin_key(self, digit: str) -> None:
        if self._state.screen is not Screen.TECH_PIN or not digit.isdigit() or len(self._pin) >= 8:
            return
        self.touch()
        self._pin += digit
        self._update(pin_length=len(self._pin), pin_error=False)

    def pin_backspace(self) -> None:
        if self._state.screen is not Screen.TECH_PIN:
            return
        self.touch()
        self._pin = self._pin[:-1]
        self._update(pin_length=len(self._pin), pin_error=False)

    def pin_submit(self) -> None:
        if self._state.screen is not Screen.TECH_PIN:
            return
        self.touch()
        ok = hmac.compare_digest(self._pin.encode(), self._cfg.technician_pin.encode())
        self._pin = ""
        if not ok:
            log.warning("technician screen: wrong PIN")
            self._update(pin_length=0, pin_error=True)
            return
        self._update(screen=Screen.TECHNICIAN, pin_length=0, pin_error=False)
        self._spawn(self._refresh_tech, "tech-status")

    async def _refresh_tech(self) -> None:
        status = await asyncio.wait_for(self._recorder.status(), 10.0)
        if self._state.screen is Screen.TECHNICIAN:
            self._update(
                tech=TechView(
                    devices=self._devices.statuses(),
                    pending=status.pending,
                    delivered=status.delivered,
                    last_delivered=status.last_delivered,
                    version=self._version,
                )
            )

    def tech_test(self) -> None:
        """Test every device: connect afresh and show who answered (or why not)."""
        st = self._state
        if st.screen is Screen.TECHNICIAN and st.tech is not None and not st.tech.testing:
            self.touch()
            self._spawn(self._test_devices, "tech-test")

    def tech_pair(self) -> None:
        """Pair every BLE device without a configured address with the one that
        answers now (switched on in front of the kiosk), and keep its address."""
        st = self._state
        if st.screen is Screen.TECHNICIAN and st.tech is not None and not st.tech.testing:
            self.touch()
            self._spawn(lambda: self._test_devices(pairing=True), "tech-pair")

    async def _test_devices(self, *, pairing: bool = False) -> None:
        await self._refresh_tech()  # the sync counts too: one button for "look again"
        tech = self._state.tech
        assert tech is not None
        results = {d.role: replace(d, state="testing", detail="") for d in tech.devices}
        self._update(tech=replace(tech, devices=tuple(results.values()), testing=True))
        for role, status in list(results.items()):
            device = getattr(self._devices, role, None)
            check = getattr(device, "pair" if pairing else "check", None)
            if pairing and device is not None and not getattr(device, "pairable", False):
                results[role] = replace(status, state="not_pairable", detail=status.model)
            elif check is None:
                results[role] = replace(status, state="missing" if device is None else "ready")
            else:
                results[role] = await self._check_one(status, check, pairing=pairing)
            current = self._state.tech
            if self._state.screen is not Screen.TECHNICIAN or current is None:
                return
            self._update(tech=replace(current, devices=tuple(results.values())))
        current = self._state.tech
        if current is not None:
            self._update(tech=replace(current, testing=False))

    async def _check_one(
        self, status: DeviceStatus, check: Callable[[], Awaitable[DeviceInfo]], *, pairing: bool
    ) -> DeviceStatus:
        try:
            info = await asyncio.wait_for(check(), DEVICE_TEST_S)
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

    def tech_restart(self) -> None:
        """Ask the app to exit so its service manager starts it again."""
        st = self._state
        if st.screen is Screen.TECHNICIAN and st.tech is not None:
            self._update(tech=replace(st.tech, restart_requested=True))


def _bp_measurement(m: BloodPressureMeasurement, at: datetime) -> dict[str, Any]:
    """One measurement averaged into a reading, in the wire schema's shape
    (``hk.reading/1`` ``values.measurements``)."""
    return {
        "systolic": m.systolic_mmhg,
        "diastolic": m.diastolic_mmhg,
        "pulse": m.pulse_bpm,
        "measured_at": at.isoformat(),
        "device_time": m.device_time.isoformat() if m.device_time else None,
        "irregular_pulse": m.status.irregular_pulse,
    }


def _bp_detail(m: BloodPressureMeasurement) -> dict[str, Any]:
    s = m.status
    return {
        "systolic_mmhg": m.systolic_mmhg,
        "diastolic_mmhg": m.diastolic_mmhg,
        "pulse_bpm": m.pulse_bpm,
        "mean_arterial_mmhg": m.mean_arterial_mmhg,
        "device_time": m.device_time.isoformat() if m.device_time else None,
        "irregular_pulse": s.irregular_pulse,
        "body_movement": s.body_movement,
        "cuff_too_loose": s.cuff_too_loose,
        "improper_position": s.improper_position,
    }


def _trend_point(r: CompletedReading) -> TrendPoint:
    v = r.values
    if isinstance(v, BpValues):
        return TrendPoint(
            r.measured_at, "blood_pressure", (float(v.systolic), float(v.diastolic)), r.category
        )
    return TrendPoint(r.measured_at, "glucose", (float(v.mmol_per_l or 0.0),), r.category)


def _glucose_detail(m: GlucoseMeasurement) -> dict[str, Any]:
    return {
        "mmol_per_l": m.mmol_per_l,
        "original_value": m.original_value,
        "original_unit": m.original_unit.value,
        "sequence_number": m.sequence_number,
    }
