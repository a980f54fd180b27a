"""The Kivy app: a thin renderer over :class:`~kiosk.flow.visit.VisitFlow`.

One asyncio loop runs everything: ``App.async_run("asyncio")`` beside the
flow's task group (device tasks, timers) and the voice subprocesses. No
callback blocks: database work is in worker threads inside the recorder.

Exit codes: 0 closed normally, 3 restart requested from the technician
screen (the service manager starts the kiosk again).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthkiosk import __version__, clocktrust, health, sdnotify, visitlock
from healthkiosk.config import Config
from healthkiosk.rules import RulesError, check_words, load_rules
from healthkiosk.visitlock import VisitLock
from kiosk.app.boot import configure_kivy
from kiosk.app.gcpolicy import collect_when_idle, first_frame_drawn
from kiosk.app.i18n import category_words
from kiosk.app.probe import install as install_probe
from kiosk.compose import open_devices, open_recorder
from kiosk.deferred import DeferredRecorder
from kiosk.flow.clock import RealClock
from kiosk.flow.ports import Devices
from kiosk.flow.state import Screen, State
from kiosk.flow.visit import VisitFlow
from kiosk.helpdesk import FileHelpDesk
from kiosk.prompts import prompt_for
from kiosk.slip.model import SlipSettings
from kiosk.staffalert import StationAlert, lamp_from
from kiosk.voice import Voice
from management import techpin
from management.techpin import PinFile

log = logging.getLogger(__name__)

EXIT_RESTART = 3
SWITCH_INTERVAL_S = 0.0005
SAVING_SHOWN_AFTER_S = 0.3
IDLE_GC_AFTER_S = 0.5
HEALTH_UNIT = "kiosk"


@dataclass
class Running:
    """What a test driver or benchmark gets beside the running app."""

    app: Any
    flow: VisitFlow
    devices: Devices
    voice: Voice
    first_frame_at: asyncio.Future[float]
    startup: dict[str, float]
    """When each step of the start-up ended (:func:`time.time`), in order:
    :data:`STARTUP_STEPS`."""


STARTUP_STEPS = (
    ("run_kiosk", "imports and configuration before the app"),
    ("kivy_configured", "Kivy's configuration"),
    ("rules", "the rules and their words (both catalogs)"),
    ("devices", "the devices opened"),
    ("flow", "the visit flow"),
    ("kivy_imported", "Kivy imported, its window made"),
    ("app_built", "the app built (font, sizes, renderer)"),
    ("first_render", "the first screen built"),
    ("first_frame", "the first frame drawn"),
)
"""The start-up's steps, each ending at its mark, with what it does."""


def startup_summary(marks: dict[str, float]) -> str:
    """The start-up's steps in seconds, for the log (from the first mark on)."""
    names = [n for n, _ in STARTUP_STEPS if n in marks]
    steps = [f"{b} {marks[b] - marks[a]:.2f}" for a, b in itertools.pairwise(names)]
    total = marks[names[-1]] - marks[names[0]]
    return f"{total:.2f} s from run_kiosk: " + ", ".join(steps)


Extra = Callable[[Running], Awaitable[None]]
OpenDevices = Callable[[], AbstractAsyncContextManager[Devices]]
"""Opens the kiosk's devices (closed on exit); the default is the configured
ones (:func:`kiosk.compose.open_devices`)."""


def build_app(
    flow: VisitFlow, config: Config, voice: Voice, marks: dict[str, float] | None = None
) -> Any:
    """Create the Kivy App (imports Kivy: call :func:`configure_kivy` first);
    ``marks``: where the start-up's steps end (:data:`STARTUP_STEPS`)."""
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.graphics import Color, Rectangle
    from kivy.uix.floatlayout import FloatLayout

    from kiosk.app import theme
    from kiosk.app.fonts import register_default_font
    from kiosk.app.metrics import Metrics, measure_cap_ratio
    from kiosk.app.screens import Renderer

    steps: dict[str, float] = {} if marks is None else marks
    steps["kivy_imported"] = time.time()

    class Root(FloatLayout):  # type: ignore[misc]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            with self.canvas.before:
                Color(*theme.BACKGROUND)
                self._bg = Rectangle(pos=self.pos, size=self.size)
            self.bind(size=self._sync, pos=self._sync)

        def _sync(self, *_: Any) -> None:
            self._bg.pos, self._bg.size = self.pos, self.size

        def on_touch_down(self, touch: Any) -> bool:
            flow.touch()
            return bool(super().on_touch_down(touch))

    class KioskApp(App):  # type: ignore[misc]
        title = "healthkiosk"

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.exit_code = 0
            self.renderer: Renderer | None = None
            self._cue: tuple[object, ...] | None = None
            self._pending: State | None = None
            self._scheduled = False
            self._idle = False
            self.font_path: Path | None = None

        def build(self) -> Any:
            self.font_path = register_default_font()
            if self.font_path is None:
                log.warning("no Simplified-Chinese font found: install fonts-wqy-microhei")
            Window.clearcolor = theme.BACKGROUND
            metrics = Metrics(
                px_per_mm_x=Window.width / config.kiosk.panel_width_mm,
                px_per_mm_y=Window.height / config.kiosk.panel_height_mm,
                cap_ratio=measure_cap_ratio(),
            )
            self.metrics = metrics
            root = Root()
            self.renderer = Renderer(
                root,
                flow,
                metrics,
                card_reader_side=config.kiosk.card_reader_side,
                on_replay=self._replay,
            )
            flow.subscribe(self._on_state)
            steps["app_built"] = time.time()
            return root

        def _replay(self) -> None:
            """Says the words of the screen now again ("Repeat")."""
            state = flow.state
            _cue, parts = prompt_for(state)
            voice.say(parts, state.language)

        def _on_state(self, state: State) -> None:
            # Render once per frame, just before it is drawn: the flow's call
            # (a device task about to save a reading) is never held up by
            # widget building, and bursts of cuff pressures coalesce. The
            # "saving" screen only shows if saving takes noticeably long, so
            # the UI thread leaves the commit alone.
            self._pending = state
            if state.screen is Screen.SAVING:
                Clock.schedule_once(self._apply, SAVING_SHOWN_AFTER_S)
            elif not self._scheduled:
                self._scheduled = True
                Clock.schedule_once(self._apply, -1)

        def _apply(self, *_: Any) -> None:
            self._scheduled = False
            state, self._pending = self._pending, None
            if state is None:
                return
            assert self.renderer is not None
            was_idle = self._idle
            self.renderer.render(state)
            steps.setdefault("first_render", time.time())
            self._idle = state.screen is Screen.ATTRACT
            if self._idle and not was_idle:
                # The visit is over and the attract screen is drawn: the one
                # moment a full collection keeps nobody waiting.
                Clock.schedule_once(lambda _dt: collect_when_idle(), IDLE_GC_AFTER_S)
            cue, parts = prompt_for(state)
            if cue != self._cue:
                self._cue = cue
                voice.say(parts, state.language)
            if state.tech is not None and state.tech.restart_requested and not self.exit_code:
                log.info("restart requested from the technician screen")
                self.exit_code = EXIT_RESTART
                self.stop()

    return KioskApp()


