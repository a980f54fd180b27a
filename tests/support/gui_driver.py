"""Drives the real kiosk app by touch events (run in its own process under Xvfb).

    python tests/support/gui_driver.py SCENARIO --config FILE --report FILE --shots DIR

The app runs as ``healthkiosk run`` does, on scriptable fake devices
(:mod:`tests.support.fake_devices`: a scenario queues each outcome) and, with
``--printed DIR``, a receipt printer: the real driver on its emulated twin,
which writes the slips it prints into DIR; beside it, a
scenario coroutine finds widgets by their test id, synthesises touch
events at their position on the window (Kivy MotionEvents posted to the
event loop, as the input providers do), waits for what should appear,
records every label's text and whether it overflows its box, and saves a
screenshot of each screen in both languages. It never calls the flow's
methods: the flow state is read only to name the screenshots.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from healthkiosk.config import load_config  # noqa: E402
from tests.support.fake_devices import (  # noqa: E402
    BpOutcome,
    GlucoseOutcome,
    demo_card,
    open_fake_devices,
)

_ids = itertools.count(1000)
T0 = time.monotonic()


class Driver:
    def __init__(self, running: Any, shots: Path, tag: str) -> None:
        self.r = running
        self.shots = shots
        self.tag = tag
        self.steps: list[dict[str, Any]] = []
        self.overflows: list[dict[str, Any]] = []
        self.elder: list[dict[str, Any]] = []
        """Where a screen misses the 适老化 numbers (:meth:`check_elder_norms`)."""
        self.shot_files: list[str] = []
        self.config: Any = None

    # --- looking ---------------------------------------------------------------

    def widgets(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        root = self.r.app.root
        for w in root.walk(restrict=True):
            tid = getattr(w, "tid", "")
            if tid and tid not in found:
                found[tid] = w
        return found

    def texts(self) -> dict[str, str]:
        from kivy.uix.label import Label

        return {
            tid: getattr(w, "words", w.text)  # a label broken into lines: its words
            for tid, w in self.widgets().items()
            if isinstance(w, Label) and w.get_root_window() is not None
        }

    def buttons(self) -> list[dict[str, Any]]:
        from kivy.uix.button import Button

        out = []
        top_layer = self.r.app.root.children[0]  # the "still here?" panel when it shows
        for w in top_layer.walk(restrict=True):
            if isinstance(w, Button) and w.get_root_window() is not None:
                x, y = w.to_window(w.x, w.y)
                out.append({"tid": getattr(w, "tid", ""), "rect": [x, y, w.width, w.height],
                            "primary": bool(getattr(w, "primary", False))})  # fmt: skip
        return out

    def check_overflow(self, name: str) -> None:
        from kivy.uix.label import Label

        def overflows(label: Label) -> bool:
            """Whether a label's rendered text is larger than its box."""
            label.texture_update()
            tw, th = label.texture_size
            return bool(tw > label.width + 1 or th > label.height + 1)

        for w in self.r.app.root.walk(restrict=True):
            if isinstance(w, Label) and w.text and overflows(w):
                self.overflows.append(
                    {
                        "step": name,
                        "tid": getattr(w, "tid", ""),
                        "text": w.text,
                        "box": [round(w.width), round(w.height)],
                        "texture": list(w.texture_size),
                    }
                )
        self._check_summary_fits(name)
        self._check_texts_clear_of_buttons(name)

    def _check_texts_clear_of_buttons(self, name: str) -> None:
        """No text of the page lies over a button (a page taller than the panel
        squeezes its words under its buttons)."""
        from kivy.uix.button import Button
        from kivy.uix.label import Label

        page = self.r.app.root.children[-1]
        boxes = []
        for w in page.walk(restrict=True):
            if w.get_root_window() is None:
                continue
            x, y = w.to_window(w.x, w.y)
            boxes.append((w, (x, y, x + w.width, y + w.height)))
        buttons = [(w, b) for w, b in boxes if isinstance(w, Button)]
        for w, (x0, y0, x1, y1) in boxes:
            if isinstance(w, Button) or not isinstance(w, Label) or not w.text:
                continue
            for btn, (bx0, by0, bx1, by1) in buttons:
                if min(x1, bx1) - max(x0, bx0) > 2 and min(y1, by1) - max(y0, by0) > 2:
                    self.overflows.append({"step": name, "tid": getattr(w, "tid", ""),
                                           "under": getattr(btn, "tid", "")})  # fmt: skip

    def check_elder_norms(self, name: str) -> None:
        """The 适老化 numbers on what is on screen now: every text at least 18 dp
        (18/160 inch on the glass of this panel), the key numbers (a result, the
        cuff pressure, the typed ID number) at least 30 dp, every text against
        what is behind it at 7:1 or more. (Targets and their gaps:
        ``check_buttons`` in the tests, from the recorded button boxes.)"""
        from kivy.uix.button import Button
        from kivy.uix.label import Label

        from kiosk.app import theme

        px_per_mm = self.r.app.metrics.px_per_mm_y
        dp_mm = 25.4 / 160
        for w in self.r.app.root.walk(restrict=True):
            if not isinstance(w, Label) or not w.text or w.get_root_window() is None:
                continue
            tid = getattr(w, "tid", "")
            font_mm = w.font_size / px_per_mm
            least = 30 if tid in KEY_NUMBERS or tid.endswith(".value") else 18
            if font_mm < least * dp_mm - 1e-6:
                self.elder.append({"step": name, "tid": tid, "what": "size",
                                   "dp": round(font_mm / dp_mm, 1), "least": least})  # fmt: skip
            fg, bg = _colours(w, Button, theme)
            ratio = contrast(fg, bg)
            if ratio < 7.0:
                self.elder.append({"step": name, "tid": tid, "what": "contrast",
                                   "ratio": round(ratio, 2)})  # fmt: skip

    def _check_summary_fits(self, name: str) -> None:
        """The summary's results lie on the panel, between its title and its
        buttons (nothing pushed off or under them)."""
        found = self.widgets()
        listing, title, finish = (found.get(t) for t in ("summary.list", "summary.title",
                                                          "btn.finish"))  # fmt: skip
        if listing is None or title is None or finish is None:
            return
        _, bottom = listing.to_window(listing.x, listing.y)
        _, top = listing.to_window(listing.x, listing.top)
        _, title_bottom = title.to_window(title.x, title.y)
        _, buttons_top = finish.to_window(finish.x, finish.top)
        if top > title_bottom + 1 or bottom < buttons_top - 1:
            self.overflows.append(
                {"step": name, "tid": "summary.list",
                 "box": [round(bottom), round(top)], "between": [buttons_top, title_bottom]}
            )  # fmt: skip

    async def frame(self, n: int = 2) -> None:
        for _ in range(n):
            await asyncio.sleep(1 / 60)

    async def wait_for(self, tid: str, *, text: str | None = None, within: float = 20.0) -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            w = self.widgets().get(tid)
            if w is not None and (text is None or text in getattr(w, "text", "")):
                await self.frame(1)
                return w
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"{tid!r} (text {text!r}) not on screen; on screen: {sorted(self.texts().items())}; "
            f"screens: {self.r.flow.state.history}"
        )

    async def gone(self, tid: str, *, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if tid not in self.widgets():
                await self.frame()
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{tid!r} still on screen")

    # --- touching --------------------------------------------------------------

    async def tap(self, tid: str, *, within: float = 20.0) -> None:
        from kivy.base import EventLoop
        from kivy.input.motionevent import MotionEvent

        w = await self.wait_for(tid, within=within)
        assert not getattr(w, "disabled", False), f"{tid} is disabled"
        x, y = w.to_window(*w.center)
        win = EventLoop.window

        class Touch(MotionEvent):  # type: ignore[misc]
            def depack(self, args: dict[str, float]) -> None:
                self.sx, self.sy = args["sx"], args["sy"]
                self.profile = ["pos"]
                super().depack(args)

        touch = Touch(
            "gui-driver", next(_ids), {"sx": x / win.width, "sy": y / win.height},
            is_touch=True, type_id="touch",
        )  # fmt: skip
        EventLoop.post_dispatch_input("begin", touch)
        await self.frame(1)
        touch.update_time_end()
        EventLoop.post_dispatch_input("end", touch)
        await self.frame(1)

    # --- recording -------------------------------------------------------------

    async def record(self, name: str, *, both_languages: bool = True) -> dict[str, Any]:
        await self.frame(3)
        lang = self.r.flow.state.language
        step: dict[str, Any] = {
            "name": name,
            "screen": self.r.flow.state.screen.value,
            "texts": {},
            "t": round(time.monotonic() - T0, 2),
        }
        langs = [lang]
        if both_languages:
            langs.append("en" if lang == "zh_CN" else "zh_CN")
        for i, language in enumerate(langs):
            if i:
                await self.tap("btn.lang")
                await self.frame(3)
            step["texts"][language] = self.texts()
            step.setdefault("buttons", self.buttons())
            step.setdefault("button_sets", []).append(self.buttons())
            step.setdefault("widgets", sorted(self.widgets()))
            self.check_overflow(f"{name}/{language}")
            self.check_elder_norms(f"{name}/{language}")
            self.screenshot(f"{name}-{language}")
        if both_languages:
            await self.tap("btn.lang")  # back to where we were
            await self.frame(2)
        self.steps.append(step)
        return step

    def screenshot(self, name: str) -> None:
        path = self.shots / f"{self.tag}-{name}.png"
        t = time.monotonic()
        self.r.app.root.export_to_png(str(path))
        self.shot_seconds = getattr(self, "shot_seconds", 0.0) + time.monotonic() - t
        self.shot_files.append(path.name)


KEY_NUMBERS = frozenset({"result.value", "gauge.value", "checkin.number"})
"""Numbers an elder came for: at least 30 dp."""


def _colours(w: Any, button: type, theme: Any) -> tuple[Any, Any]:
    """A label's text colour and the colour behind it: its own button's, a
    banner's, else the page's."""
    if isinstance(w, button):
        fg = w.disabled_color if w.disabled else w.color
        return fg, w.background_color
    node, seen = w.parent, set()
    while node is not None and id(node) not in seen:  # up to the window (its own parent)
        seen.add(id(node))
        if isinstance(node, button):
            return w.color, node.background_color
        bg = getattr(node, "bg", None)
        if bg is not None:
            return w.color, bg
        node = node.parent
    return w.color, theme.BACKGROUND


def contrast(a: Any, b: Any) -> float:
    """WCAG 2 contrast ratio of two RGB(A) colours (alpha ignored: all opaque)."""

    def lum(c: Any) -> float:
        def ch(v: float) -> float:
            return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2])

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


