"""The kiosk's test probe: X window boxes, masked ID digits, off unless asked for.

The app side runs for real in tests/system (the end-to-end test clicks where
the probe says); here the conversions, on stand-in widgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kiosk.app.probe import PROBE_ENV, install, snapshot
from kiosk.flow.state import Screen


@dataclass
class W:
    tid: str
    x: float
    y: float
    width: float
    height: float
    text: str | None = None
    disabled: bool = False
    shown: bool = True
    offset: tuple[float, float] = (0.0, 0.0)
    kids: list[W] = field(default_factory=list)

    def walk(self, restrict: bool = False) -> Any:
        yield self
        for k in self.kids:
            yield from k.walk(restrict=restrict)

    def to_window(self, x: float, y: float) -> tuple[float, float]:
        return x + self.offset[0], y + self.offset[1]

    def get_root_window(self) -> object | None:
        return object() if self.shown else None


@dataclass
class St:
    screen: Screen = Screen.CHECKIN
    language: str = "zh_CN"


@dataclass
class Win:
    width: int = 800
    height: int = 480


def test_boxes_are_in_x_coordinates_and_id_digits_never_whole() -> None:
    root = W("", 0, 0, 800, 480, kids=[
        W("btn.ok", 8, 3, 306, 84, text="确定"),  # Kivy: y from the bottom
        W("checkin.number", 8, 231, 306, 118, text="110105194\n91231002X"),
        W("key.7", 10, 10, 78, 84, text="7", disabled=True, offset=(346, 0)),
        W("hidden", 0, 0, 1, 1, text="x", shown=False),
        W("", 0, 0, 10, 10, text="no test id"),
    ])  # fmt: skip
    doc = snapshot(root, St(), Win())
    assert doc["screen"] == "checkin" and doc["window"] == [800, 480]
    by = {w["tid"]: w for w in doc["widgets"]}
    assert set(by) == {"btn.ok", "checkin.number", "key.7"}
    assert by["btn.ok"]["box"] == [8, 480 - 3 - 84, 306, 84]
    assert by["key.7"]["box"] == [356, 480 - 10 - 84, 78, 84]
    assert by["key.7"]["disabled"] is True
    assert by["checkin.number"]["text"] == "110***********002X"


@pytest.mark.parametrize(
    ("shown", "written"),
    [("1101051", "1101051"), ("110105194\n91", "110****9491"), ("_", "_"), ("6.4", "6.4")],
)
def test_partial_numbers_are_masked_from_eight_characters(shown: str, written: str) -> None:
    root = W("", 0, 0, 800, 480, kids=[W("checkin.number", 0, 0, 10, 10, text=shown)])
    (w,) = snapshot(root, St(), Win())["widgets"]
    assert w["text"] == written


def test_off_unless_the_environment_names_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROBE_ENV, raising=False)
    assert install(object()) is False