async def run_kiosk(
    config: Config,
    *,
    fullscreen: bool,
    devices: OpenDevices | None = None,
    extra: Extra | None = None,
) -> int:
    """Run the kiosk until its window closes; returns the exit code.

    ``devices``: how the devices are opened (``healthkiosk run --simulate``
    gives the emulated twins'; tests give fakes); by default the configured
    ones. ``extra`` runs beside the app (demo keys, a test's scenario)."""
    marks: dict[str, float] = {"run_kiosk": time.time()}
    configure_kivy(size=config.kiosk.resolution, fullscreen=fullscreen)
    marks["kivy_configured"] = time.time()
    # Database work runs in worker threads while the UI thread draws frames;
    # a short GIL switch interval lets a reading's commit through between
    # frames instead of waiting 5 ms at every SQLite call.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    clock = RealClock()
    recorder = DeferredRecorder(lambda: open_recorder(config))
    voice = Voice(
        enabled=config.kiosk.voice_enabled,
        volume=config.kiosk.voice_volume,
        pack=config.kiosk.voice_pack,
        chime=config.kiosk.chime,
    )
    rules = load_rules(config.rules)  # checked: every problem named, or no start
    missing_words = check_words(category_words())
    if missing_words:  # a category the result screen could not name: refuse to start
        raise RulesError(missing_words)
    marks["rules"] = time.time()
    # Whether the station's clock is synchronised: each reading is marked with
    # it, and the drivers set no device clock while it is not.
    trust = clocktrust.shared(config.station.clock)
    opening = (
        devices() if devices is not None else open_devices(config, clock_trusted=trust.trusted)
    )
    async with opening as opened:
        marks["devices"] = time.time()
        flow = VisitFlow(
            config=config.kiosk,
            rules=rules,
            devices=opened,
            recorder=recorder,
            clock=clock,
            version=__version__,
            visit_gate=VisitLock(visitlock.path_for(config)),
            slip=SlipSettings.from_config(config),
            clock_synced=trust.trusted,
            pin_attempts=PinFile(techpin.path_for(config.data_dir)),
            help_desk=FileHelpDesk(config.data_dir),
            staff_alert=StationAlert(voice, lamp_from(config.kiosk)),
        )
        marks["flow"] = time.time()
        app = build_app(flow, config, voice, marks)
        loop = asyncio.get_running_loop()
        first_frame: asyncio.Future[float] = loop.create_future()

        def on_flip(*_: Any) -> None:
            if not first_frame.done():
                marks["first_frame"] = time.time()
                first_frame_drawn()  # collections were held off (kiosk/app/gcpolicy.py)
                first_frame.set_result(marks["first_frame"])
                log.info("first frame: %s", startup_summary(marks))
                recorder.open_soon()
                # The first frame is on screen: READY=1 to systemd and the
                # health file the updater waits for after a switch.
                health.report("ready", unit=HEALTH_UNIT, health_dir=health.dir_for(config))

        def on_start(*_: Any) -> None:
            from kivy.core.window import Window

            Window.bind(on_flip=on_flip)
            install_probe(app)  # only when HEALTHKIOSK_KIOSK_PROBE is set (tests)

        app.bind(on_start=on_start)
        running = Running(app, flow, opened, voice, first_frame, marks)
        async with asyncio.TaskGroup() as tg:
            flow_task = tg.create_task(flow.run(), name="visit-flow")
            # Pinged from the loop that also draws the frames: a frozen UI
            # stops the pings and systemd restarts the kiosk (WatchdogSec=).
            watchdog = tg.create_task(sdnotify.watchdog_loop(), name="watchdog")
            clock_state = tg.create_task(trust.keep_fresh(), name="clock-state")
            extra_task = (
                tg.create_task(_guard_extra(extra, running), name="extra") if extra else None
            )
            try:
                await app.async_run(async_lib="asyncio")
            finally:
                flow.close()
                watchdog.cancel()
                clock_state.cancel()
                if extra_task is not None and not extra_task.done():
                    extra_task.cancel()
                await voice.close()
            await flow_task
        return int(app.exit_code)


async def _guard_extra(extra: Extra, running: Running) -> None:
    try:
        await extra(running)
    finally:
        running.app.stop()