async def confirm_and_choose_both(d: Driver, bp: Any) -> None:
    """From a typed ID number: OK, "yes, that is me", both measurements (the
    monitor held at its gate so the preparation screens can be looked at)."""
    await d.record("checkin-typed")
    await d.tap("btn.ok")
    await d.wait_for("confirm.id")
    await d.record("confirm")
    await d.tap("confirm.yes")
    await d.wait_for("btn.both")
    await d.record("choose")
    bp.gate = asyncio.Event()
    await d.tap("btn.both")


async def staff_first(d: Driver, *, within: float = 20.0) -> bool:
    """An urgent result has called staff ("工作人员已到" on it for them); where its row
    has no room for that beside "measure glucose too" (800x480), the staff come first:
    they acknowledge, and measuring more is offered again. True if they had to."""
    await d.wait_for("btn.staff_here", within=within)
    if "btn.next" in d.widgets():
        return False
    await d.tap("btn.staff_here")
    await d.wait_for("btn.next")
    return True


async def visit_both(d: Driver) -> None:
    """Keypad check-in, blood pressure (urgent, irregular, a third reading) then glucose."""
    from healthkiosk.readings import BloodPressureStatus

    bp, gl = d.r.devices.blood_pressure, d.r.devices.glucose
    bp.queue(
        BpOutcome(176, 104, 88, BloodPressureStatus(irregular_pulse=True)),
        BpOutcome(190, 114, 90),
        BpOutcome(186, 112, 90),
    )
    gl.queue(GlucoseOutcome(6.4))
    await d.wait_for("attract.start")
    await d.record("attract")
    await d.tap("attract.start")
    await d.wait_for("key.1")
    number = demo_card().id_number
    for ch in number[:17]:
        await d.tap(f"key.{ch}")
    wrong = "1" if number[17] != "1" else "2"
    await d.tap(f"key.{wrong}")
    await d.wait_for("checkin.error")
    await d.record("checkin-wrong-digit")
    await d.tap("key.back")
    await d.gone("checkin.error")
    await d.tap(f"key.{number[17]}")
    await confirm_and_choose_both(d, bp)
    await d.wait_for("prep_bp.rest")
    await d.record("prep_bp-resting")
    await d.wait_for("prep_bp.ready")
    await d.record("prep_bp-ready")
    await d.tap("btn.start_bp")
    await d.wait_for("gauge")
    for _ in range(1000):  # the cuff holds at the top while the gate is closed
        if int(d.texts().get("gauge.value") or 0) >= 150:
            break
        await asyncio.sleep(0.02)
    await d.record("measure_bp")
    bp.gate.set()
    await d.wait_for("bp_pause.taken", within=30)
    await d.record("bp_pause")
    await d.wait_for("bp_pause.third", within=30)
    await d.record("bp_pause-third")
    await d.wait_for("result.value", within=60)
    await d.record("result-bp")
    if await staff_first(d):
        await d.record("result-bp-staff-here")
    await d.tap("btn.next")
    await d.wait_for("btn.meal.fasting")
    await d.record("glucose_meal")
    await d.tap("btn.meal.fasting")
    await d.wait_for("btn.glucose_ready")
    await d.record("prep_glucose")
    gl.gate = asyncio.Event()
    await d.tap("btn.glucose_ready")
    await d.wait_for("measure_glucose.wait")
    await d.record("measure_glucose")
    gl.gate.set()
    await d.wait_for("result.value", text="6.4", within=30)
    await d.record("result-glucose")
    await d.tap("btn.summary")  # two results: the summary of both comes next
    await d.wait_for("summary.0.value")
    await d.record("summary")
    if "btn.more" in d.widgets():  # the glucose's note takes it to a second page
        await d.tap("btn.more")
        await d.wait_for("summary.1.value")
        await d.record("summary-page2")
    await d.tap("btn.replay")  # "Repeat": the summary said again
    await d.frame(3)
    await d.tap("btn.finish")
    await d.wait_for("done.body")
    await d.record("done")
    await d.wait_for("attract.start", within=30)
    d.steps.append({"name": "back-to-attract", "screen": "attract", "texts": {"any": d.texts()}})


