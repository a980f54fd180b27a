"""What the slip says, in order: its paragraphs with their style and language.

The words are the kiosk's own (:mod:`kiosk.app.texts`, translated by its
catalog): the category words and advice are the very sentences the result
screen showed. The first of ``settings.languages`` is the large print; the
second, if any, follows each paragraph in small print (left out where it
would only repeat the first, as a station's name does).

Nothing here draws: :mod:`kiosk.slip.render` wraps and draws these
paragraphs, and the tests read them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from kiosk.app.i18n import text
from kiosk.flow.kinds import category_key, name_key, unit_key
from kiosk.slip.model import Slip, SlipPoint, SlipResult

Style = Literal["title", "value", "heading", "body", "small", "rule"]
BEIJING_ZONES = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "PRC"})


@dataclass(frozen=True, slots=True)
class Block:
    text: str
    style: Style
    language: str = ""


RULE = Block("", "rule")


class _Writer:
    def __init__(self, slip: Slip) -> None:
        self.slip = slip
        langs = slip.settings.languages
        self.first = langs[0]
        self.second = langs[1] if len(langs) > 1 else None

    def t(self, lang: str, key: str, **params: Any) -> str:
        return text(lang, key, **params)

    def both(self, style: Style, key: str, **params: Any) -> Iterator[Block]:
        """``key`` in the first language in ``style``, then in the second in small print."""
        yield from self.pair(style, lambda lang: self.t(lang, key, **params))

    def pair(self, style: Style, words: Any) -> Iterator[Block]:
        first = words(self.first)
        yield Block(first, style, self.first)
        if self.second is not None:
            second = words(self.second)
            if second != first:
                yield Block(second, "small", self.second)

    # --- parts ---------------------------------------------------------------------

    def when(self, lang: str, at: datetime) -> str:
        local = at.astimezone(self.slip.settings.zone)
        stamp = self.t(
            lang,
            "slip.datetime",
            year=local.year,
            month=local.month,
            day=local.day,
            time=local.strftime("%H:%M"),
        )
        return f"{stamp} {self.zone_label(lang, local)}"

    def zone_label(self, lang: str, local: datetime) -> str:
        if self.slip.settings.timezone in BEIJING_ZONES:
            return self.t(lang, "slip.zone.beijing")
        offset = local.utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        sign = "+" if minutes >= 0 else "-"
        hours, mins = divmod(abs(minutes), 60)
        return f"UTC{sign}{hours}" + (f":{mins:02d}" if mins else "")

    def day(self, lang: str, at: datetime) -> str:
        local = at.astimezone(self.slip.settings.zone)
        printed = self.slip.printed_at.astimezone(self.slip.settings.zone)
        key = "slip.day" if local.year == printed.year else "slip.day_year"
        return self.t(lang, key, year=local.year, month=local.month, day=local.day)

    def kind_word(self, lang: str, r: SlipResult | SlipPoint) -> str:
        word = self.t(lang, name_key(r.kind))
        meal = getattr(r, "meal", None)
        if meal is not None:
            word += self.t(lang, "slip.with_meal", meal=self.t(lang, f"slip.meal.{meal}"))
        return word

    def category(self, lang: str, r: SlipResult | SlipPoint) -> str:
        return self.t(lang, category_key(r.kind, r.category))

    def unit(self, lang: str, r: SlipResult) -> str:
        return self.t(lang, unit_key(r.kind))

    def result(self, r: SlipResult) -> Iterator[Block]:
        yield from self.pair("heading", lambda lang: self.kind_word(lang, r))
        yield Block(f"{r.value} {self.unit(self.first, r)}", "value", self.first)
        yield from self.pair("heading", lambda lang: self.category(lang, r))
        yield from self.both("body", r.advice)
        if r.pulse is not None:
            yield from self.both("body", "result.pulse", pulse=r.pulse)
        for note in r.notes:
            yield from self.both("body", note)
        for key, params in r.lines:
            yield from self.both("body", key, **dict(params))

    def earlier(self) -> Iterator[Block]:
        points = self.slip.earlier
        if not points:
            return
        yield RULE
        yield from self.both("heading", "slip.earlier")
        for kind in ("blood_pressure", "glucose"):
            mine = [p for p in points if p.kind == kind]
            if not mine:
                continue
            yield from self.pair("body", lambda lang, p=mine[0]: self.kind_word(lang, p))
            for p in mine:  # the first language only: the numbers would only repeat
                lang = self.first
                yield Block(f"{self.day(lang, p.at)} {p.value} {self.category(lang, p)}", "body",
                            lang)  # fmt: skip

    def doctor(self) -> Iterator[Block]:
        s = self.slip.settings
        if not (s.doctor_name or s.doctor_phone):
            return
        yield RULE
        if s.doctor_name:
            yield from self.both("body", "slip.doctor", name=s.doctor_name)
        if s.doctor_phone:  # the number large, whatever the language
            phone = s.doctor_phone
            yield Block(self.t(self.first, "slip.phone", phone=phone), "heading", self.first)
            if self.second is not None:
                yield Block(self.t(self.second, "slip.phone", phone=phone), "small", self.second)

    def blocks(self) -> Iterator[Block]:
        slip = self.slip
        if slip.test:
            yield from self.both("heading", "slip.test")
        yield from self.both("title", "slip.title")
        yield RULE
        yield Block(slip.settings.station, "body", self.first)
        yield from self.pair("body", lambda lang: self.when(lang, slip.printed_at))
        if slip.name:
            yield from self.both("body", "slip.name", name=slip.name)
        for r in slip.results:
            yield RULE
            yield from self.result(r)
        yield from self.earlier()
        yield from self.doctor()
        yield RULE
        yield from self.both("body", "slip.bring")
        yield from self.both("small", "slip.self_check")
        if slip.test:
            yield from self.both("heading", "slip.test")


def layout(slip: Slip) -> list[Block]:
    """The slip's paragraphs, top to bottom."""
    return list(_Writer(slip).blocks())
