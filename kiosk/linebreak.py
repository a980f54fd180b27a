"""Chinese line breaking, pure (no Kivy, no Pillow): the screens and the slip
wrap their words with it, measured by whatever draws them.

The rules (the usual 禁则, as GB/T 15834's punctuation practice and every
Chinese typesetter keep them): no line starts with a closing mark such as
"，", "。" or "）", none ends with an opening one such as "（" or "“"; a number
stays with its unit ("135/85 mmHg"); Latin words break only at spaces.
"""

from __future__ import annotations

import re
from collections.abc import Callable

NOT_AT_START = set("、。，．；：？！）］｝〕〉》」』】〗〙〛”’…—·・～％‰℃°,.;:?!)]}%")
NOT_AT_END = set("（［｛〔〈《「『【〖〘〚“‘／([{￥¥$")
_ATOM = re.compile(
    r"[0-9][0-9.,/%:°℃+\-]*(?: (?:mmHg|mmol/L|mg/dL|kPa|bpm))? ?"  # a number with its unit
    r"|[A-Za-z][0-9A-Za-z.,/%:°℃+\-]* ?"  # a word
    r"|\S ?| "
)


def atoms(words: str) -> list[str]:
    """Pieces a line may break between: each Chinese character, each run of
    Latin letters and digits with its units (a trailing space kept), a
    closing mark glued to what precedes it and an opening one to what follows."""
    raw = _ATOM.findall(words)
    out: list[str] = []
    for piece in raw:
        if out and (piece[0] in NOT_AT_START or out[-1].rstrip()[-1:] in NOT_AT_END):
            out[-1] += piece
        else:
            out.append(piece)
    return out


def wrap(words: str, measure: Callable[[str], float], width: float) -> list[str]:
    """``words`` in lines no wider than ``width`` as ``measure`` measures them.
    A short run after the line's last space goes down with what follows ("14:05 北 / 京时间" becomes
    "14:05 / 北京时间"); an atom wider than a whole line alone is cut by character."""
    lines: list[str] = []
    line: list[str] = []

    def text(parts: list[str]) -> str:
        return "".join(parts).rstrip()

    for atom in atoms(words):
        if measure(text([*line, atom])) <= width:
            line.append(atom)
            continue
        cut = max((i + 1 for i, a in enumerate(line) if a.endswith(" ")), default=0)
        carry = line[cut:] if 0 < cut < len(line) else []
        if carry and measure(text(carry)) > width / 3:
            carry = []
        if text(line[: len(line) - len(carry)]):
            lines.append(text(line[: len(line) - len(carry)]))
        line = carry
        if measure(text([*line, atom])) <= width:
            line.append(atom)
            continue
        if text(line):
            lines.append(text(line))
        piece = ""
        for ch in atom:  # wider than a line: cut it, still not before a closing mark
            too_wide = measure((piece + ch).rstrip()) > width
            if too_wide and piece.strip() and ch not in NOT_AT_START:
                lines.append(piece.rstrip())
                piece = ""
            piece += ch
        line = [piece]
    if text(line):
        lines.append(text(line))
    return lines
