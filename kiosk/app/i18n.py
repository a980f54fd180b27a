"""gettext catalogs for the kiosk (Simplified Chinese and English).

The catalog sources are ``kiosk/locale/<lang>/LC_MESSAGES/kiosk.po`` (Babel
extracts the message ids from :mod:`kiosk.app.texts`; ``docs/kiosk.md`` has
the commands). At start the ``.po`` is read directly by :func:`read_po`
(a small reader for the subset Babel writes: no plural forms; a context,
``msgctxt``, keys its message as gettext does, ``context + "\\x04" + msgid``),
so no build step can leave a stale ``.mo`` behind and Babel is not imported
on the kiosk's start-up path. English is the source language:
its catalog is the identity.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path
from typing import Any

from healthkiosk.rules import CATEGORY_KEYS
from kiosk.app.texts import TEXTS, Msg

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "kiosk"
LANGUAGES = ("zh_CN", "en")


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(token: str) -> str:
    body = token.strip()
    if len(body) < 2 or body[0] != '"' or body[-1] != '"':
        raise ValueError(f"not a quoted .po string: {token!r}")
    body = body[1:-1]
    if "\\" not in body:  # most lines: nothing to unescape (read at every start)
        return body
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


CONTEXT_SEPARATOR = "\x04"


def read_po(path: Path) -> dict[str, str]:
    """msgid (``context\\x04msgid`` with a context) → msgstr of a ``.po`` file
    (fuzzy and empty translations left out)."""
    messages: dict[str, str] = {}
    msgctxt: list[str] | None = None
    msgid: list[str] | None = None
    msgstr: list[str] = []
    current: list[str] | None = None
    fuzzy = False
    pending_fuzzy = False

    def flush() -> None:
        nonlocal msgctxt, msgid, msgstr, fuzzy
        if msgid is not None:
            key, value = "".join(msgid), "".join(msgstr)
            if msgctxt is not None:
                key = "".join(msgctxt) + CONTEXT_SEPARATOR + key
            if key and value and not fuzzy:
                messages[key] = value
        msgctxt, msgid, msgstr, fuzzy = None, None, [], False

    def start() -> None:
        """A new entry begins (its context or its id): the one before is complete."""
        nonlocal fuzzy, pending_fuzzy
        flush()
        fuzzy, pending_fuzzy = pending_fuzzy, False

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            pending_fuzzy = True
        elif line.startswith("msgctxt "):
            start()
            msgctxt = [_unquote(line[8:])]
            current = msgctxt
        elif line.startswith("msgid "):
            if msgid is not None or msgctxt is None:
                start()
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

    def pgettext(self, context: str, message: str) -> str:
        return self._messages.get(context + CONTEXT_SEPARATOR + message, message)


@cache
def _messages(language: str) -> dict[str, str]:
    return read_po(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po")


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    return _Catalog(_messages(language))


def text(language: str, key: str, **params: Any) -> str:
    """The words for ``key`` in ``language`` with the placeholders filled."""
    msgid = TEXTS[key]
    catalog = translations(language)
    if isinstance(msgid, Msg):
        words = catalog.pgettext(msgid.context, str(msgid))
    else:
        words = catalog.gettext(msgid)
    return words.format(**params) if params else words


def category_text_key(category_key: str) -> str:
    """``blood_pressure.grade_1`` (the rules' key) → ``cat.bp.grade_1`` (the text's)."""
    kind, _, category = category_key.partition(".")
    return f"cat.{'bp' if kind == 'blood_pressure' else kind}.{category}"


def _translated(language: str, msgid: str) -> str | None:
    """The catalog's words for ``msgid`` (None when it has none); English is the source."""
    if language == "en":
        return str(msgid)
    messages = _messages(language)
    key = f"{msgid.context}{CONTEXT_SEPARATOR}{msgid}" if isinstance(msgid, Msg) else msgid
    return messages.get(key)


def category_words() -> dict[str, dict[str, str | None]]:
    """For every language, the words the kiosk shows for every category the
    rules can produce (:data:`healthkiosk.rules.CATEGORY_KEYS`); None where a
    language has none (no text, or no translation: the English would show)."""
    out: dict[str, dict[str, str | None]] = {}
    for language in LANGUAGES:
        table: dict[str, str | None] = {}
        for category in CATEGORY_KEYS:
            msgid = TEXTS.get(category_text_key(category))
            table[category] = None if msgid is None else _translated(language, msgid)
        out[language] = table
    return out