async def checkin_elder(d: Driver) -> None:
    """Check-in by keypad as an elder may get it wrong: the prompt with the
    arrow to the card reader; a region that is no province, a birth date that
    is no date, OK before all 18 are typed, one digit wrong anywhere (each
    named on screen and said); Delete and Clear; then the right number of a
    resident this station has seen (the store seeded with her card's name and
    two readings): greeted by her masked name and the day of her last visit.
    Stuck on the wrong digit, she calls staff (呼叫工作人员 beside the keypad);
    the call stays open while she goes on. Her blood pressure then shows the
    dated trend."""
    from kiosk.app.i18n import text

    bp = d.r.devices.blood_pressure
    bp.queue(BpOutcome(138, 86, 70), BpOutcome(136, 84, 70))
    number = demo_card().id_number
    await d.wait_for("attract.start")
    await d.tap("attract.start")
    await d.wait_for("checkin.arrow")
    await d.record("checkin-prompt")

    async def typed(chars: str) -> None:
        for ch in chars:
            await d.tap(f"key.{ch}")

    async def clear() -> None:
        await d.tap("key.clear")
        await d.wait_for("checkin.prompt")

    await typed("99")
    await d.wait_for("checkin.error")
    await d.record("checkin-region")
    await clear()
    await typed(number[:6] + "19501301")
    await d.wait_for("checkin.error")
    await d.record("checkin-birth_date")
    await clear()
    await typed(number[:12])
    await d.wait_for("checkin.left")
    await d.record("checkin-left")
    await d.tap("btn.ok")
    await d.wait_for("checkin.error")
    await d.record("checkin-length")
    await clear()
    wrong = "1" if number[17] != "1" else "2"
    await typed(number[:17])
    await d.record("checkin-seventeen", both_languages=False)
    await typed(wrong)
    await d.wait_for("checkin.error")
    await d.record("checkin-check_digit")
    await d.tap("btn.replay")  # "Repeat": what is wrong, said again
    await d.frame(3)
    # Stuck on the number: 呼叫工作人员, beside the keypad. What happens now
    # takes its place; the call stays open through the visit (the test reads
    # the call kiosk-sync would send: from check-in, naming what is wrong).
    await d.tap("btn.call_staff")
    await d.wait_for("help.status", text=text(d.r.flow.state.language, "help.short.called")[:3])
    await d.record("checkin-staff-called")
    await d.tap("key.back")
    await d.gone("checkin.error")
    await typed(number[17])
    await d.tap("btn.ok")
    await d.wait_for("confirm.name")
    await d.record("confirm-returning")
    await d.tap("confirm.yes")
    await d.tap("btn.bp")
    await d.wait_for("prep_bp.ready", within=30)
    await d.tap("btn.start_bp")
    await d.wait_for("result.value", text="137/85", within=60)
    await d.record("result-trend")
    await d.tap("btn.finish")
    await d.wait_for("attract.start", within=30)


