"""Keyboard shortcuts for a kiosk run on a laptop (``healthkiosk run --simulate``).

A station has no keyboard; a developer trying a visit has one. :func:`on_keys`
binds characters to actions for as long as it runs (the ``extra`` of
:func:`kiosk.app.main.run_kiosk`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping


async def on_keys(actions: Mapping[str, Callable[[], None]]) -> None:
    """Run ``actions[c]`` whenever the character ``c`` is typed; until cancelled."""
    from kivy.core.window import Window

    def on_key(
        _window: object, _key: int, _scancode: int, codepoint: str | None, _mods: object
    ) -> bool:
        action = actions.get(codepoint or "")
        if action is None:
            return False
        action()
        return True

    Window.bind(on_key_down=on_key)
    try:
        await asyncio.Event().wait()
    finally:
        Window.unbind(on_key_down=on_key)
