"""One builder per flow screen: the flow's state in, widgets out.

The renderer rebuilds a screen when anything but the live values changes
(cuff pressure, countdowns), which it updates in place. Every button calls
one flow event; nothing here decides anything about the visit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.widget import Widget

from kiosk.app import theme
from kiosk.app.i18n import text
from kiosk.app.metrics import Metrics
from kiosk.app.pictures import FingerPrick, SeatedForBloodPressure
from kiosk.app.widgets import Btn, CategoryIcon, Gauge, ReaderArrow, TrendChart, Txt
from kiosk.flow.kinds import category_key, unit_key
from kiosk.flow.state import Choice, MealAnswer, Screen, State, SummaryItem, TrendPoint
from kiosk.flow.visit import VisitFlow
from kiosk.linebreak import wrap
from kiosk.prompts import checkin_key, spoken

Updater = Callable[[State], None]

CALL_STAFF_MM = 62.0
"""呼叫工作人员 at body size, with its padding (the widest of both languages)."""
STAFF_HERE_MM = 62.0


def _live(state: State) -> State:
    """The state without the values updated in place."""
    return replace(state, cuff_mmhg=None, countdown_s=None, still_here_s=None)


def fmt_time(language: str, seconds: int | None) -> str:
    if seconds is None:
        return ""
    if seconds >= 60:
        return text(language, "time.mm_ss", minutes=seconds // 60, seconds=seconds % 60)
    return text(language, "time.seconds", seconds=seconds)


class Renderer:
    def __init__(
        self,
        root: FloatLayout,
        flow: VisitFlow,
        metrics: Metrics,
        *,
        card_reader_side: str = "below",
        on_replay: Callable[[], None] | None = None,
    ) -> None:
        self.root = root
        self.flow = flow
        self.m = metrics
        self.card_reader_side = card_reader_side
        self.on_replay = on_replay
        """Says the screen's words again ("Repeat"); the app's voice."""
        self._shown: State | None = None
        self._overlay_shown: bool = False
        self._page: Widget | None = None
        self._overlay: Widget | None = None
        self._updaters: list[Updater] = []
        self.on_rendered: Callable[[State], None] | None = None
        self._last: State | None = None
        self._summary_page = 0
        self._summary_of: tuple[SummaryItem, ...] = ()
        self._widths: dict[str, float] = {}
        self._pool: dict[tuple[str, str, bool], Btn] = {}
        self._taken: set[int] = set()

    # --- entry -----------------------------------------------------------------

    def render(self, state: State) -> None:
        self._last = state
        static = _live(state)
        if self._shown is None or static != self._shown:
            self._build(state)
            self._shown = static
        for update in self._updaters:
            update(state)
        self._render_overlay(state)
        if self.on_rendered is not None:
            self.on_rendered(state)

    def _build(self, state: State) -> None:
        if self._page is not None:
            self.root.remove_widget(self._page)
        self._updaters = []
        self._taken = set()
        builder = getattr(self, f"_screen_{state.screen.value}")
        page: Widget = builder(state)
        self._page = page
        self.root.add_widget(page, index=len(self.root.children))

    # --- helpers ---------------------------------------------------------------

    def t(self, state: State, key: str, **params: Any) -> str:
        return text(state.language, key, **params)

    def txt(self, state: State, key: str, *, tid: str = "", lines: float = 1, **p: Any) -> Txt:
        return self.label(self.t(state, key, **p), tid=tid or key, lines=lines)

    def label(self, words: str, *, tid: str, lines: float = 1, size: float | None = None) -> Txt:
        font = size or self.m.body
        return Txt(words, font_size=font, tid=tid, size_hint_y=None, height=font * 1.2 * lines)

    def broken(self, words: str, *, tid: str, width: float, size: float | None = None) -> Txt:
        """``words`` in lines ``width`` wide, broken by the Chinese rules
        (:func:`kiosk.linebreak.wrap`: no line starts with "，" or "）"), as many
        lines tall as they need."""
        font = size or self.m.body
        lines = wrap(words, self._measure(font), width - 4)
        label = Txt("\n".join(lines), font_size=font, tid=tid, size_hint=(None, None),
                    width=width)  # fmt: skip
        label.height = font * 1.2 * max(1, len(lines))
        label.words = words  # as written, before the line breaks (tests read it)
        return label

    def _measure(self, font: float) -> Callable[[str], float]:
        from kivy.core.text import Label as CoreLabel

        def width(words: str) -> float:
            return float(CoreLabel(font_size=font).get_extents(words)[0])

        return width

    def _ui_width(self, words: str) -> float:
        """The width of the kiosk's own words (a button's, from
        :mod:`kiosk.app.texts`; never a resident's) at body size, kept: the
        same buttons are measured again at every visit."""
        if words not in self._widths:
            self._widths[words] = self._measure(self.m.body)(words)
        return self._widths[words]

    def fitted(self, state: State, key: str, on_tap: Callable[[], None] | None, *, tid: str,
               primary: bool = False, least_mm: float = 15.0) -> Btn:  # fmt: skip
        """A button just wide enough for its words (and at least ``least_mm``)."""
        words = self.t(state, key)
        width = max(self.m.x(least_mm), self._ui_width(words) + self.m.x(1.6))
        size = {"size_hint": (None, None), "width": width, "height": self.m.button_h}
        return self._pooled(words, tid=tid, on_tap=on_tap, primary=primary, **size)

    def _pooled(self, words: str, *, tid: str, on_tap: Callable[[], None] | None,
                primary: bool, **geometry: Any) -> Btn:  # fmt: skip
        """A button with ``words``: the same few ("Repeat", the language,
        呼叫工作人员, "Finish") are on nearly every screen, so each is built
        once and moved to the next page, its size set again (a Kivy button
        costs milliseconds to build, and notification to result is timed:
        bench/kiosk.py). Never one the page being built has taken already,
        nor one a finger is still on; a disabled one is always new."""
        if on_tap is None:
            return Btn(words, font_size=self.m.body, tid=tid, on_tap=None, primary=primary,
                       **geometry)  # fmt: skip
        key = (words, tid, primary)
        button = self._pool.get(key)
        if button is None or id(button) in self._taken or button.state == "down":
            button = Btn(words, font_size=self.m.body, tid=tid, on_tap=on_tap, primary=primary,
                         **geometry)  # fmt: skip
            self._pool[key] = button
        else:
            if button.parent is not None:
                button.parent.remove_widget(button)
            button.retarget(on_tap)
            for name, value in geometry.items():
                setattr(button, name, value)
        self._taken.add(id(button))
        return button

    def replay_button(self, state: State) -> Btn:
        """Says the screen's words again ("Repeat", 重听)."""
        return self.fitted(state, "btn.replay", self._replay, tid="btn.replay", least_mm=20)

    def _replay(self) -> None:
        self.flow.touch()
        if self.on_replay is not None:
            self.on_replay()

    def button(
        self,
        state: State,
        key: str,
        on_tap: Callable[[], None] | None,
        *,
        tid: str = "",
        primary: bool = True,
        width_mm: float | None = None,
        **p: Any,
    ) -> Btn:
        kw: dict[str, Any] = {"size_hint": (1, None), "height": self.m.button_h}
        if width_mm is not None:
            kw.update(size_hint=(None, None), width=self.m.x(width_mm))
        return self._pooled(self.t(state, key, **p), tid=tid or key, on_tap=on_tap,
                            primary=primary, **kw)  # fmt: skip

    def lang_button(self, state: State) -> Btn:
        other = "en" if state.language == "zh_CN" else "zh_CN"
        return self.fitted(
            state,
            "lang.switch",
            lambda: self.flow.set_language(other),  # type: ignore[arg-type]
            tid="btn.lang",
            least_mm=20,
        )

    def call_staff_button(self, state: State, *, primary: bool = False) -> Btn:
        """呼叫工作人员 (issue 16)."""
        return self.button(
            state,
            "help.call",
            self.flow.call_staff,
            tid="btn.call_staff",
            primary=primary,
            width_mm=CALL_STAFF_MM,
        )

    def _fit_w(self, words: str, least_mm: float = 15.0) -> float:
        """The width of a button just wide enough for ``words`` (every line of them)."""
        widest = max(self._ui_width(line) for line in words.split("\n"))
        return max(self.m.x(least_mm), widest + self.m.x(1.6))

    @property
    def two_lines_h(self) -> float:
        """The height of a button or a row holding two lines of body text."""
        return max(self.m.button_h, 2 * self.m.body * 1.2 + self.m.y(1.5))

    def call_staff_two_lines(self, state: State, *, room: float) -> Btn:
        """呼叫工作人员 as tall as two lines, for a row without room for it on
        one: on one line where it fits in ``room`` (English, a wide panel),
        else broken where its translation breaks it (呼叫 / 工作人员)."""
        words = self.t(state, "help.call")
        if self._fit_w(words) > room:
            words = self.t(state, "help.call.lines")
        button = Btn(words, font_size=self.m.body, tid="btn.call_staff",
                     on_tap=self.flow.call_staff, primary=False, size_hint=(None, None),
                     width=self._fit_w(words), height=self.two_lines_h)  # fmt: skip
        button.words = self.t(state, "help.call")  # as on one line (tests read it)
        return button

    def call_status(self, state: State, *, width: float, height: float,
                    key: str | None = None) -> Widget:  # fmt: skip
        """Where 呼叫工作人员 was, once pressed: what happens now in a few
        words on yellow (``key``: the text, ``help.short.<status>`` by
        default; the whole sentence is said aloud)."""
        assert state.help is not None
        key = key or f"help.short.{state.help.status}"
        words = self.broken(self.t(state, key), tid="help.status", width=width)
        words.halign = "center"
        panel = _Panel(orientation="vertical", bg=theme.NOTICE_BG, size_hint=(None, None),
                       width=width, height=height)  # fmt: skip
        panel.tid = "help.panel"
        for w in (Widget(), words, Widget()):
            panel.add_widget(w)
        return panel

    def room_beside(self, widgets: list[Widget]) -> float:
        """The width left across the panel beside ``widgets`` in a row, with
        8 mm between them and the one to come (each at its narrowest; those
        that stretch share the rest evenly, so each as wide as the widest)."""
        from kivy.core.window import Window

        m = self.m
        fixed = sum(w.width for w in widgets if w.size_hint_x is None)
        stretch = [self._fit_w(w.text) for w in widgets if w.size_hint_x is not None]
        used = fixed + len(stretch) * max(stretch, default=0.0)  # they share the rest evenly
        return float(Window.width - m.x(3) - used - m.gap_x * len(widgets))

    def call_in(self, state: State, *, room: float, spare_h: float, row_h: float) -> Widget | None:
        """呼叫工作人员 for ``room`` px of a row ``row_h`` tall: on one line
        where it fits, else on two, as long as the row grows by no more than
        the page's ``spare_h``; else None (no room: a small panel, long words).
        Once called, what happens now in its place, by the same rule."""
        m = self.m

        def grows_by(height: float) -> float:
            return max(0.0, height - row_h)

        if state.help is None:
            if self._fit_w(self.t(state, "help.call")) <= room and grows_by(m.button_h) <= spare_h:
                return self.fitted(state, "help.call", self.flow.call_staff, tid="btn.call_staff")
            two = self._fit_w(self.t(state, "help.call.lines"))
            if two <= room and grows_by(self.two_lines_h) <= spare_h:
                return self.call_staff_two_lines(state, room=room)
            return None
        words = self.t(state, f"help.short.{state.help.status}")
        if self._fit_w(words) <= room and grows_by(m.button_h) <= spare_h:
            return self.call_status(state, width=self._fit_w(words), height=m.button_h)
        width = self._lines_width(words, 2)
        if width <= room and grows_by(self.two_lines_h) <= spare_h:
            return self.call_status(state, width=width, height=self.two_lines_h)
        tiny = f"help.tiny.{state.help.status}"
        width = self._fit_w(self.t(state, tiny))
        if width <= room and grows_by(m.button_h) <= spare_h:
            return self.call_status(state, width=width, height=m.button_h, key=tiny)
        return None

    def _lines_width(self, words: str, lines: int) -> float:
        """The narrowest box (with a button's margins) that holds ``words`` in
        ``lines`` lines of body text, broken by the Chinese rules."""
        m = self.m
        measure = self._measure(m.body)
        width = self._fit_w(words) / lines
        while len(wrap(words, measure, width - 4)) > lines:
            width += m.x(1)
        return width

    def help_panel(self, state: State, *, ack: bool = False) -> Widget | None:
        """A call for staff under way: what happens now (on yellow), and with
        ``ack``, for the staff, "staff here" to acknowledge it (where staff
        stand: the error, thank-you and attract screens); None without a call."""
        from kivy.core.window import Window

        h = state.help
        if h is None:
            return None
        m = self.m
        ack = ack and h.open
        room = Window.width - m.x(3) - (m.x(STAFF_HERE_MM) + m.gap_x if ack else 0)
        words = self._wrapped(self.t(state, f"help.{h.status}"), tid="help.status", width=room)
        panel = _Panel(spacing=m.gap_x, size_hint_y=None, bg=theme.NOTICE_BG)
        panel.height = max(words.height, m.button_h if ack else 0)
        panel.tid = "help.panel"
        panel.add_widget(words)
        if ack:
            panel.add_widget(
                self.button(
                    state,
                    "help.staff_here",
                    self.flow.staff_here,
                    tid="btn.staff_here",
                    primary=False,
                    width_mm=STAFF_HERE_MM,
                )
            )
        return panel

    def page(
        self,
        state: State,
        *,
        title: str,
        body: list[Widget],
        actions: list[Btn] | None = None,
        back: bool = True,
        staff: bool = False,
        staff_top: bool = False,
        ack: bool = False,
        help_shown: bool = True,
    ) -> BoxLayout:
        """``staff``: the elder may be stuck here: 呼叫工作人员 is offered (beside
        a single action, else on a row of its own), or, once called, what
        happens now (:meth:`help_panel`). ``staff_top``: where Back and Repeat
        fill the top bar and the actions and the page have no room for it,
        the call is in the top bar all the same, as tall as two lines (the bar
        grows by a line), and once pressed what happens now takes its place
        (:meth:`call_status`)."""
        from kivy.core.window import Window

        m = self.m
        actions = list(actions or [])
        help_row: Widget | None = None
        if help_shown and not staff_top:
            help_row = self.help_panel(state, ack=ack)
        # 呼叫工作人员 in the top bar, beside the language: always in the same
        # place, and no row taken from the screen's own words
        call: Widget | None = None
        if staff_top:
            staff = False
            lang = self.lang_button(state)
            room = Window.width - m.x(3) - lang.width - m.gap_x * (2 + bool(back))
            room -= (m.x(30) if back else 0) + self.replay_button(state).width  # spoken screens
            if state.help is not None:
                call = self.call_status(state, width=room, height=self.two_lines_h)
            else:
                call = self.call_staff_two_lines(state, room=room)
        if help_row is None and staff:
            call = self.fitted(state, "help.call", self.flow.call_staff, tid="btn.call_staff",
                               least_mm=20)  # fmt: skip
            crowded = back and bool(spoken(replace(state, still_here_s=None)))
            if crowded and len([a for a in actions if isinstance(a, Btn)]) <= 1:
                actions.insert(0, call)  # the top bar has Back and Repeat already
                call = None
            elif crowded:  # on a row of its own, at the right
                help_row = BoxLayout(size_hint_y=None, height=m.button_h)
                help_row.add_widget(Widget())
                help_row.add_widget(call)
                call = None
        col = BoxLayout(orientation="vertical", padding=m.pad(1.5), spacing=m.y(2.5))
        top = BoxLayout(size_hint_y=None, height=self.two_lines_h if staff_top else m.button_h,
                        spacing=m.gap_x)  # fmt: skip
        if back:
            top.add_widget(
                self.button(state, "btn.back", self.flow.back, primary=False, width_mm=30)
            )
        replay = spoken(replace(state, still_here_s=None))  # the screen's own words
        if replay:  # "Repeat" where the title was; the title heads the words
            top.add_widget(self.replay_button(state))
            if not staff_top:
                top.add_widget(Widget())
            if title:
                body = [self.txt(state, title, tid="title"), *body]
        else:
            top.add_widget(self.txt(state, title, tid="title", lines=1) if title else Widget())
            top.children[0].size_hint_y = 1
        if call is not None and staff_top:  # at the right of the room left
            slot = BoxLayout(size_hint_y=None, height=self.two_lines_h)
            slot.add_widget(Widget())
            slot.add_widget(call)
            top.add_widget(slot)
        elif call is not None:
            top.add_widget(call)
        top.add_widget(self.lang_button(state))
        for w in top.children:  # the buttons at the top of a taller bar
            w.pos_hint = {"top": 1}
        col.add_widget(top)
        mid = BoxLayout(orientation="vertical", spacing=m.y(1.5))
        for w in body:
            mid.add_widget(w)
        mid.add_widget(Widget())
        col.add_widget(mid)
        if help_row is not None:
            col.add_widget(help_row)
            buttons = any(isinstance(w, Btn) for w in help_row.children)
            if actions and buttons:  # buttons 8 mm apart (the column's spacing is less)
                col.add_widget(Widget(size_hint_y=None, height=m.gap_y - m.y(2.5) * 2))
        if actions:
            row = BoxLayout(size_hint_y=None, height=m.button_h, spacing=m.gap_x)
            for b in actions:
                row.add_widget(b)
            col.add_widget(row)
        return col

    def _render_overlay(self, state: State) -> None:
        show = state.still_here_s is not None
        if show and self._overlay is None:
            self._overlay = self._still_here(state)
            self.root.add_widget(self._overlay)
        if not show and self._overlay is not None:
            self.root.remove_widget(self._overlay)
            self._overlay = None
        if show and self._overlay is not None:
            label = self._overlay.ids_countdown
            label.text = self.t(state, "still_here.countdown", seconds=state.still_here_s)

    def _still_here(self, state: State) -> Widget:
        m = self.m
        box = _Panel(orientation="vertical", padding=m.pad(4), spacing=m.y(3), bg=theme.NOTICE_BG)
        box.add_widget(self.txt(state, "still_here.title", tid="still_here.title"))
        countdown = self.label("", tid="still_here.countdown")
        box.add_widget(countdown)
        box.add_widget(Widget())
        btn = self.button(state, "btn.still_here", self.flow.still_here, tid="btn.still_here")
        btn.height = m.y(22)
        box.add_widget(btn)
        box.ids_countdown = countdown
        return box

    # --- screens ---------------------------------------------------------------

    def _screen_attract(self, state: State) -> Widget:
        m = self.m
        # Texts, not buttons, lie between the top bar and the start button, so
        # a small spacing keeps the whole page on a 7" panel (86 mm tall) while
        # the buttons stay far more than 8 mm apart.
        col = BoxLayout(orientation="vertical", padding=m.pad(1.5), spacing=m.y(2))
        top = BoxLayout(size_hint_y=None, height=m.button_h, spacing=m.gap_x)
        top.add_widget(
            self.button(
                state, "attract.tech", self.flow.open_technician, primary=False, width_mm=40
            )
        )
        top.add_widget(Widget())
        top.add_widget(self.lang_button(state))
        col.add_widget(top)
        col.add_widget(
            self.label(self.t(state, "attract.title"), tid="attract.title", size=m.body * 1.6)
        )
        panel = self.help_panel(state, ack=True)  # a call for staff still open: said here too
        col.add_widget(panel if panel is not None else self.txt(state, "attract.body", lines=2))
        col.add_widget(Widget())
        start = self.button(state, "attract.start", self.flow.start_checkin)
        start.height = m.y(18)
        col.add_widget(start)
        return col

    def _screen_checkin(self, state: State) -> Widget:
        """A phone-style keypad (1 2 3 / 4 5 6 / 7 8 9 / Delete 0 Clear) the
        whole height of the panel, on the side away from the card reader; beside
        it 呼叫工作人员 (on two lines) and the language above, the prompt with
        an arrow to the reader (or the number typed so far in groups of 6, 8
        and 4, with how many are missing or what is wrong), and "Back",
        "Repeat" and OK (X in its place when the last character is due) below.
        Once staff are called, what happens now takes the call's place."""
        from kivy.core.window import Window

        m = self.m
        measure = self._measure(m.body)
        langs = ("zh_CN", "en")
        # Two Chinese characters ("删除", "清空") in each key, in either language:
        # a longer English word is set smaller to fit rather than the keys widened.
        room = max(measure(text(lang, "checkin.del_key")) for lang in langs)
        room = max(m.x(15) - m.x(1.6), min(room, measure("删除")))
        pad_x = m.x(1.5)

        # The column beside the keypad holds, in either language, the call for
        # staff and the language above, and Back, Repeat and OK (15 mm) below;
        # where the panel is too narrow for both at that, the keys are narrower
        # (never under 15 mm) and their two words set smaller to fit.
        def column(lang: str) -> float:
            above = self._fit_w(text(lang, "help.call.lines")) + self._fit_w(
                text(lang, "lang.switch"), 20
            )
            below = sum(self._fit_w(text(lang, k), 20) for k in ("btn.back", "btn.replay"))
            return max(above, below + m.x(15) + m.gap_x) + m.gap_x

        need = max(column(lang) for lang in langs)
        usable = Window.width - 2 * pad_x - m.gap_x
        key_w = max(m.x(15), min(room + m.x(1.6), (usable - need - 2 * m.gap_x) / 3))
        keys_w = 3 * key_w + 2 * m.gap_x
        left_w = usable - keys_w
        row = BoxLayout(padding=m.pad(1.5, 0.5), spacing=m.gap_x)
        left = BoxLayout(orientation="vertical", spacing=m.y(0.5), size_hint_x=None, width=left_w)
        top = BoxLayout(size_hint_y=None, height=self.two_lines_h)  # at least 8 mm between
        lang = self.lang_button(state)
        if state.help is not None:  # called: what happens now, where the call was
            top.add_widget(self.call_status(state, width=left_w - lang.width - m.gap_x,
                                            height=self.two_lines_h))  # fmt: skip
        else:
            top.add_widget(self.call_staff_two_lines(state, room=left_w - lang.width - m.gap_x))
        top.add_widget(Widget())
        holder = BoxLayout(orientation="vertical", size_hint_x=None, width=lang.width)
        holder.add_widget(lang)  # at the top, as on every screen
        holder.add_widget(Widget())
        top.add_widget(holder)
        left.add_widget(top)
        left.add_widget(self._checkin_words(state, left_w))
        left.add_widget(Widget())
        bottom = BoxLayout(size_hint_y=None, height=m.button_h, spacing=m.gap_x)
        bottom.add_widget(self.fitted(state, "btn.back", self.flow.back, tid="btn.back",
                                      least_mm=20))  # fmt: skip
        bottom.add_widget(self.replay_button(state))
        typed = state.keypad
        if len(typed) == 17 and not state.keypad_error:  # the last may be X
            bottom.add_widget(
                Btn("X", font_size=m.body, tid="key.X", on_tap=partial(self.flow.key, "X"),
                    primary=False)
            )  # fmt: skip
        else:
            bottom.add_widget(
                self.button(state, "checkin.ok", self.flow.submit_id if typed else None,
                            tid="btn.ok")
            )  # fmt: skip
        left.add_widget(bottom)
        label_room = key_w - m.x(1.6)
        keys = BoxLayout(orientation="vertical", spacing=m.gap_y, size_hint_x=None, width=keys_w)
        for line in ("123", "456", "789", "<0C"):
            r = BoxLayout(spacing=m.gap_x, size_hint_y=None, height=m.button_h)
            for ch in line:
                if ch in "<C":
                    key, tid, tap = (
                        ("checkin.del_key", "key.back", self.flow.backspace)
                        if ch == "<"
                        else ("checkin.clear", "key.clear", self.flow.clear_keypad)
                    )
                    words = self.t(state, key)
                    size = m.body * min(1.0, label_room / max(1.0, measure(words)))
                    b = Btn(words, font_size=size, tid=tid, on_tap=tap, primary=False)
                else:
                    b = Btn(ch, font_size=m.body, tid=f"key.{ch}",
                            on_tap=partial(self.flow.key, ch), primary=False)  # fmt: skip
                r.add_widget(b)
            keys.add_widget(r)
        if self.card_reader_side == "right":  # keypad away from the reader
            row.add_widget(keys)
            row.add_widget(left)
        else:
            row.add_widget(left)
            row.add_widget(keys)
        return row

    def _checkin_words(self, state: State, width: float) -> Widget:
        m = self.m
        box = BoxLayout(orientation="vertical", spacing=0, size_hint_y=None)
        typed = state.keypad
        if typed:
            groups = " ".join(p for p in (typed[:6], typed[6:14], typed[14:]) if p)
            box.add_widget(self.broken(groups, tid="checkin.number", width=width))
            if state.keypad_error:
                box.add_widget(self.broken(self._id_error(state), tid="checkin.error",
                                           width=width))  # fmt: skip
            elif len(typed) < 18:
                box.add_widget(self.broken(self.t(state, "checkin.left", n=18 - len(typed)),
                                           tid="checkin.left", width=width))  # fmt: skip
        else:
            arrow = state.card_reader and not state.keypad_error
            side = self.card_reader_side
            arrow_w = m.x(14) if arrow and side != "below" else 0.0
            prompt = self.broken(self.t(state, checkin_key(state)), tid="checkin.prompt",
                                 width=width - arrow_w - (m.x(2) if arrow_w else 0))  # fmt: skip
            if arrow and side != "below":
                line = BoxLayout(spacing=m.x(2), size_hint_y=None, height=prompt.height)
                pointer = ReaderArrow(side=side, tid="checkin.arrow", size_hint=(None, None),
                                      width=arrow_w, height=m.y(10))  # fmt: skip
                holder = BoxLayout(orientation="vertical", size_hint_x=None, width=arrow_w)
                holder.add_widget(pointer)
                holder.add_widget(Widget())
                for w in (holder, prompt) if side == "left" else (prompt, holder):
                    line.add_widget(w)
                box.add_widget(line)
            else:
                box.add_widget(prompt)
                if arrow:
                    box.add_widget(ReaderArrow(side="below", tid="checkin.arrow",
                                               size_hint=(None, None), width=m.x(12),
                                               height=m.y(11)))  # fmt: skip
            if state.keypad_error:
                box.add_widget(self.broken(self._id_error(state), tid="checkin.error",
                                           width=width))  # fmt: skip
        box.height = sum(w.height for w in box.children) + box.spacing * (len(box.children) - 1)
        return box

    def _id_error(self, state: State) -> str:
        assert state.keypad_error is not None
        return self.t(state, state.keypad_error)

    def _screen_confirm(self, state: State) -> Widget:
        """ "Is this you?": the name masked (王*明), a returning resident greeted
        with the day of the last visit here, "first visit" only when this
        station has never seen them; the masked ID number and birth year."""
        res = state.resident
        assert res is not None
        body: list[Widget] = []
        if res.returning:
            greeting = (
                self.t(state, "confirm.welcome_back", name=res.masked_name)
                if res.masked_name
                else self.t(state, "confirm.welcome_back_anon")
            )
            body.append(self.label(greeting, tid="confirm.name"))
            if res.last_visit is not None:
                day = self.day(state, res.last_visit, full=True)
                body.append(self.txt(state, "confirm.last_visit", tid="confirm.last", date=day))
        else:
            if res.masked_name:
                body.append(self.label(res.masked_name, tid="confirm.name"))
            if res.returning is False:
                body.append(self.txt(state, "confirm.first_visit", tid="confirm.first"))
        who = res.masked_id
        if res.birth_year:
            who += "  " + self.t(state, "confirm.born", year=res.birth_year)
        body.append(self.label(who, tid="confirm.id"))
        # no title line: "这是您吗？" is said, and the call for staff in the top
        # bar needs its room at 800x480
        return self.page(
            state,
            title="",
            body=body,
            actions=[
                self.button(state, "confirm.no", self.flow.not_me, primary=False),
                self.button(state, "confirm.yes", self.flow.confirm),
            ],
            staff_top=True,
        )

    def day(self, state: State, d: Any, *, full: bool = False) -> str:
        key = "date.full" if full else "date.short"
        return self.t(state, key, year=d.year, month=d.month, day=d.day)

    def _screen_choose(self, state: State) -> Widget:
        m = self.m
        rows: list[tuple[tuple[Choice, str], ...]] = [
            (("bp", "choose.bp"), ("glucose", "choose.glucose"), ("both", "choose.both"))
        ]
        vitals: tuple[tuple[Choice, str], ...] = (
            ("weight", "choose.weight"),
            ("spo2", "choose.spo2"),
            ("temperature", "choose.temperature"),
        )
        if any(self.flow.can_measure(c) for c, _ in vitals):  # a station with any of them
            rows.append(vitals)
        tall = m.y(30) if len(rows) == 1 else m.y(24)
        body: list[Widget] = [Widget(size_hint_y=None, height=m.y(5.5 if len(rows) == 1 else 4.5))]
        box = BoxLayout(orientation="vertical", spacing=m.gap_y, size_hint_y=None)
        box.height = len(rows) * tall + (len(rows) - 1) * m.gap_y
        for choices in rows:
            row = BoxLayout(spacing=m.gap_x, size_hint_y=None, height=tall)
            for choice, key in choices:
                can = self.flow.can_measure(choice)
                on_tap = partial(self.flow.choose, choice) if can else None
                b = self.button(state, key, on_tap, tid=f"btn.{choice}")
                b.height = tall
                row.add_widget(b)
            box.add_widget(row)
        body.append(box)
        # no title line: the buttons say what to choose, and need the room; an
        # elder is not stuck here (a choice or Back), so no call for staff
        return self.page(state, title="", body=body)

    def _countdown_label(self, state: State, key: str, tid: str) -> Txt:
        label = self.label("", tid=tid)

        def update(s: State) -> None:
            label.text = self.t(s, key, time=fmt_time(s.language, s.countdown_s))

        self._updaters.append(update)
        return label

    def _with_picture(self, picture: Widget, words: list[Widget]) -> Widget:
        """A picture on the left, the words beside it."""
        m = self.m
        row = BoxLayout(spacing=m.x(3), size_hint_y=None)
        row.height = max(m.y(30), sum(w.height for w in words))
        picture.size_hint_x = None
        picture.width = m.y(30) * 1.0
        row.add_widget(picture)
        col = BoxLayout(orientation="vertical")
        for w in words:
            col.add_widget(w)
        col.add_widget(Widget())
        row.add_widget(col)
        return row

    def _screen_prep_bp(self, state: State) -> Widget:
        from kivy.core.window import Window

        m = self.m
        width = Window.width - m.x(3) - m.y(30) - m.x(3)
        words: list[Widget] = [
            self.broken(self.t(state, "prep_bp.body"), tid="prep_bp.body", width=width)
        ]
        if state.ready:
            words.append(self.txt(state, "prep_bp.ready", tid="prep_bp.ready"))
        else:
            words.append(self._countdown_label(state, "prep_bp.rest", "prep_bp.rest"))
        picture = SeatedForBloodPressure(tid="picture.seated")
        start = self.button(
            state, "prep_bp.start", self.flow.start_bp if state.ready else None, tid="btn.start_bp"
        )
        # no title line: the words and the picture say it, and need the room
        return self.page(state, title="", body=[self._with_picture(picture, words)],
                         actions=[start], staff=True)  # fmt: skip

    def _screen_measure_bp(self, state: State) -> Widget:
        m = self.m
        row = BoxLayout(spacing=m.gap_x, size_hint_y=None, height=m.y(44))
        gauge = Gauge(maximum=300, font_size=m.body, unit=self.t(state, "result.bp_unit"),
                      tid="gauge", size_hint_x=None, width=m.y(44))  # fmt: skip
        self._updaters.append(lambda s: gauge.set_value(s.cuff_mmhg))
        row.add_widget(gauge)
        words = BoxLayout(orientation="vertical")
        if state.notice:
            words.add_widget(self.txt(state, "measure_bp.again", tid="measure_bp.again"))
        key = "measure_bp.inflating" if state.cuff_inflating else "measure_bp.body"
        words.add_widget(self.txt(state, key, tid="measure_bp.body", lines=3))
        if not state.cuff_inflating:
            words.add_widget(SeatedForBloodPressure(tid="picture.seated"))
        else:
            words.add_widget(Widget())
        row.add_widget(words)
        return self._measure_page(state, row)

    def _measure_page(self, state: State, row: Widget) -> Widget:
        m = self.m
        col = BoxLayout(orientation="vertical", padding=m.pad(1.5), spacing=m.y(2.5))
        top = BoxLayout(size_hint_y=None, height=m.button_h, spacing=m.gap_x)
        top.add_widget(self.replay_button(state))
        top.add_widget(
            self.label(
                self.t(
                    state,
                    "measure_bp.title",
                    n=state.bp_reading_no,
                    total=state.bp_readings_needed,
                ),
                tid="title",
            )
        )
        top.children[0].size_hint_y = 1
        top.add_widget(self.lang_button(state))
        col.add_widget(top)
        col.add_widget(row)
        col.add_widget(Widget())
        panel = self.help_panel(state)
        cancel = self.button(state, "btn.cancel", self.flow.cancel, tid="btn.cancel")
        if panel is not None:
            col.add_widget(panel)
            col.add_widget(cancel)
        else:
            bottom = BoxLayout(size_hint_y=None, height=m.button_h, spacing=m.gap_x)
            bottom.add_widget(self.call_staff_button(state))
            bottom.add_widget(cancel)
            col.add_widget(bottom)
        return col

    def _screen_bp_pause(self, state: State) -> Widget:
        """Between two readings: keep the cuff on, the next comes by itself in N
        seconds; "Stop" small, on the side, not the main button."""
        from kivy.core.window import Window

        m = self.m
        taken = "  ".join(f"{s}/{d}" for s, d, _ in state.bp_taken)
        width = Window.width - m.x(3)
        body_label = self.label("", tid="bp_pause.body", lines=1)
        next_no = len(state.bp_taken) + 1

        def update(s: State) -> None:
            key = f"bp_pause.body_{min(3, max(2, next_no))}"
            words = self.t(s, key, time=fmt_time(s.language, s.countdown_s))
            lines = wrap(words, self._measure(m.body), width - 4)
            body_label.text = "\n".join(lines)
            body_label.height = m.body * 1.2 * max(1, len(lines))
            body_label.words = words

        self._updaters.append(update)
        update(state)
        body: list[Widget] = [
            body_label,
            self.txt(state, "bp_pause.taken", tid="bp_pause.taken", readings=taken),
        ]
        if state.bp_readings_needed > 2 and len(state.bp_taken) == 2:
            body.append(self.broken(self.t(state, "bp_pause.third"), tid="bp_pause.third",
                                    width=width))  # fmt: skip
        stop = self.button(state, "btn.cancel", self.flow.cancel, tid="btn.cancel",
                           primary=False, width_mm=30)  # fmt: skip
        # no title line: the words say it all, and need the room
        # no title line: the words say it all, and need the room
        return self.page(state, title="", body=body, actions=[Widget(), stop],
                         back=False, staff=True)  # fmt: skip

    def _screen_glucose_meal(self, state: State) -> Widget:
        answers: tuple[tuple[MealAnswer | None, str], ...] = (
            ("fasting", "glucose_meal.fasting"),
            ("after_meal", "glucose_meal.after_meal"),
            (None, "glucose_meal.unsure"),
        )
        actions = [
            self.button(
                state,
                key,
                partial(self.flow.answer_meal, answer),
                tid=f"btn.meal.{answer or 'unsure'}",
                primary=answer is not None,
            )
            for answer, key in answers
        ]
        # no title line: the question says it, and the call for staff needs the room
        return self.page(
            state,
            title="",
            body=[self.txt(state, "glucose_meal.question", tid="glucose_meal.question", lines=2)],
            actions=actions,
            staff=True,
        )

    def _screen_prep_glucose(self, state: State) -> Widget:
        from kivy.core.window import Window

        m = self.m
        width = Window.width - m.x(3) - m.y(30) - m.x(3)
        words: list[Widget] = [
            self.broken(self.t(state, "prep_glucose.body"), tid="prep_glucose.body", width=width)
        ]
        return self.page(
            state,
            title="",  # the words and the picture say it, and need the room
            body=[self._with_picture(FingerPrick(tid="picture.finger"), words)],
            actions=[
                self.button(
                    state, "prep_glucose.ready", self.flow.start_glucose, tid="btn.glucose_ready"
                )
            ],
            staff=True,
        )

    def _screen_measure_glucose(self, state: State) -> Widget:
        from kivy.core.window import Window

        m = self.m
        width = Window.width - m.x(3) - m.y(30) - m.x(3)
        words: list[Widget] = [
            self.broken(
                self.t(state, "measure_glucose.body"), tid="measure_glucose.body", width=width
            ),
            self._countdown_label(state, "measure_glucose.wait", "measure_glucose.wait"),
        ]
        return self.page(
            state,
            title="",  # the words and the picture say it, and need the room
            body=[self._with_picture(FingerPrick(tid="picture.finger"), words)],
            actions=[self.button(state, "btn.cancel", self.flow.cancel, tid="btn.cancel")],
            back=False,
            staff=True,
        )

    def _measure_vital(self, state: State, kind: str) -> Widget:
        body: list[Widget] = [
            self.txt(state, f"measure_{kind}.body", tid=f"measure_{kind}.body", lines=2),
            self._countdown_label(state, "measure.wait", "measure.wait"),
        ]
        return self.page(
            state,
            title="",  # the words say it, and need the room at 800x480
            body=body,
            actions=[self.button(state, "btn.cancel", self.flow.cancel, tid="btn.cancel")],
            back=False,
            staff=True,
        )

    def _screen_measure_weight(self, state: State) -> Widget:
        return self._measure_vital(state, "weight")

    def _screen_measure_spo2(self, state: State) -> Widget:
        return self._measure_vital(state, "spo2")

    def _screen_measure_temperature(self, state: State) -> Widget:
        return self._measure_vital(state, "temperature")

    def _screen_height(self, state: State) -> Widget:
        """The height in whole cm on a keypad (the scale sent none, none is known)."""
        m = self.m
        col = BoxLayout(orientation="vertical", padding=m.pad(1.5, 0.5), spacing=m.gap_y)
        top = BoxLayout(size_hint_y=None, height=m.button_h, spacing=m.gap_x)
        top.add_widget(self.button(state, "btn.back", self.flow.back, primary=False, width_mm=30))
        title = self.txt(state, "height.prompt", tid="height.prompt")
        title.size_hint_y = 1
        top.add_widget(title)
        top.add_widget(self.lang_button(state))
        col.add_widget(top)
        row = BoxLayout(spacing=m.gap_x)
        left = BoxLayout(orientation="vertical", spacing=m.y(1.5))
        typed = state.height_typed or "_"
        left.add_widget(self.label(f"{typed} cm", tid="height.typed", size=m.body * 1.3))
        if state.height_error:
            left.add_widget(self.txt(state, "height.wrong", tid="height.wrong", lines=2))
        left.add_widget(Widget())
        ok = self.flow.submit_height if state.height_typed else None
        left.add_widget(self.button(state, "checkin.ok", ok, tid="btn.height_ok"))
        row.add_widget(left)
        keys = BoxLayout(
            orientation="vertical",
            spacing=m.gap_y,
            size_hint_x=None,
            width=4 * m.button_w + 3 * m.gap_x,
        )
        for line in ("1234", "5678", "90<"):
            r = BoxLayout(spacing=m.gap_x, size_hint_y=None, height=m.button_h)
            for ch in line:
                tap = self.flow.height_backspace if ch == "<" else partial(self.flow.height_key, ch)
                r.add_widget(
                    Btn("←" if ch == "<" else ch, font_size=m.body,
                        tid="hkey.back" if ch == "<" else f"hkey.{ch}", on_tap=tap, primary=False)
                )  # fmt: skip
            if len(line) < 4:
                r.add_widget(Widget())
            keys.add_widget(r)
        row.add_widget(keys)
        col.add_widget(row)
        return col

    def _screen_saving(self, state: State) -> Widget:
        return self.page(state, title="saving.title", body=[], back=False)

    def _screen_result(self, state: State) -> Widget:
        m = self.m
        lang = state.language
        g, bp, v = state.glucose_result, state.bp_result, state.vital_result
        # tight: an urgent result's banner, its lines and the Repeat button fit 800x480
        col = BoxLayout(orientation="vertical", padding=m.pad(1.5, 0.5), spacing=m.y(0.4))
        notes: list[str]
        kind: str
        lines: list[str] = []
        if v is not None:
            digits, unit = v.shown, self.t(state, unit_key(v.kind))
            kind, category, urgent = v.kind, v.category, v.urgent
            explanation, advice = v.explanation, v.advice
            notes = []
            lines = [text(lang, n.key, **n.as_dict()) for n in v.notes]
            points: list[TrendPoint] = []  # no trend of the vitals on the kiosk yet
            series: list[list[float]] = []
        elif g is not None:
            digits = g.shown or f"{g.mmol_per_l:.1f}"
            unit = self.t(state, "result.glucose_unit")
            kind, category, urgent = "glucose", g.category, g.urgent
            explanation, advice = g.explanation, g.advice
            # an urgent result carries only the urgent instruction
            notes = ["result.close_to_limit"] if g.close_to_limit and not g.urgent else []
            points = [p for p in state.trend if p.kind == "glucose"]
            series = [[p.values[0] for p in points]]
        else:
            assert bp is not None
            digits = f"{bp.systolic}/{bp.diastolic}"
            unit = self.t(state, "result.bp_unit")
            kind, category, urgent = "bp", bp.category, bp.urgent
            explanation, advice = bp.explanation, bp.advice
            notes = ["result.irregular"] if bp.irregular_pulse else []
            points = [p for p in state.trend if p.kind == "blood_pressure"]
            series = [[p.values[0] for p in points], [p.values[1] for p in points]]
        # as tall as the number, never lower than the Repeat button in it
        top = BoxLayout(size_hint_y=None, height=max(m.result * 1.2, m.button_h), spacing=m.x(3))
        big = Txt(digits, font_size=m.result, tid="result.value", size_hint_x=None, wrap=False)
        big.texture_update()
        big.width = big.texture_size[0] + 4
        top.add_widget(big)
        unit_label = Txt(unit, font_size=m.body, tid="result.unit", size_hint_x=None, wrap=False)
        unit_label.texture_update()
        unit_label.width = unit_label.texture_size[0] + 4
        earlier = points[:-1]
        if earlier:  # the unit, and under it the last earlier reading with its day
            stack = BoxLayout(orientation="vertical", size_hint_x=None)
            stack.add_widget(unit_label)
            last = self._last_time(state, earlier[-1])
            last.texture_update()
            stack.width = max(unit_label.width, last.texture_size[0] + 4)
            last.width = stack.width
            stack.add_widget(last)
            top.add_widget(stack)
        else:
            top.add_widget(unit_label)
        top.add_widget(Widget())
        replay = BoxLayout(orientation="vertical", size_hint_x=None)
        replay.add_widget(Widget())
        button = self.replay_button(state)
        replay.width = button.width
        replay.add_widget(button)
        top.add_widget(replay)
        col.add_widget(top)
        cat_row = BoxLayout(spacing=m.x(2), size_hint_y=None, height=m.body * 1.2)
        style = theme.category_style(kind, category, urgent)
        cat_words = self.t(state, category_key({"bp": "blood_pressure"}.get(kind, kind), category))
        cat_row.add_widget(
            CategoryIcon(
                shape=style.shape,
                colour=style.colour,
                tid="result.icon",
                size_hint_x=None,
                width=m.body * 1.2,
            )
        )
        cat_label = Txt(
            cat_words,
            font_size=m.body,
            tid="result.category",
            size_hint_x=None,
            wrap=False,
        )
        cat_label.texture_update()
        cat_label.width = cat_label.texture_size[0] + 4
        cat_row.add_widget(cat_label)
        shown = series[0][-5:] if series else []
        if urgent and state.help is not None:  # a person is called: said at once, no trend
            words = self.t(state, f"help.result.{state.help.status}")
            cat_row.add_widget(Widget())
            told = Txt(words, font_size=m.body, tid="help.result", size_hint_x=None, wrap=False)
            told.width = self._measure(m.body)(words) + m.x(2)
            cat_row.add_widget(told)
        elif earlier and len(shown) >= 2:  # the readings, each dot labelled with its day
            days = [self._point_day(state, p) for p in [*earlier, None]][-len(shown) :]
            cat_row.add_widget(TrendChart(series=[s[-len(shown) :] for s in series], labels=days,
                                          font_size=m.body * 0.5, tid="result.trend"))  # fmt: skip
        else:
            cat_row.add_widget(Widget())
        col.add_widget(cat_row)
        advice_label = self.txt(state, advice, tid="result.advice")
        if urgent:
            # The urgent instruction and what happens now, nothing else
            # (docs/clinical.md, "Wording on the kiosk"; issue 16).
            from kivy.core.window import Window

            banner = _Panel(orientation="vertical", bg=theme.NOTICE_BG, size_hint_y=None)
            advice_label.tid = "result.urgent"
            now = self._wrapped(self.t(state, "result.urgent_now"), tid="result.urgent_now",
                                width=Window.width - m.x(3))  # fmt: skip
            banner.height = advice_label.height + now.height
            banner.add_widget(advice_label)
            banner.add_widget(now)
            col.add_widget(banner)
        else:
            col.add_widget(advice_label)
            sentence = text(lang, explanation.key, **explanation.as_dict())
            explanation_label = self.label(sentence, tid="result.explanation")
            col.add_widget(explanation_label)
        for note in notes:
            col.add_widget(self.txt(state, note, tid="result.note"))
        for i, words in enumerate(lines):
            col.add_widget(self.label(words, tid=f"result.line.{i}"))
        col.add_widget(Widget())
        buttons: list[Widget] = [self.lang_button(state)]
        if self.flow.vitals_pending:
            buttons.append(self.button(state, "result.next", self.flow.next_vital, tid="btn.next"))
        if self.flow.glucose_pending:
            # After an urgent result more measuring is a small second choice (issue 16).
            buttons.append(
                self.button(state, "result.glucose_too" if urgent else "result.next_glucose",
                            self.flow.next_glucose, tid="btn.next", primary=not urgent,
                            width_mm=46 if urgent else None)
            )  # fmt: skip
        if self.flow.summary_next:  # the visit has several results: they come next
            buttons.append(
                self.button(state, "result.all_results", self.flow.finish, tid="btn.summary")
            )
        else:
            buttons.append(
                self.button(state, "btn.finish", self.flow.finish, tid="btn.finish",
                            primary=urgent)
            )  # fmt: skip
        if not urgent:  # 呼叫工作人员 beside the language (an urgent result has called)
            from kivy.core.window import Window

            fixed = [w.height for w in col.children if w.size_hint_y is None]
            spare = Window.height - m.y(1) - sum(fixed) - m.button_h - col.spacing * len(fixed)
            call = self.call_in(state, room=self.room_beside(buttons), row_h=m.button_h,
                                spare_h=spare - col.spacing)  # fmt: skip
            if call is not None:
                buttons.insert(1, call)
            else:  # no room in the row below: at the top, before "Repeat"
                call = self.call_in(state, room=self._room_before_replay(top),
                                    row_h=top.height, spare_h=spare - col.spacing)  # fmt: skip
                if call is not None:
                    top.height = max(top.height, call.height)
                    self._before_replay(top, call)
                else:  # nor there: at the right of the advice, its words narrower
                    self._beside_words(state, col, [advice_label, explanation_label],
                                       spare_h=spare - col.spacing)  # fmt: skip
        elif state.help is not None and state.help.open:
            # the staff the urgent result called acknowledge it here, where
            # they find the elder (as on the error and thank-you screens)
            here = self.fitted(state, "help.staff_here", self.flow.staff_here,
                               tid="btn.staff_here")  # fmt: skip
            if here.width <= self._room_before_replay(top):
                self._before_replay(top, here)
            elif here.width <= self.room_beside(buttons):
                buttons.insert(1, here)
            else:
                # No room for both (800x480): the staff come first. The small
                # "measure glucose too" takes this place once they have come
                # (acknowledged here or on the web, the page is built again).
                more = next((b for b in buttons if b.tid == "btn.next"), None)
                if more is not None and here.width <= self.room_beside(
                    [b for b in buttons if b is not more]
                ):
                    buttons[buttons.index(more)] = here
        actions = BoxLayout(size_hint_y=None, spacing=m.gap_x)
        actions.height = max(b.height for b in buttons)
        for b in buttons:
            actions.add_widget(b)
        col.add_widget(actions)
        return col

    def _beside_words(self, state: State, col: BoxLayout, labels: list[Txt], *,
                      spare_h: float) -> None:  # fmt: skip
        """呼叫工作人员 (or, once called, its few words on yellow) at the
        right of ``labels`` (consecutive one-line rows of ``col``), at their
        top, the words broken into the narrower column beside it: where the
        page has the height that takes (``spare_h``), with 8 mm clear above
        the row of buttons below; nowhere (nothing changed) where it has not."""
        from kivy.core.window import Window

        m = self.m
        full = Window.width - m.x(3)
        old_h = sum(w.height for w in labels)
        index = col.children.index(labels[-1])  # Kivy keeps children last first
        below = sum(w.height for w in col.children[:index] if w.size_hint_y is None)
        room = full * 0.45  # the words keep at least half the panel
        while (call := self.call_in(state, room=room, spare_h=float("inf"), row_h=0)) is not None:
            text_w = full - m.gap_x - call.width
            narrow = [self.broken(w.text, tid=w.tid, width=text_w) for w in labels]
            height = max(sum(w.height for w in narrow), call.height)
            clear = max(0.0, m.gap_y - (height - call.height) - below)
            if height - old_h + clear <= spare_h:
                break
            room = call.width - 1  # the narrower form (two lines), if there is one
        else:
            return
        words = BoxLayout(orientation="vertical")
        for w in narrow:
            words.add_widget(w)
        words.add_widget(Widget())
        side = BoxLayout(orientation="vertical", size_hint_x=None, width=call.width)
        side.add_widget(call)
        side.add_widget(Widget())
        row = BoxLayout(size_hint_y=None, height=height, spacing=m.gap_x)
        row.add_widget(words)
        row.add_widget(side)
        at = col.children.index(labels[0])
        for w in labels:
            col.remove_widget(w)
        col.add_widget(row, index=at - len(labels) + 1)

    def _room_before_replay(self, top: BoxLayout) -> float:
        """The width a result's top row (the number, its unit, the room
        between, "Repeat") has left for one more button between, 8 mm from
        "Repeat"."""
        from kivy.core.window import Window

        m = self.m
        fixed = sum(w.width for w in top.children if w.size_hint_x is None)
        gaps = top.spacing * (len(top.children) - 1)
        return float(Window.width - m.x(3) - fixed - gaps - (m.gap_x - top.spacing))

    def _before_replay(self, top: BoxLayout, button: Widget) -> None:
        """``button`` in a result's top row, in the room before "Repeat" (at
        its right, 8 mm from "Repeat", at the foot of the row as it is)."""
        m = self.m
        room = next(w for w in top.children if w.size_hint_x is not None)
        holder = BoxLayout(padding=[0, 0, m.gap_x - top.spacing, 0])
        holder.add_widget(Widget())
        foot = BoxLayout(orientation="vertical", size_hint_x=None, width=button.width)
        foot.add_widget(Widget())
        foot.add_widget(button)
        holder.add_widget(foot)
        index = top.children.index(room)
        top.remove_widget(room)
        top.add_widget(holder, index=index)

    def _last_time(self, state: State, last: TrendPoint) -> Txt:
        """The last earlier reading in words with its day: "上次 3月2日 135/85"."""
        value = (
            f"{last.values[0]:.0f}/{last.values[1]:.0f}"
            if last.kind == "blood_pressure"
            else f"{last.values[0]:.1f}"
        )
        words = self.t(state, "result.last_time", date=self._point_day(state, last), value=value)
        return Txt(words, font_size=self.m.body * 0.6, tid="result.last", size_hint_x=None,
                   wrap=False)  # fmt: skip

    def _point_day(self, state: State, p: TrendPoint | None) -> str:
        """A trend point's day; None is this reading (today)."""
        if p is None or p.day is None:
            return self.t(state, "result.today")
        return self.day(state, p.day)

    # --- the summary of the visit (kiosk.flow.summary) ---------------------------

    def _screen_summary(self, state: State) -> Widget:
        """Every result of the visit, the most urgent first: value and unit, the
        category word beside its colour and shape, the advice (an urgent one on
        the yellow banner). Results that do not fit on the panel together go on
        to a next page ("More results"), the most urgent always on the first."""
        from kivy.core.window import Window

        m = self.m
        pad_x, pad_y, gap = m.x(1.5), m.y(0.5), m.y(0.5)
        icon_w = m.body * 1.2
        text_w = Window.width - 2 * pad_x - icon_w - m.x(2)
        items = [self._summary_item(state, i, it, text_w) for i, it in enumerate(state.summary)]
        reminder = self._wrapped(self.t(state, "summary.reminder"), tid="summary.reminder",
                                 width=Window.width - 2 * pad_x)  # fmt: skip
        # "Repeat" beside the buttons below; where the results need pages (and
        # the page button takes its room there), beside the title instead.
        line = m.body * 1.2
        room = Window.height - 2 * pad_y - reminder.height - line - m.button_h - 4 * gap
        pages = _pages([w.height for w in items], room, gap)
        replay_on_top = len(pages) > 1
        if replay_on_top:
            room -= m.button_h - line
            pages = _pages([w.height for w in items], room, gap)
        if state.summary != self._summary_of:
            self._summary_of, self._summary_page = state.summary, 0
        page = min(self._summary_page, len(pages) - 1)
        col = BoxLayout(orientation="vertical", padding=[pad_x, pad_y, pad_x, pad_y], spacing=gap)
        head = BoxLayout(size_hint_y=None, height=m.button_h if replay_on_top else line,
                         spacing=m.gap_x)  # fmt: skip
        title = self.txt(state, "summary.title", tid="summary.title")
        title.size_hint_y = 1
        head.add_widget(title)
        if replay_on_top:
            head.add_widget(self.replay_button(state))
        col.add_widget(head)
        shown = [items[i] for i in pages[page]]
        listing = BoxLayout(orientation="vertical", spacing=gap, size_hint_y=None)
        listing.height = sum(w.height for w in shown) + gap * (len(shown) - 1)
        listing.tid = "summary.list"
        for w in shown:
            listing.add_widget(w)
        col.add_widget(listing)
        filler = Widget()
        col.add_widget(filler)
        col.add_widget(reminder)
        buttons: list[Widget] = [self.lang_button(state)]
        if not replay_on_top:
            buttons.append(self.replay_button(state))
        if len(pages) > 1:  # the last page's button goes back to the first
            more = partial(self._turn_summary_page, len(pages))
            key = "summary.more" if page + 1 < len(pages) else "summary.first"
            buttons.append(
                self.button(state, key, more, tid="btn.more", primary=False,
                            n=page + 1, pages=len(pages))
            )  # fmt: skip
        finish_mm = 40 if len(pages) > 1 else None  # room for the page button's words
        buttons.append(
            self.button(state, "btn.finish", self.flow.finish, tid="btn.finish",
                        width_mm=finish_mm)
        )  # fmt: skip
        # 呼叫工作人员 beside the language, or beside the title, on the pages
        # with room for it (never a page more for it: at 800x480 two results
        # fill a page)
        spare = room - listing.height
        call = self.call_in(state, room=self.room_beside(buttons), row_h=m.button_h,
                            spare_h=spare)  # fmt: skip
        if call is not None:
            buttons.insert(1, call)
        else:
            beside = [w for w in head.children if isinstance(w, Btn)]
            title_w = self._fit_w(title.text) + m.gap_x  # words, not a button: no margins
            call = self.call_in(state, room=self.room_beside(beside) - title_w,
                                row_h=head.height, spare_h=spare)  # fmt: skip
            if call is not None:
                head.height = max(head.height, call.height)
                head.add_widget(call, index=len(beside))  # before "Repeat"
        if call is None and not replay_on_top:
            # nor there: "Repeat" up beside the title, the call in its place
            # (the page's filler and the gap it takes go to the taller title row)
            rest = [b for b in buttons if b.tid != "btn.replay"]
            call = self.call_in(state, room=self.room_beside(rest), row_h=m.button_h,
                                spare_h=spare + gap - (m.button_h - line))  # fmt: skip
            if call is not None:
                replay = next(b for b in buttons if b not in rest)
                buttons.remove(replay)
                head.height = m.button_h
                head.add_widget(replay)
                buttons.insert(1, call)
                col.remove_widget(filler)
        actions = BoxLayout(size_hint_y=None, spacing=m.gap_x)
        actions.height = max(b.height for b in buttons)
        for b in buttons:
            actions.add_widget(b)
        col.add_widget(actions)
        return col

    def _turn_summary_page(self, pages: int) -> None:
        self._summary_page = (self._summary_page + 1) % pages
        if self._last is not None:
            self._build(self._last)

    def _summary_item(self, state: State, i: int, item: SummaryItem, text_w: float) -> Widget:
        m = self.m
        line = m.body * 1.2
        unit = self.t(state, unit_key(item.kind))
        value = Txt(f"{item.shown} {unit}", font_size=m.body, tid=f"summary.{i}.value",
                    size_hint_x=None, wrap=False)  # fmt: skip
        value.texture_update()
        value.width = value.texture_size[0] + 4
        cat_w = text_w - value.width - m.x(2)
        category = self._wrapped(
            self.t(state, category_key(item.kind, item.category)),
            tid=f"summary.{i}.category",
            width=cat_w,
        )
        first = BoxLayout(spacing=m.x(2), size_hint_y=None, height=max(line, category.height))
        first.add_widget(value)
        first.add_widget(category)
        words = BoxLayout(orientation="vertical", size_hint_x=None, width=text_w)
        words.add_widget(first)
        advice = self._wrapped(self.t(state, item.advice), tid=f"summary.{i}.advice", width=text_w)
        if item.urgent:
            advice.tid = f"summary.{i}.urgent"
            banner = _Panel(orientation="vertical", bg=theme.NOTICE_BG, size_hint_y=None)
            banner.height = advice.height
            banner.add_widget(advice)
            words.add_widget(banner)
        else:
            words.add_widget(advice)
        for note in item.notes:
            words.add_widget(
                self._wrapped(self.t(state, note), tid=f"summary.{i}.note", width=text_w)
            )
        words.height = sum(w.height for w in words.children)
        style = theme.category_style(item.kind, item.category, item.urgent)
        icon_col = BoxLayout(orientation="vertical", size_hint_x=None, width=line)
        icon_col.add_widget(
            CategoryIcon(shape=style.shape, colour=style.colour, tid=f"summary.{i}.icon",
                         size_hint_y=None, height=line)
        )  # fmt: skip
        icon_col.add_widget(Widget())
        row = BoxLayout(spacing=m.x(2), size_hint_y=None, height=words.height)
        row.tid = f"summary.{i}"
        row.add_widget(icon_col)
        row.add_widget(words)
        return row

    def _wrapped(self, words: str, *, tid: str, width: float) -> Txt:
        """A label ``width`` wide, as many lines tall as its words need there."""
        label = Txt(words, font_size=self.m.body, tid=tid, size_hint=(None, None), width=width)
        label.texture_update()
        one = self._line_px()
        lines = max(1, round(label.texture_size[1] / one)) if one else 1
        label.height = lines * self.m.body * 1.2
        return label

    def _line_px(self) -> float:
        """The height of one line of body text as the font draws it."""
        if not hasattr(self, "_one_line"):
            probe = Txt("H", font_size=self.m.body, wrap=False)
            probe.texture_update()
            self._one_line = float(probe.texture_size[1])
        return self._one_line

    def _screen_done(self, state: State) -> Widget:
        from kivy.core.window import Window

        width = Window.width - self.m.x(3)
        body: list[Widget] = [
            self.txt(state, "done.body", tid="done.body"),
            self.broken(self.t(state, "summary.reminder"), tid="done.reminder", width=width),
        ]
        if state.print_status is not None:
            body.append(self.broken(self.t(state, f"print.{state.print_status}"),
                                    tid="print.status", width=width))  # fmt: skip
        actions = None
        if state.print_status is not None or state.can_print:
            actions = [
                self.button(
                    state,
                    "print.button",
                    self.flow.print_slip if state.can_print else None,
                    tid="btn.print",
                    primary=False,
                )
            ]
        # "谢谢" is said; the words under "Repeat" start with the goodbye
        # a call still open is said on the start screen next (with "staff here")
        return self.page(state, title="", body=body, actions=actions, back=False, help_shown=False)

    def _screen_error(self, state: State) -> Widget:
        err = state.error
        assert err is not None
        icon_row = BoxLayout(spacing=self.m.x(3), size_hint_y=None, height=self.m.body * 2.6)
        icon_row.add_widget(
            CategoryIcon(
                shape="triangle",
                colour=theme.OKABE_ITO["orange"],
                tid="error.icon",
                size_hint_x=None,
                width=self.m.body * 1.6,
            )
        )
        icon_row.add_widget(self.txt(state, f"error.{err.key}", tid="error.message", lines=2))
        body: list[Widget] = [icon_row]
        # words only: the elder needs the room; staff acknowledge on the start screen
        panel = self.help_panel(state, ack=False)
        if panel is not None:
            body.append(panel)
        elif "call_staff" in err.actions:  # a person is needed: the main way forward
            row = BoxLayout(size_hint_y=None, height=self.m.button_h)
            row.add_widget(self.call_staff_button(state, primary=True))
            row.add_widget(Widget())
            body.append(row)
        actions = []
        if "retry" in err.actions:
            retry_first = "call_staff" not in err.actions or state.help is not None
            actions.append(
                self.button(state, "btn.retry", self.flow.retry, tid="btn.retry",
                            primary=retry_first)
            )  # fmt: skip
        actions.append(
            self.button(state, "btn.finish", self.flow.finish, tid="btn.finish", primary=False)
        )
        # no title line: the message under its warning sign says it, and the
        # call for staff needs the room at 800x480
        return self.page(state, title="", body=body, actions=actions, back="choose" in err.actions)

    def _screen_tech_pin(self, state: State) -> Widget:
        m = self.m
        body: list[Widget] = [self.label("●" * state.pin_length or "_", tid="pin.dots")]
        if state.pin_locked_s:
            body.append(
                self.txt(state, "tech_pin.locked", tid="pin.locked", seconds=state.pin_locked_s)
            )
        elif state.pin_error:
            body.append(self.txt(state, "tech_pin.wrong", tid="pin.wrong"))
        keys = BoxLayout(orientation="vertical", spacing=m.y(3), size_hint_y=None)
        keys.height = 2 * m.button_h + m.y(3)
        for line in ("12345", "67890"):
            r = BoxLayout(spacing=m.x(3), size_hint_y=None, height=m.button_h)
            for ch in line:
                r.add_widget(
                    Btn(
                        ch,
                        font_size=m.body,
                        tid=f"pin.{ch}",
                        on_tap=partial(self.flow.pin_key, ch),
                        primary=False,
                    )
                )
            keys.add_widget(r)
        body.append(keys)
        return self.page(
            state,
            title="tech_pin.title",
            body=body,
            actions=[
                self.button(state, "checkin.delete", self.flow.pin_backspace, primary=False),
                self.button(state, "checkin.ok", self.flow.pin_submit, tid="pin.ok"),
            ],
        )

    def _screen_pair_guide(self, state: State) -> Widget:
        """Pairing, step one: put the device in its pairing window."""
        return self.page(
            state,
            title="pair.title",
            body=[
                self.txt(state, "pair.hold_button", tid="pair.guide", lines=2),
                self.txt(state, "pair.then_start", tid="pair.then", lines=2),
            ],
            actions=[
                self.button(
                    state,
                    "btn.back",
                    self.flow.tech_pair_cancel,
                    tid="btn.pair_cancel",
                    primary=False,
                ),
                self.button(state, "pair.start", self.flow.tech_pair_start, tid="btn.pair_start"),
            ],
            back=False,
        )

    def _screen_technician(self, state: State) -> Widget:
        tech = state.tech
        if tech is not None and tech.pairing == "guide":
            return self._screen_pair_guide(state)
        small = self.m.body * 0.6  # the staff's screen, not the residents'
        body: list[Widget] = []
        if tech is not None:
            for d in tech.devices:
                words = (
                    f"{self.t(state, 'device.' + d.role)}: "
                    f"{self.t(state, 'device.state.' + d.state)} "
                    f"{d.detail if d.state in ('ok', 'failed', 'paired') else d.model}"
                )
                body.append(self.label(words, tid=f"tech.device.{d.role}", size=small))
            if tech.pair_step:
                body.append(self.txt(state, f"pair.step.{tech.pair_step}", tid="pair.step"))
            if tech.pair_error:
                body.append(
                    self.txt(state, f"pair.error.{tech.pair_error}", tid="pair.error", lines=2)
                )
            body.append(
                self.label(
                    self.t(state, "tech.sync", pending=tech.pending, delivered=tech.delivered),
                    tid="tech.sync",
                    size=small,
                )
            )
            body.append(
                self.label(
                    self.t(state, "tech.version", version=tech.version),
                    tid="tech.version",
                    size=small,
                )
            )
            if tech.restart_requested:
                body.append(self.txt(state, "tech.restarting", tid="tech.restarting"))
        if self.flow.help_open:  # a call for staff: handled here too (issue 16)
            row = BoxLayout(size_hint_y=None, height=self.m.button_h, spacing=self.m.gap_x)
            row.add_widget(self.txt(state, "tech.help_open", tid="tech.help_open"))
            row.add_widget(
                self.button(state, "tech.help_ack", self.flow.tech_help_ack, tid="btn.help_ack",
                            width_mm=45)
            )  # fmt: skip
            body.append(row)
        return self.page(
            state,
            title="tech.title",
            body=body,
            actions=[
                self.button(
                    state,
                    "tech.test",
                    None if tech is None or tech.testing else self.flow.tech_test,
                    tid="btn.test",
                    primary=False,
                ),
                self.button(
                    state,
                    "tech.pair",
                    None if tech is None or tech.testing else self.flow.tech_pair,
                    tid="btn.pair",
                    primary=False,
                ),
                self.button(state, "tech.restart", self.flow.tech_restart, tid="btn.restart"),
            ],
        )


def _pages(heights: list[float], room: float, gap: float) -> list[list[int]]:
    """Indexes of the items on each page, in order: as many as fit in ``room``
    (one at least, so an item taller than the room still shows)."""
    pages: list[list[int]] = [[]]
    used = 0.0
    for i, h in enumerate(heights):
        need = h + (gap if pages[-1] else 0.0)
        if pages[-1] and used + need > room:
            pages.append([])
            used, need = 0.0, h
        pages[-1].append(i)
        used += need
    return pages


class _Panel(BoxLayout):  # type: ignore[misc]
    """A box with a solid background."""

    def __init__(self, *, bg: theme.RGBA, **kw: Any) -> None:
        super().__init__(**kw)
        from kivy.graphics import Color, Rectangle

        self.bg = bg
        """What the texts in it are read against (the tests' contrast check)."""
        with self.canvas.before:
            Color(*bg)
            self._rect = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._sync, size=self._sync)

    def _sync(self, *_: Any) -> None:
        self._rect.pos = self.pos
        self._rect.size = self.size


SCREENS = tuple(s.value for s in Screen)
