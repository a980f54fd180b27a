"""Pillow images ↔ :class:`~drivers.printer.escpos_codec.Raster`.

A ``GS v 0`` raster is PBM P4's raster (1 = black, most significant bit
leftmost, rows padded to a byte), while Pillow's mode ``1`` packs 1 = white:
so one is the other with every bit flipped. No dithering happens here: an
image that is not mode ``1`` is thresholded at mid-grey (the slip is drawn
without anti-aliasing, so there is nothing to dither).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.printer.escpos_codec import Raster

if TYPE_CHECKING:
    from PIL.Image import Image

_FLIP = bytes(255 - b for b in range(256))


def to_raster(image: Image) -> Raster:
    """``image`` as a raster; its width must be a whole number of bytes (8 dots)."""
    if image.width % 8:
        raise ValueError(f"width {image.width} is not a multiple of 8 dots")
    if image.mode != "1":
        image = image.convert("L").point(lambda v: 255 if v >= 128 else 0).convert("1")
    return Raster(image.width // 8, image.height, image.tobytes().translate(_FLIP))


def to_image(raster: Raster) -> Image:
    """The raster as a mode ``1`` image (black dots black)."""
    from PIL import Image

    return Image.frombytes(
        "1", (raster.width, raster.height), raster.data.translate(_FLIP), "raw", "1", 0, 1
    )
