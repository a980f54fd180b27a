"""Reading a printed slip without OCR: find lines of text in its bitmap.

The slip's renderer (:mod:`kiosk.slip.render`) draws every line on its own,
without anti-aliasing, and pastes it at the left margin; so a line's pixels
on the slip are exactly :func:`kiosk.slip.render.draw_line`'s for the same
words and style. :func:`find_line` looks for them row by row (at the margin,
or anywhere across the paper with ``anywhere``), on Python integers holding
a row's bits each, so a whole slip is searched in well under a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from kiosk.slip import render as rd
from kiosk.slip.layout import Style

STYLES: tuple[Style, ...] = ("title", "value", "heading", "body", "small")


def _rows(image: Any) -> tuple[list[int], int]:
    """Each row as an integer whose set bits are black dots (leftmost = highest bit)."""
    im = image.convert("1")
    width = im.width
    pad = (-width) % 8
    if pad:
        wide = Image.new("1", (width + pad, im.height), 255)
        wide.paste(im, (0, 0))
        im = wide
    stride = im.width // 8
    data = bytes(255 - b for b in im.tobytes())
    rows = [
        int.from_bytes(data[y * stride : (y + 1) * stride], "big") >> pad for y in range(im.height)
    ]
    return rows, width


def find_line(page: Any, words: str, style: Style, *, anywhere: bool = False) -> int | None:
    """The row at which ``words`` in ``style`` are drawn on ``page`` (an image
    or a PNG path), or None. At the left margin unless ``anywhere``."""
    if isinstance(page, str | Path):
        page = Image.open(page)
    rows, width = _rows(page)
    line, w = _rows(rd.draw_line(words, style))
    if w > width:
        return None
    mask = (1 << w) - 1
    anchor = max(range(len(line)), key=lambda i: bin(line[i]).count("1"))
    xs = range(width - w + 1) if anywhere else [rd.MARGIN]
    for y in range(len(rows) - len(line) + 1):
        row = rows[y + anchor]
        for x in xs:
            shift = width - x - w
            if (row >> shift) & mask != line[anchor]:
                continue
            if all((rows[y + i] >> shift) & mask == line[i] for i in range(len(line))):
                return y
    return None


def find_anywhere_in_any_style(page: Any, words: str) -> list[tuple[Style, int]]:
    """Every style in which ``words`` appear somewhere on ``page`` (with the row)."""
    found = []
    for style in STYLES:
        y = find_line(page, words, style, anywhere=True)
        if y is not None:
            found.append((style, y))
    return found
