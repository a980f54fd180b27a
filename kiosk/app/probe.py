"""A test probe: what the kiosk shows, as a JSON file, for tests that drive it from outside.

Off unless ``HEALTHKIOSK_KIOSK_PROBE`` names a file. Then, every 50 ms, the
app writes there (atomically: a temporary file renamed) the screen the
renderer last drew, its language and every on-screen widget that carries a
test id (``tid``): its box in X window coordinates (left, top, width,
height: origin top left, as ``xdotool mousemove --window`` takes them), its
text and whether it is disabled. The end-to-end test (``tests/system``) reads it to find where to
click with real X pointer events. The file is rewritten only when something
changed; ``seq`` counts the changes.

ID numbers in texts are masked as on screens (first three and last four kept):
the keypad shows the digits typed, the probe never writes them, whole or in part.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from healthkiosk.atomicfile import write_atomic
from healthkiosk.idnumber import mask

PROBE_ENV = "HEALTHKIOSK_KIOSK_PROBE"
INTERVAL_S = 0.05


# Any run of 8 or more ID characters (the keypad's digits while typing, split
# over two lines on screen) is masked like a whole ID number.
_DIGIT_RUN = re.compile(r"[0-9Xx]{8,}")


def _masked(text: str) -> str:
    joined = text.replace("\n", "")
    if _DIGIT_RUN.search(joined):
        return _DIGIT_RUN.sub(lambda m: mask(m.group(0)), joined)
    return text


def snapshot(root: Any, state: Any, window: Any) -> dict[str, Any]:
    """The rendered state's screen and the boxes of the widgets with a test id
    (call on the UI thread)."""
    widgets = []
    height = window.height
    for w in root.walk(restrict=True):
        tid = getattr(w, "tid", "")
        if not tid or w.get_root_window() is None:
            continue
        x, y = w.to_window(w.x, w.y)
        text = getattr(w, "text", None)
        widgets.append(
            {
                "tid": tid,
                "box": [round(x), round(height - y - w.height), round(w.width), round(w.height)],
                "text": _masked(text) if isinstance(text, str) else None,
                "disabled": bool(getattr(w, "disabled", False)),
            }
        )
    return {
        "screen": state.screen.value,
        "language": state.language,
        "window": [window.width, window.height],
        "widgets": widgets,
    }


def install(app: Any) -> bool:
    """Start writing the probe file if the environment asks for it; True if it does.

    The screen written is the one the renderer last drew (not the flow's
    state, which runs ahead of the widgets by up to a frame).
    """
    target = os.environ.get(PROBE_ENV)
    if not target:
        return False
    renderer = app.renderer
    shown: Any = None
    chained = renderer.on_rendered

    def rendered(state: Any) -> None:
        nonlocal shown
        shown = state
        if chained is not None:
            chained(state)

    renderer.on_rendered = rendered
    from kivy.clock import Clock
    from kivy.core.window import Window

    path = Path(target)
    last: dict[str, Any] = {}
    seq = 0

    def dump(_dt: float) -> None:
        nonlocal last, seq
        if app.root is None or shown is None:
            return
        doc = snapshot(app.root, shown, Window)
        if doc == last:
            return
        last, seq = doc, seq + 1
        write_atomic(path, json.dumps({"seq": seq, "at": time.time(), **doc}, ensure_ascii=False))

    Clock.schedule_interval(dump, INTERVAL_S)
    return True
