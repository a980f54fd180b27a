"""gettext catalogs for the kiosk (Simplified Chinese and English).

The catalog sources are ``kiosk/locale/<lang>/LC_MESSAGES/kiosk.po`` (Babel
extracts the message ids from :mod:`kiosk.app.texts`; ``docs/kiosk.md`` has
the commands). At start the ``.po`` is read directly by :func:`read_po`
(a small reader for the subset Babel writes: no plural forms, no
contexts), so no build step can leave a stale ``.mo`` behind and Babel is
not imported on the kiosk's start-up path. English is the source language:
its catalog is the identity.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path
from typing import Any

from kiosk.app.texts import TEXTS

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "kiosk"
LANGUAGES = ("zh_CN", "en")


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(token: str) -> str:
    body = token.strip()
    if len(body) < 2 or body[0] != '"' or body[-1] != '"':
        raise ValueError(f"not a quoted .po string: {token!r}")
    body = body[1:-1]
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def read_po(path: Path) -> dict[str, str]:
    """msgid → msgstr of a ``.po`` file (fuzzy and empty translations left out)."""
    messages: dict[str, str] = {}
    msgid: list[str] = []
    msgstr: list[str] = []
    current: list[str] | None = None
    fuzzy = False
    pending_fuzzy = False

    def flush() -> None:
        nonlocal msgid, msgstr, fuzzy
        key, value = "".join(msgid), "".join(msgstr)
        if key and value and not fuzzy:
            messages[key] = value
        msgid, msgstr, fuzzy = [], [], False

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            pending_fuzzy = True
        elif line.startswith("msgid "):
            flush()
            fuzzy, pending_fuzzy = pending_fuzzy, False
            msgid = [_unquote(line[6:])]
            current = msgid
        elif line.startswith("msgstr "):
            msgstr = [_unquote(line[7:])]
            current = msgstr
        elif line.startswith('"') and current is not None:
            current.append(_unquote(line))
    flush()
    return messages


class _Catalog(gettext.NullTranslations):
    def __init__(self, messages: dict[str, str]) -> None:
        super().__init__()
        self._messages = messages

    def gettext(self, message: str) -> str:
        return self._messages.get(message, message)


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    return _Catalog(read_po(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"))


def text(language: str, key: str, **params: Any) -> str:
    """The words for ``key`` in ``language`` with the placeholders filled."""
    msgid = TEXTS[key]
    words = translations(language).gettext(msgid)
    return words.format(**params) if params else words