async def summary_visit(d: Driver, tag: str) -> None:
    """From the result of a visit's last measurement: the summary, every page
    of it recorded in both languages, then finish and the attract screen."""
    await d.tap("btn.summary")
    await d.wait_for("summary.0.value")
    await d.record(f"summary-{tag}")
    more = d.widgets().get("btn.more")  # "More results (1/N)": the other pages, in turn
    pages = int(re.findall(r"\d+", more.text)[-1]) if more is not None else 1
    for page in range(2, pages + 1):
        await d.tap("btn.more")
        await d.wait_for("btn.more", text=f"{page}/{pages}")
        await d.record(f"summary-{tag}-page{page}")
    await d.tap("btn.finish")
    await d.wait_for("attract.start", within=30)


async def summary_layouts(d: Driver) -> None:
    """The summary screen as it ends three visits, in both languages (layout
    and words, not a visit an elder would have): an urgent blood pressure and a
    normal glucose; a raised pressure with an irregular pulse and a fasting
    glucose near the limit (the longest words, each result with a note); and
    three results (a meter that lost its link, the choice again), which may
    need a second page."""
    from healthkiosk.readings import BloodPressureStatus

    bp, gl = d.r.devices.blood_pressure, d.r.devices.glucose

    async def check_in_and_measure(meal: str, *, urgent: bool = False) -> None:
        await d.tap("attract.start")
        await d.wait_for("checkin.prompt")
        d.r.devices.id_card.present(demo_card())
        await d.tap("confirm.yes")
        await d.tap("btn.both")
        await d.wait_for("prep_bp.ready", within=30)
        await d.tap("btn.start_bp")
        if urgent:
            await staff_first(d, within=60)
        await d.wait_for("btn.next", within=60)
        await d.tap("btn.next")
        await d.tap(f"btn.meal.{meal}")
        await d.tap("btn.glucose_ready")

    bp.queue(BpOutcome(186, 116, 80), BpOutcome(184, 114, 78))
    gl.queue(GlucoseOutcome(6.4))
    await check_in_and_measure("after_meal", urgent=True)
    await d.wait_for("result.value", text="6.4", within=30)
    await summary_visit(d, "urgent")

    bp.queue(BpOutcome(150, 92, 70, BloodPressureStatus(irregular_pulse=True)),
             BpOutcome(148, 90, 70))  # fmt: skip
    gl.queue(GlucoseOutcome(6.4))
    await check_in_and_measure("fasting")
    await d.wait_for("result.value", text="6.4", within=30)
    await summary_visit(d, "notes")

    bp.queue(BpOutcome(150, 92, 70), BpOutcome(148, 90, 70),
             BpOutcome(166, 102, 70), BpOutcome(164, 100, 70))  # fmt: skip
    from healthkiosk.errors import DeviceConnectionError

    gl.queue(GlucoseOutcome(error=DeviceConnectionError("gone")), GlucoseOutcome(2.9))
    await check_in_and_measure("fasting")
    await d.wait_for("error.message", within=30)
    await d.tap("btn.back")  # back to the choice; the first result stays with the visit
    await d.tap("btn.both")
    await d.wait_for("prep_bp.ready", within=30)
    await d.tap("btn.start_bp")
    await d.wait_for("btn.next", within=60)
    await d.wait_for("btn.summary")  # two results already: both ways on, side by side
    await d.record("result-next-or-summary")
    await d.tap("btn.next")
    await d.tap("btn.meal.fasting")
    await d.tap("btn.glucose_ready")
    await d.wait_for("result.value", text="2.9", within=30)
    await summary_visit(d, "three")


