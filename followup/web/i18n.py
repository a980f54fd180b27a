"""Languages of the doctor's side: gettext catalogs, the page's language, local times.

Simplified Chinese first, English kept. Message ids are the English texts (in
the templates with ``{% trans %}`` / ``_()``, in Python with :meth:`Lang.gettext`
and, for module-level words translated later, :func:`followup.messages.N_`). The catalog source
is ``followup/web/locale/zh_CN/LC_MESSAGES/followup.po`` (Babel extracts the
ids; ``docs/guides/doctor.md`` has the commands). It is compiled to a ``.mo``
in memory when first used (:func:`translations`), from the ``.po`` shipped as
package data, so an editable install and a wheel behave alike and no stale
``.mo`` can be left behind.

A page's language is the signed-in account's setting, else the browser's
``Accept-Language`` (``zh*`` → zh_CN, ``en*`` → en), else zh_CN
(:func:`negotiate`). Times are shown in the district's time zone
(``followup.timezone``, default Asia/Shanghai), always labelled; dates in the
Chinese form on Chinese pages (2026年3月2日), ISO on English ones.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from healthkiosk.errors import ConfigError

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "followup"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"
DEFAULT_TIMEZONE = "Asia/Shanghai"
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}
"""Each language named in itself (the account page's choices)."""
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}

# Zone names whose +8 hours is Beijing time (China Standard Time).
_BEIJING_ZONES = frozenset(
    {"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "PRC"}
)


def load_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (raises :class:`ConfigError` naming ``followup.timezone``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"not a known time zone: {name!r} (an IANA name such as Asia/Shanghai)",
            key="followup.timezone",
        ) from None


def _compile(po: Path) -> gettext_module.GNUTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parent.parent.name)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext_module.GNUTranslations(buf)


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The catalog of ``language`` (English is the source: the identity)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    if language == "en":
        return gettext_module.NullTranslations()
    return _compile(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po")


def negotiate(accept_language: str | None) -> str:
    """The language for a browser's ``Accept-Language`` header (zh_CN when it names neither)."""
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if tag == "zh" or tag.startswith("zh-") or tag.startswith("zh_"):
            choices.append((q, -i, "zh_CN"))
        elif tag == "en" or tag.startswith("en-") or tag.startswith("en_"):
            choices.append((q, -i, "en"))
    return max(choices)[2] if choices else DEFAULT_LANGUAGE


def _offset_label(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


@dataclass(frozen=True)
class Lang:
    """One page's language and time zone: translations and the formats of times and dates."""

    code: str = DEFAULT_LANGUAGE
    tz: tzinfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))

    @property
    def zh(self) -> bool:
        return self.code == "zh_CN"

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.code]

    @property
    def catalog(self) -> gettext_module.NullTranslations:
        return translations(self.code)

    # --- words -----------------------------------------------------------------

    def gettext(self, message: str, **params: Any) -> str:
        """``message`` translated, ``%(name)s`` placeholders filled from ``params``."""
        words = self.catalog.gettext(message)
        return words % params if params else words

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        words = self.catalog.ngettext(singular, plural, n)
        return words % {"num": n, **params}

    def pgettext(self, context: str, message: str, **params: Any) -> str:
        words = self.catalog.pgettext(context, message)
        return words % params if params else words

    # --- times and dates -------------------------------------------------------

    def local(self, at: datetime) -> datetime:
        """``at`` in the district's time zone (a naive time is taken as UTC)."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return at.astimezone(self.tz)

    def zone_label(self, at: datetime) -> str:
        """What a time in the district's zone is labelled with: 北京时间, or CST (UTC+8)."""
        local = self.local(at)
        offset = _offset_label(local.utcoffset())
        if self.zh:
            key = getattr(self.tz, "key", "")
            return "北京时间" if key in _BEIJING_ZONES and offset == "UTC+8" else offset
        abbr = local.tzname() or ""
        return f"{abbr} ({offset})" if abbr and abbr[0] not in "+-" and abbr != "UTC" else offset

    def format_date(self, d: date | datetime | None) -> str:
        """A date: 2026年3月2日 on Chinese pages, 2026-03-02 on English ones (a time
        is first taken to the district's zone)."""
        if d is None:
            return ""
        if isinstance(d, datetime):
            d = self.local(d).date()
        return f"{d.year}年{d.month}月{d.day}日" if self.zh else d.isoformat()

    def format_time(self, at: datetime | None) -> str:
        """A time of day with its zone: 11:42（北京时间） / 11:42 CST (UTC+8)."""
        if at is None:
            return ""
        clock = f"{self.local(at):%H:%M}"
        return self._labelled(clock, at)

    def format_datetime(self, at: datetime | None) -> str:
        """A date and time with its zone: 2026年3月2日 11:42（北京时间） /
        2026-03-02 11:42 CST (UTC+8)."""
        if at is None:
            return ""
        local = self.local(at)
        return self._labelled(f"{self.format_date(local.date())} {local:%H:%M}", at)

    def _labelled(self, text: str, at: datetime) -> str:
        label = self.zone_label(at)
        return f"{text}（{label}）" if self.zh else f"{text} {label}"

    def today(self, now: datetime) -> date:
        """The district's date at ``now``."""
        return self.local(now).date()

    def day_start(self, d: date) -> datetime:
        """The instant (UTC) the district's day ``d`` begins."""
        return datetime(d.year, d.month, d.day, tzinfo=self.tz).astimezone(UTC)

    # --- durations -------------------------------------------------------------

    def ago(self, then: datetime | None, now: datetime) -> str:
        """How long ago, in words (3 小时前 / 3 h ago)."""
        if then is None:
            return ""
        s = int((now - then).total_seconds())
        if s < 0:
            return self.gettext("in the future")
        if s < 90:
            return self.gettext("%(n)s s ago", n=s)
        if s < 90 * 60:
            return self.gettext("%(n)s min ago", n=s // 60)
        if s < 36 * 3600:
            return self.gettext("%(n)s h ago", n=s // 3600)
        return self.gettext("%(n)s d ago", n=s // 86400)

    def duration(self, seconds: float | None) -> str:
        """A length of time in words (2 小时 5 分钟 / 2 h 5 min)."""
        if seconds is None:
            return ""
        s = int(seconds)
        if s < 120:
            return self.gettext("%(n)s s", n=s)
        if s < 120 * 60:
            return self.gettext("%(n)s min", n=s // 60)
        if s < 48 * 3600:
            return self.gettext("%(h)s h %(m)s min", h=s // 3600, m=(s % 3600) // 60)
        return self.gettext("%(n)s d", n=s // 86400)
