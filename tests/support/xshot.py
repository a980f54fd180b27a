"""A screenshot of an X display's root window as PNG (libX11 through ctypes, zlib).

What the X server shows, taken from outside the app (``xwd`` and ImageMagick
are not on the test machines). TrueColor 24/32-bit visuals only (Xvfb's
``-screen 0 WxHx24``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
import zlib
from pathlib import Path

_ZPIXMAP = 2
_ALL_PLANES = ctypes.c_ulong(0xFFFFFFFFFFFFFFFF)


class _XImage(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("xoffset", ctypes.c_int),
        ("format", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)),
        ("byte_order", ctypes.c_int),
        ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int),
        ("bitmap_pad", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int),
        ("bits_per_pixel", ctypes.c_int),
        ("red_mask", ctypes.c_ulong),
        ("green_mask", ctypes.c_ulong),
        ("blue_mask", ctypes.c_ulong),
    ]


def _xlib() -> ctypes.CDLL:
    name = ctypes.util.find_library("X11") or "libX11.so.6"
    x = ctypes.CDLL(name)
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XDefaultRootWindow.restype = ctypes.c_ulong
    x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x.XDefaultScreen.argtypes = [ctypes.c_void_p]
    x.XDisplayWidth.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x.XGetImage.restype = ctypes.POINTER(_XImage)
    x.XGetImage.argtypes = [
        ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_ulong, ctypes.c_int,
    ]  # fmt: skip
    x.XDestroyImage.argtypes = [ctypes.POINTER(_XImage)]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return x


def _png(width: int, height: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\0" + r for r in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def screenshot(display: str, out: Path) -> tuple[int, int]:
    """Save the whole screen of ``display`` (":91") to ``out``; returns its size."""
    x = _xlib()
    dpy = x.XOpenDisplay(display.encode())
    if not dpy:
        raise RuntimeError(f"cannot open X display {display}")
    try:
        screen = x.XDefaultScreen(dpy)
        w, h = x.XDisplayWidth(dpy, screen), x.XDisplayHeight(dpy, screen)
        img = x.XGetImage(dpy, x.XDefaultRootWindow(dpy), 0, 0, w, h, _ALL_PLANES, _ZPIXMAP)
        if not img:
            raise RuntimeError("XGetImage failed")
        try:
            im = img.contents
            if im.bits_per_pixel != 32 or im.byte_order != 0:
                raise RuntimeError(f"unsupported X image: {im.bits_per_pixel} bpp")
            data = ctypes.string_at(im.data, im.bytes_per_line * h)
            rows = []
            for y in range(h):
                line = data[y * im.bytes_per_line : y * im.bytes_per_line + 4 * w]
                # little-endian BGRX -> RGB
                rgb = bytearray(3 * w)
                rgb[0::3], rgb[1::3], rgb[2::3] = line[2::4], line[1::4], line[0::4]
                rows.append(bytes(rgb))
        finally:
            x.XDestroyImage(img)
    finally:
        x.XCloseDisplay(dpy)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_png(w, h, rows))
    return w, h