async def visit_errors(d: Driver) -> None:
    """Card check-in, a movement error, retry, normal result; still-here; technician."""
    from healthkiosk.readings import BloodPressureStatus

    bp = d.r.devices.blood_pressure
    bp.queue(
        BpOutcome(150, 90, 70, BloodPressureStatus(body_movement=True)),
        BpOutcome(118, 76, 64),
        BpOutcome(116, 74, 62),
    )
    await d.tap("attract.start")
    await d.wait_for("checkin.prompt")
    d.r.devices.id_card.present(demo_card())
    await d.wait_for("confirm.name", text="王*英")
    await d.tap("confirm.yes")
    # Walk away: the "still here?" question comes after idle_timeout_s.
    await d.wait_for("btn.still_here", within=30)
    await d.record("still_here", both_languages=False)
    await d.tap("btn.still_here")
    await d.gone("btn.still_here")
    await d.tap("btn.bp")
    await d.wait_for("prep_bp.ready", within=30)
    await d.tap("btn.start_bp")
    await d.wait_for("error.message", within=30)
    await d.record("error-body_movement")
    await d.tap("btn.retry")
    await d.wait_for("result.value", text="117/75", within=60)
    await d.record("result-normal")
    await d.tap("btn.finish")
    await d.wait_for("attract.tech", within=30)
    await d.tap("attract.tech")
    await d.wait_for("pin.1")
    for ch in "2468":
        await d.tap(f"pin.{ch}")
    await d.record("tech_pin")
    await d.tap("pin.ok")
    await d.wait_for("tech.sync")
    await d.record("technician")
    await d.tap("btn.test")
    await d.wait_for("tech.device.blood_pressure", text="SIM-BP-0001")
    await d.record("technician-tested")
    await d.tap("btn.pair")  # first how to put the device in its pairing window
    await d.wait_for("pair.guide")
    await d.record("technician-pair-guide")
    await d.tap("btn.pair_start")  # fake devices: none needs pairing, and it says so
    await d.wait_for("tech.device.glucose", text="无需配对")
    await d.record("technician-paired")
    await d.tap("btn.back")
    await d.wait_for("attract.start")


async def screen_tour(d: Driver) -> None:
    """One of each kind of screen, in both languages, on the panels the whole
    visits do not run on: attract, check-in keypad, confirm, choose, blood
    pressure preparation and measuring, result, "still here?" over the result,
    glucose questions, an error, glucose measuring, the summary. By touch
    throughout."""
    from healthkiosk.errors import DeviceConnectionError

    bp, gl = d.r.devices.blood_pressure, d.r.devices.glucose
    bp.queue(BpOutcome(128, 84, 72), BpOutcome(126, 82, 70))
    gl.queue(GlucoseOutcome(error=DeviceConnectionError("link lost")), GlucoseOutcome(5.6))
    await d.wait_for("attract.start")
    await d.record("attract")
    await d.tap("attract.start")
    await d.wait_for("key.1")
    for ch in demo_card().id_number:
        await d.tap(f"key.{ch}")
    await confirm_and_choose_both(d, bp)
    await d.wait_for("prep_bp.ready", within=30)
    await d.record("prep_bp-ready")
    await d.tap("btn.start_bp")
    await d.wait_for("gauge")
    for _ in range(1000):  # the cuff holds at the top while the gate is closed
        if int(d.texts().get("gauge.value") or 0) >= 150:
            break
        await asyncio.sleep(0.02)
    await d.record("measure_bp")
    bp.gate.set()
    await d.wait_for("result.value", text="127/83", within=60)
    await d.record("result-bp")
    # Left alone on the result (result_timeout_s): the question comes over it.
    await d.wait_for("btn.still_here", within=30)
    await d.record("still_here-result", both_languages=False)
    await d.tap("btn.still_here")
    await d.gone("btn.still_here")
    await d.tap("btn.next")
    await d.wait_for("btn.meal.fasting")
    await d.record("glucose_meal")
    await d.tap("btn.meal.fasting")
    await d.wait_for("btn.glucose_ready")
    await d.record("prep_glucose")
    await d.tap("btn.glucose_ready")
    await d.wait_for("error.message", within=30)
    await d.record("error-link_lost")
    gl.gate = asyncio.Event()
    await d.tap("btn.retry")
    await d.wait_for("measure_glucose.wait")
    await d.record("measure_glucose")
    gl.gate.set()
    await d.wait_for("result.value", text="5.6", within=30)
    await d.tap("btn.summary")  # blood pressure and glucose: the summary of both
    await d.wait_for("summary.0.value")
    await d.record("summary")
    if "btn.more" in d.widgets():  # the glucose's note takes it to a second page
        await d.tap("btn.more")
        await d.wait_for("summary.1.value")
        await d.record("summary-page2")
    await d.tap("btn.finish")
    await d.wait_for("attract.start", within=30)


