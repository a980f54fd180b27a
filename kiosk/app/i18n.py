"""gettext catalogs for the kiosk (Simplified Chinese and English).

The catalog sources are ``kiosk/locale/<lang>/LC_MESSAGES/kiosk.po`` (Babel
extracts the message ids from :mod:`kiosk.app.texts`). At start they are
compiled in memory with :mod:`babel.messages` (a few milliseconds), so no
build step can leave a stale ``.mo`` behind. English is the source language:
its catalog is the identity.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path
from typing import Any

from kiosk.app.texts import TEXTS

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "kiosk"
LANGUAGES = ("zh_CN", "en")


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def text(language: str, key: str, **params: Any) -> str:
    """The words for ``key`` in ``language`` with the placeholders filled."""
    msgid = TEXTS[key]
    words = translations(language).gettext(msgid)
    return words.format(**params) if params else words
