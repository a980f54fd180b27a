"""The Simplified-Chinese face registered as Kivy's default font.

Beware Noto Sans CJK's ``.ttc``: its first face (the one Kivy opens) is the
Japanese one, so some characters take Japanese shapes. WenQuanYi Micro Hei
(Debian's ``fonts-wqy-microhei``) is a Simplified-Chinese face whose first
face in the ``.ttc`` is the proportional "WenQuanYi Micro Hei". An SC-only
file (``NotoSansSC-*.otf`` or a subset shipped with the app) works too.

:func:`face_name` reads the family name straight from the font file's
``name`` table, so a test can prove which face Kivy loads.
"""

from __future__ import annotations

import struct
from pathlib import Path

CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansSC-Regular.otf"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)
SC_FAMILIES = ("WenQuanYi Micro Hei", "Noto Sans SC", "WenQuanYi Zen Hei")


def find_sc_font() -> Path | None:
    for path in CANDIDATES:
        if path.is_file() and face_name(path) in SC_FAMILIES:
            return path
    return None


def _first_face_offset(data: bytes) -> int:
    if data[:4] == b"ttcf":
        (offset,) = struct.unpack_from(">I", data, 12)
        return int(offset)
    return 0


def face_name(path: Path) -> str:
    """The family name (name ID 1) of the face at index 0, as Kivy/SDL opens it.

    Reads the table directory and the ``name`` table only, not the whole
    file (a CJK ``.ttc`` is several megabytes, read at every start)."""
    with path.open("rb") as f:
        head = f.read(16)
        base = _first_face_offset(head)
        f.seek(base)
        directory = f.read(12)
        (num_tables,) = struct.unpack_from(">H", directory, 4)
        directory += f.read(16 * num_tables)
        for i in range(num_tables):
            tag, _check, offset, length = struct.unpack_from(">4sIII", directory, 12 + 16 * i)
            if tag == b"name":
                f.seek(offset)
                return _family(f.read(length))
    return ""


def _family(table: bytes) -> str:
    """Name ID 1 of a ``name`` table: Windows English first, else any Windows, else Mac Roman."""
    _fmt, count, string_offset = struct.unpack_from(">HHH", table, 0)
    fallback = ""
    for j in range(count):
        platform, encoding, language, name_id, length, off = struct.unpack_from(
            ">HHHHHH", table, 6 + 12 * j
        )
        if name_id != 1:
            continue
        raw = table[string_offset + off : string_offset + off + length]
        if platform == 3 and language == 0x0409:
            return raw.decode("utf-16-be")
        if platform == 3 and not fallback:
            fallback = raw.decode("utf-16-be")
        elif platform == 1 and encoding == 0 and not fallback:
            fallback = raw.decode("latin-1")
    return fallback


def register_default_font() -> Path | None:
    """Make the SC face Kivy's default (``Roboto`` name); None when none is installed."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    path = find_sc_font()
    if path is None:
        return None
    LabelBase.register(DEFAULT_FONT, str(path))
    return path