async def error_layouts(d: Driver) -> None:
    """Every error message of ``kiosk.flow.errors.ERROR_KEYS`` on screen in both
    languages, for the layout checks (overflow, buttons on the panel,
    screenshots): not a visit an elder would have.

    Device errors come from the fake devices' fault scripts (the glucose
    meter and the blood pressure monitor raise the drivers' errors) and are
    reached by touch, one after another through "Try again"; "updating"
    by touch too, while this driver holds the visit lock as the updater does.
    The store is the real one: ``store_error`` is a reading saved while this
    driver holds the store's write lock past its busy timeout (as another
    process writing to it would); ``store_full`` needs a store asking for more
    free disk than there is, so it has a run of its own (:func:`store_full`)."""
    from healthkiosk.errors import (
        DeviceConnectionError,
        DeviceError,
        DeviceNotFoundError,
        DeviceTimeoutError,
        MeasurementError,
        MeasurementProblem,
    )
    from healthkiosk.visitlock import VisitLock, path_for

    def words(key: str) -> str:
        return error_words(d, key)

    def problem(p: MeasurementProblem) -> GlucoseOutcome:
        return GlucoseOutcome(error=MeasurementError(f"meter says {p.value}", problem=p))

    meter: list[tuple[str, GlucoseOutcome]] = [
        ("device_not_found", GlucoseOutcome(error=DeviceNotFoundError("not seen"))),
        ("not_paired", GlucoseOutcome(error=DeviceError("refused", reason="not_paired"))),
        ("bluetooth_off", GlucoseOutcome(error=DeviceError("off", reason="bluetooth_off"))),
        ("link_lost", GlucoseOutcome(error=DeviceConnectionError("gone"))),
        ("device_timeout", GlucoseOutcome(error=DeviceTimeoutError("silent"))),
        ("strip_error", problem(MeasurementProblem.STRIP_ERROR)),
        ("out_of_range", problem(MeasurementProblem.OUT_OF_RANGE)),
        ("implausible", GlucoseOutcome(40.0)),  # beyond rules.glucose.plausible
        ("device_error", problem(MeasurementProblem.DEVICE_ERROR)),
    ]
    # The monitor refusing at the start (as a driver's MeasurementError): no
    # cuff cycle to wait for. The flags on a finished measurement reach the
    # same screens in visit_errors.
    monitor: list[tuple[str, BpOutcome]] = [
        (p.value, BpOutcome(error=MeasurementError(f"monitor says {p.value}", problem=p)))
        for p in (
            MeasurementProblem.BODY_MOVEMENT,
            MeasurementProblem.CUFF_FIT,
            MeasurementProblem.IMPROPER_POSITION,
        )
    ]
    d.r.devices.glucose.queue(*(o for _, o in meter))
    d.r.devices.blood_pressure.queue(*(o for _, o in monitor))
    await d.tap("attract.start")
    await d.wait_for("checkin.prompt")
    d.r.devices.id_card.present(demo_card())
    await d.tap("confirm.yes")
    await d.tap("btn.glucose")
    await d.tap("btn.meal.fasting")
    await d.tap("btn.glucose_ready")
    for i, (key, _) in enumerate(meter):
        if i:
            await d.tap("btn.retry")
        await d.wait_for("error.message", text=words(key), within=30)
        await d.record(f"error-{key}")
    await d.tap("btn.back")  # back to the choice
    await d.tap("btn.bp")
    await d.wait_for("prep_bp.ready", within=30)
    await d.tap("btn.start_bp")
    for i, (key, _) in enumerate(monitor):
        if i:
            await d.tap("btn.retry")
        await d.wait_for("error.message", text=words(key), within=60)
        await d.record(f"error-{key}")
    await d.tap("btn.back")  # back to the choice
    d.r.devices.glucose.queue(GlucoseOutcome(5.6))
    with store_write_locked(d.config.store_path):
        await measure_glucose(d)
        await d.wait_for("error.message", text=words("store_error"), within=30)
    await d.gone("btn.retry")
    await d.record("error-store_error")
    await d.tap("btn.finish")
    await d.wait_for("attract.start", within=30)
    with VisitLock(path_for(d.config)):  # an update being installed
        await d.tap("attract.start")
        await d.wait_for("error.message", text=words("updating"))
        await d.record("error-updating")
        await d.tap("btn.finish")
        await d.wait_for("attract.start", within=30)


async def store_full(d: Driver) -> None:
    """A glucose reading the store refuses for want of disk: this run's store
    asks for more free space than its disk has (``[store] min_free_mb``)."""
    d.r.devices.glucose.queue(GlucoseOutcome(5.6))
    await d.tap("attract.start")
    await d.wait_for("checkin.prompt")
    d.r.devices.id_card.present(demo_card())
    await d.tap("confirm.yes")
    await measure_glucose(d)
    await d.wait_for("error.message", text=error_words(d, "store_full"), within=30)
    await d.gone("btn.retry")
    await d.record("error-store_full")
    await d.tap("btn.finish")
    await d.wait_for("attract.start", within=30)


async def measure_glucose(d: Driver) -> None:
    """From the choice: glucose, fasting, the strip is in."""
    await d.tap("btn.glucose")
    await d.tap("btn.meal.fasting")
    await d.tap("btn.glucose_ready")


def error_words(d: Driver, key: str) -> str:
    from kiosk.app.i18n import text

    return text(d.r.flow.state.language, f"error.{key}")


