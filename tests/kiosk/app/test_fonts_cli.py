"""The Simplified-Chinese face, the pinned Kivy input config, and the CLI entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kiosk.app.boot import pinned_config
from kiosk.app.fonts import face_name, find_sc_font

ROOT = Path(__file__).resolve().parents[3]
NOTO_TTC = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def test_the_sc_face_is_chosen_not_notos_japanese_default() -> None:
    path = find_sc_font()
    assert path is not None, "install fonts-wqy-microhei"
    assert face_name(path) == "WenQuanYi Micro Hei"
    if NOTO_TTC.exists():  # the trap the kiosk avoids: index 0 of this file is Japanese
        assert face_name(NOTO_TTC) == "Noto Sans CJK JP"


def test_input_section_is_pinned_to_one_provider() -> None:
    cfg = pinned_config()
    assert dict(cfg.items("input")) == {"mouse": "mouse,disable_multitouch"}
    assert cfg.get("kivy", "exit_on_escape") == "0"


def test_run_command_is_registered() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "healthkiosk", "run", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "--simulate" in out.stdout and "--fullscreen" in out.stdout
    # Kivy is imported only by the handler: --help stays fast and needs no display.
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "healthkiosk", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "kivy" not in out.stderr
