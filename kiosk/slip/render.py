"""The slip drawn with Pillow: one black-and-white image at the printer's
full dot width, in large print, ready for ``GS v 0``.

- Drawn at the full width (never centred by the printer: python-escpos'
  ``center=True`` adds a black band to tall images) and without
  anti-aliasing (``fontmode = "1"``): a thermal head has no grey, and
  dithered glyph edges print as speckle.
- Sizes in dots at 203 dpi (8 dots per mm, whatever the paper's width): the
  results' words 32 dots high (4 mm), their numbers 48 (6 mm), bold, the
  second language 24 (3 mm).
- The font: Noto Sans CJK SC (found by its name inside the ``.ttc``, never
  by a face number) where installed, for its coverage of rare name
  characters; else WenQuanYi Micro Hei, the kiosk's own. A character the
  font lacks is drawn from the other one when that has it; otherwise it
  is counted (:attr:`RenderedSlip.missing`) and logged as a count only.
- Lines are wrapped by measured width with the Chinese line-breaking rules
  (no line starts with a closing mark such as "，" or "）", none ends with an
  opening one; numbers with their units stay together).

Every line is drawn on its own and pasted at the left margin, so
:func:`draw_line` gives exactly the pixels a line has on the slip
(:attr:`RenderedSlip.lines` says where each went).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk import linebreak
from kiosk.slip.layout import Block, Style, layout
from kiosk.slip.model import Slip

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageFont import FreeTypeFont

log = logging.getLogger(__name__)

MARGIN = 8
"""Dots kept white at each side (1 mm)."""
GAP = 6
"""Dots between two paragraphs."""
RULE_GAP = 12


@dataclass(frozen=True, slots=True)
class Look:
    size: int
    bold: bool = False


LOOKS: dict[Style, Look] = {
    "title": Look(40, bold=True),
    "value": Look(48, bold=True),
    "heading": Look(32, bold=True),
    "body": Look(32),
    "small": Look(24),
}

FONT_FILES: dict[bool, tuple[tuple[Path, str], ...]] = {
    False: (
        (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), "Noto Sans CJK SC"),
        (Path("/usr/share/fonts/opentype/noto/NotoSansSC-Regular.otf"), "Noto Sans SC"),
        (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), "WenQuanYi Micro Hei"),
    ),
    True: (
        (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"), "Noto Sans CJK SC"),
        (Path("/usr/share/fonts/opentype/noto/NotoSansSC-Bold.otf"), "Noto Sans SC"),
    ),
}
"""Where the slip's faces are looked for, in order of preference, with the
family each must be (regular, bold). Bold falls back to regular."""


class SlipFontError(RuntimeError):
    """No Chinese font is installed: nothing could be drawn."""


@dataclass(frozen=True, slots=True)
class DrawnLine:
    text: str
    style: Style
    language: str
    box: tuple[int, int, int, int]
    """x, y, width, height on the slip, in dots."""


@dataclass(frozen=True, slots=True)
class RenderedSlip:
    image: Image
    """Mode ``1``, :attr:`width` dots wide."""
    lines: tuple[DrawnLine, ...]
    """Every line of text drawn, top to bottom."""
    missing: int = 0
    """Characters no installed font has (drawn as the font's blank box)."""

    @property
    def width(self) -> int:
        return int(self.image.width)

    @property
    def texts(self) -> list[str]:
        return [line.text for line in self.lines]


# --- fonts ------------------------------------------------------------------------------


@cache
def _face(path: Path, family: str) -> int | None:
    """The index of ``family``'s face in ``path`` (a ``.ttc`` holds several)."""
    from PIL import ImageFont

    for index in range(16):
        try:
            font = ImageFont.truetype(str(path), 16, index=index)
        except OSError:
            return None
        if font.getname()[0] == family:
            return index
    return None


@cache
def font_files(bold: bool) -> tuple[tuple[Path, int], ...]:
    """The installed faces for ``bold`` (then regular ones), best first."""
    found = [
        (path, index)
        for path, family in FONT_FILES[bold] + (FONT_FILES[False] if bold else ())
        if path.is_file() and (index := _face(path, family)) is not None
    ]
    return tuple(dict.fromkeys(found))


@cache
def font(style: Style, which: int = 0) -> FreeTypeFont:
    """The ``which``-th best font for ``style`` (0: the preferred)."""
    from PIL import ImageFont

    look = LOOKS[style]
    files = font_files(look.bold)
    if not files:
        raise SlipFontError("no Chinese font installed: apt-get install fonts-noto-cjk")
    path, index = files[min(which, len(files) - 1)]
    return ImageFont.truetype(
        str(path), look.size, index=index, layout_engine=ImageFont.Layout.BASIC
    )


@cache
def _bitmap(f: FreeTypeFont, ch: str) -> bytes:
    from PIL import Image, ImageDraw

    size = int(f.size) * 2
    im = Image.new("1", (size, size), 255)
    draw = ImageDraw.Draw(im)
    draw.fontmode = "1"
    draw.text((0, 0), ch, font=f, fill=0)
    return im.tobytes()


def has_glyph(f: FreeTypeFont, ch: str) -> bool:
    """Whether ``f`` draws ``ch`` as itself, not as its blank box (the glyph
    every missing character shares: a private-use character's)."""
    if ch.isspace():
        return True
    return _bitmap(f, ch) != _bitmap(f, "\U0010fffd")


def font_for(style: Style, words: str) -> tuple[FreeTypeFont, int]:
    """The best font that has every character of ``words``, and how many
    characters even that one lacks."""
    choices = len(font_files(LOOKS[style].bold))
    best: tuple[FreeTypeFont, int] | None = None
    for which in range(max(choices, 1)):
        f = font(style, which)
        lacking = sum(not has_glyph(f, ch) for ch in set(words))
        if lacking == 0:
            return f, 0
        if best is None or lacking < best[1]:
            best = (f, lacking)
    assert best is not None
    return best


# --- lines -----------------------------------------------------------------------------


def wrap(words: str, f: FreeTypeFont, width: int) -> list[str]:
    """``words`` in lines no wider than ``width`` dots (:func:`kiosk.linebreak.wrap`)."""
    return linebreak.wrap(words, f.getlength, width)


def line_height(style: Style) -> int:
    """1.2 em: the fonts' own line height (Noto's is 1.5 em) would make the
    slip a third longer."""
    return round(LOOKS[style].size * 1.2)


def baseline(style: Style) -> int:
    return round(LOOKS[style].size * 0.93)


def draw_line(words: str, style: Style) -> Image:
    """One line as the slip has it: black on white, no anti-aliasing, as wide
    as its text and :func:`line_height` high."""
    from PIL import Image, ImageDraw

    f, _ = font_for(style, words)
    width = max(1, int(f.getlength(words)) + 2)
    im = Image.new("1", (width, line_height(style)), 255)
    draw = ImageDraw.Draw(im)
    draw.fontmode = "1"
    draw.text((0, baseline(style)), words, font=f, fill=0, anchor="ls")
    return im


# --- the slip ----------------------------------------------------------------------------


def render(slip: Slip, *, dot_width: int) -> RenderedSlip:
    """The slip at ``dot_width`` dots (a multiple of 8)."""
    return render_blocks(layout(slip), dot_width=dot_width)


def render_blocks(blocks: Sequence[Block], *, dot_width: int) -> RenderedSlip:
    from PIL import Image, ImageDraw

    if dot_width % 8 or dot_width < 128:
        raise ValueError(f"dot width {dot_width}: a multiple of 8, at least 128")
    usable = dot_width - 2 * MARGIN
    placed: list[tuple[Any, DrawnLine | None, int]] = []
    """Each line's image and where it goes, or a rule (None) and its height."""
    missing = 0
    y = MARGIN
    for block in blocks:
        if block.style == "rule":
            placed.append((None, None, y + RULE_GAP // 2))
            y += RULE_GAP + 2
            continue
        f, lacking = font_for(block.style, block.text)
        missing += lacking
        for words in wrap(block.text, f, usable):
            im = draw_line(words, block.style)
            line = DrawnLine(words, block.style, block.language, (MARGIN, y, im.width, im.height))
            placed.append((im, line, y))
            y += im.height
        y += GAP
    height = y + MARGIN
    page = Image.new("1", (dot_width, height), 255)
    draw = ImageDraw.Draw(page)
    lines: list[DrawnLine] = []
    for picture, drawn, top in placed:
        if picture is None or drawn is None:
            for x in range(MARGIN, dot_width - MARGIN, 12):  # a dashed rule
                draw.line((x, top, min(x + 6, dot_width - MARGIN - 1), top), fill=0, width=2)
            continue
        page.paste(picture, (MARGIN, top))
        lines.append(drawn)
    if missing:
        log.warning("slip: %d character(s) missing from every installed font", missing)
    return RenderedSlip(page, tuple(lines), missing)