@contextmanager
def store_write_locked(path: Path) -> Iterator[None]:
    """Hold the store's write lock from another connection, as another process
    writing to the store would: the kiosk's save waits out its busy timeout."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        yield
        con.execute("ROLLBACK")
    finally:
        con.close()


async def visit_prints(d: Driver) -> None:
    """Card check-in, an urgent blood pressure, Finish: the slip comes out of
    the emulated printer (the real escpos-serial driver on its pty twin) while
    the thank-you screen says so; then "Print slip" prints it again."""
    bp = d.r.devices.blood_pressure
    bp.queue(BpOutcome(186, 112, 90), BpOutcome(182, 110, 88))
    printer = PRINTER_TWIN[0].emulator.printer
    await d.wait_for("attract.start")
    await d.tap("attract.start")
    await d.wait_for("checkin.prompt")
    d.r.devices.id_card.present(demo_card())
    await d.wait_for("confirm.name", text="王*英")
    await d.tap("confirm.yes")
    await d.tap("btn.bp")
    await d.wait_for("prep_bp.ready", within=30)
    await d.tap("btn.start_bp")
    await d.wait_for("result.value", text="184/111", within=60)
    await d.record("result-urgent")
    await d.tap("btn.finish")
    await d.wait_for("print.status", text=print_words(d, "printed"), within=60)
    await d.record("done-printed")
    assert len(printer.slips) == 1, printer.slips
    await d.tap("btn.print")
    for _ in range(1000):
        if len(printer.slips) == 2:
            break
        await asyncio.sleep(0.02)
    await d.wait_for("print.status", text=print_words(d, "printed"), within=60)
    await d.record("done-printed-again", both_languages=False)
    await d.wait_for("attract.start", within=30)
    d.printed = [str(s.path) for s in printer.slips]
    d.printer_errors = [str(e) for e in printer.errors]


def print_words(d: Driver, status: str) -> str:
    from kiosk.app.i18n import text

    return text(d.r.flow.state.language, f"print.{status}")


PRINTER_TWIN: list[Any] = []
"""The running emulated printer of ``--printed`` runs (one)."""


@asynccontextmanager
async def with_emulated_printer(printed: Path, **fakes: Any) -> AsyncIterator[Any]:
    """The fake devices, and a receipt printer: the real ``escpos-serial``
    driver (through the kiosk's own reconnecting wrapper) on its emulated
    twin, which writes each slip into ``printed`` as a PNG."""
    from dataclasses import replace

    from emulation import twins
    from kiosk.reconnect import ReconnectingPrinter

    options = {"dot_width": 384, "emulator": {"out_dir": str(printed)}}
    async with (
        open_fake_devices(**fakes) as devices,
        twins.start("escpos-serial", options=options) as twin,
    ):
        PRINTER_TWIN.append(twin)
        printer = ReconnectingPrinter(
            lambda **_: twins.open_driver(twin, options=options),
            dot_width=384,
            name="escpos-serial",
            transport="serial",
            role="printer",
        )
        try:
            yield replace(devices, printer=printer)
        finally:
            await printer.close()


async def help_urgent(d: Driver) -> None:
    """Issue 16: a card check-in, an urgent blood pressure: the result says what
    happens now, the doctor is told (the call goes through kiosk-sync; the test
    checks the broker and the doctor's list), more measuring is a small choice."""
    bp = d.r.devices.blood_pressure
    bp.queue(BpOutcome(186, 116, 80), BpOutcome(184, 114, 78))
    await d.tap("attract.start")
    await d.wait_for("checkin.prompt")
    d.r.devices.id_card.present(demo_card())
    await d.tap("confirm.yes")
    await d.tap("btn.both")
    await d.wait_for("prep_bp.ready", within=30)
    await d.record("prep_bp-staff")
    await d.tap("btn.start_bp")
    await d.wait_for("result.value", text="185/115", within=60)
    await d.wait_for("help.result", text="已通知医生", within=20)
    await d.record("result-urgent")
    d.steps[-1]["chimes"] = d.r.voice.chimes
    await d.tap("btn.summary" if "btn.summary" in d.widgets() else "btn.finish")
    await d.wait_for("help.status", within=30)  # the thank-you, then the attract screen
    await d.wait_for("attract.start", within=30)
    await d.record("attract-help-open")


async def help_error(d: Driver) -> None:
    """Issue 16: a meter that cannot be found needs staff: 呼叫工作人员 is the
    error's main way forward; pressed, the screen says staff are called; the
    test acknowledges on the web, and the kiosk says so (waits up to 150 s)."""
    from healthkiosk.errors import DeviceNotFoundError

    gl = d.r.devices.glucose
    gl.queue(GlucoseOutcome(error=DeviceNotFoundError("no meter")))
    await d.tap("attract.start")
    await d.wait_for("checkin.prompt")
    d.r.devices.id_card.present(demo_card())
    await d.tap("confirm.yes")
    await d.tap("btn.glucose")
    await d.wait_for("btn.meal.fasting")
    await d.record("glucose_meal-staff")
    await d.tap("btn.meal.fasting")
    await d.tap("btn.glucose_ready")
    await d.wait_for("error.message", within=30)
    await d.record("error-needs-staff")
    await d.tap("btn.call_staff")
    await d.wait_for("help.status", text="已通知工作人员", within=20)
    await d.record("error-staff-called")
    await d.wait_for("help.status", text="工作人员已收到", within=150)
    await d.record("error-staff-acknowledged")
    d.steps[-1]["chimes"] = d.r.voice.chimes


async def visit_vitals(d: Driver) -> None:
    """Keypad check-in, weight (no height from the scale: the height keypad), then
    "Next" to blood oxygen (urgent) and temperature, the summary, in both languages."""
    from tests.support.fake_devices import oximetry, temperature, weight

    dev = d.r.devices
    dev.weight.queue(weight(70.2, device=dev.weight))
    dev.pulse_oximeter.queue(oximetry(87, 96, device=dev.pulse_oximeter))
    dev.thermometer.queue(temperature(37.6, device=dev.thermometer))
    await d.wait_for("attract.start")
    await d.tap("attract.start")
    await d.wait_for("key.1")
    for ch in demo_card().id_number:
        await d.tap(f"key.{ch}")
    await d.tap("btn.ok")
    await d.wait_for("confirm.id")
    await d.tap("confirm.yes")
    await d.wait_for("btn.weight")
    await d.record("choose")
    # each measuring screen read in both languages before its result comes
    for device in (dev.weight, dev.pulse_oximeter):
        device.gate = asyncio.Event()
    await d.tap("btn.weight")
    await d.wait_for("measure_weight.body")
    await d.record("measure_weight")
    dev.weight.gate.set()
    await d.wait_for("height.prompt", within=30)
    for ch in "1659":  # the fourth digit is not taken
        await d.tap(f"hkey.{ch}")
    await d.record("height")
    await d.tap("btn.height_ok")
    await d.wait_for("result.value", text="70.2", within=30)
    await d.record("result-weight")
    await d.tap("btn.next")
    await d.wait_for("measure_spo2.body")
    await d.record("measure_spo2")
    dev.pulse_oximeter.gate.set()
    await d.wait_for("result.value", text="87", within=30)
    await d.record("result-spo2")
    # the staff the urgent result called acknowledge it on that screen
    await d.tap("btn.staff_here")
    await d.wait_for("help.result", text="工作人员马上来", within=10)
    await d.record("result-spo2-staff-here")
    await d.tap("btn.next")
    await d.wait_for("measure_temperature.body")
    await d.record("measure_temperature")
    await d.wait_for("result.value", text="37.6", within=30)
    await d.record("result-temperature")
    await summary_visit(d, "vitals")


@asynccontextmanager
async def with_vitals(**fakes: Any) -> AsyncIterator[Any]:
    """The fakes with a scale, an oximeter and a thermometer beside them."""
    from dataclasses import replace

    from kiosk.flow.clock import RealClock
    from tests.support.fake_devices import FakeVitalDevice

    clock = RealClock()
    async with open_fake_devices(**fakes) as devices:
        yield replace(
            devices,
            weight=FakeVitalDevice("Simulated weight scale", "SIM-WS-1", clock=clock, delay_s=1),
            pulse_oximeter=FakeVitalDevice("Simulated oximeter", "SIM-OX-1", clock=clock,
                                           delay_s=1),
            thermometer=FakeVitalDevice("Simulated thermometer", "SIM-TH-1", clock=clock,
                                        delay_s=1),
        )  # fmt: skip


SCENARIOS = {
    "checkin_elder": checkin_elder,
    "visit_both": visit_both,
    "visit_vitals": visit_vitals,
    "visit_prints": visit_prints,
    "visit_errors": visit_errors,
    "screen_tour": screen_tour,
    "error_layouts": error_layouts,
    "summary_layouts": summary_layouts,
    "store_full": store_full,
    "help_urgent": help_urgent,
    "help_error": help_error,
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--config", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--printed", help="a receipt printer (emulated) writing its slips here")
    a = ap.parse_args()
    cfg = load_config(a.config)
    shots = Path(a.shots)
    shots.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"scenario": a.scenario, "ok": False}

    async def scenario(running: Any) -> None:
        d = Driver(running, shots, a.tag)
        d.config = cfg
        report["driver"] = d
        await running.first_frame_at
        await SCENARIOS[a.scenario](d)
        report["ok"] = True

    from kiosk.app.main import run_kiosk

    def devices() -> Any:
        if a.printed:
            return with_emulated_printer(Path(a.printed), speed=40.0, start_delay_s=8.0)
        if a.scenario == "visit_vitals":
            return with_vitals(speed=40.0, start_delay_s=8.0)
        return open_fake_devices(speed=40.0, start_delay_s=8.0)

    error = None
    try:
        code = asyncio.run(run_kiosk(cfg, fullscreen=False, devices=devices, extra=scenario))
    except BaseException as err:  # report it, with what was seen so far
        import traceback

        error = "".join(traceback.format_exception(err))
        code = 1
    d = report.pop("driver", None)
    if d is not None:
        report.update(steps=d.steps, overflows=d.overflows, shots=d.shot_files, elder=d.elder)
        report["printed"] = getattr(d, "printed", [])
        report["printer_errors"] = getattr(d, "printer_errors", [])
        report["shot_seconds"] = round(getattr(d, "shot_seconds", 0.0), 2)
        report["font"] = _font_info()
        from kivy.config import Config

        report["kivy_input"] = dict(Config.items("input"))
        report["spoken"] = list(d.r.voice.spoken)
        report["body_font_px"] = d.r.app.metrics.body
        report["px_per_mm"] = [d.r.app.metrics.px_per_mm_x, d.r.app.metrics.px_per_mm_y]
        report["cap_ratio"] = d.r.app.metrics.cap_ratio
    report["error"] = error
    report["exit_code"] = code
    Path(a.report).write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    return 0 if report["ok"] and error is None else 1


def _font_info() -> dict[str, str]:
    from kivy.core.text import DEFAULT_FONT, LabelBase

    from kiosk.app.fonts import face_name

    path = LabelBase._fonts[DEFAULT_FONT][0]
    return {"path": path, "family": face_name(Path(path))}


if __name__ == "__main__":
    raise SystemExit(main())
