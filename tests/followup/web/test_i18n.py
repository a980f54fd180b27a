"""The doctor's side's languages: the catalog, the page's language, local times and dates."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po

from followup.web.common import WebSettings
from followup.web.i18n import LOCALE_DIR, Lang, load_zone, negotiate, translations
from healthkiosk.config import from_mapping
from healthkiosk.errors import ConfigError
from tests.support.wheelkit import ROOT, build_wheel, venv_with

PO = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "followup.po"
POT = LOCALE_DIR / "followup.pot"
PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def _catalog(path: Path) -> dict[tuple[str | None, str], str]:
    with path.open("rb") as f:
        cat = read_po(f)
    out = {}
    for m in cat:
        if not m.id:
            continue
        key = m.id if isinstance(m.id, str) else m.id[0]
        assert m.fuzzy is False, f"fuzzy: {key!r}"
        string = m.string if isinstance(m.string, str) else m.string[0]
        out[(m.context, key)] = string
    return out


def test_template_is_what_babel_extracts(tmp_path: Path) -> None:
    """The committed .pot holds every message of the code and templates (run
    scripts/followup-messages after changing words)."""
    out = tmp_path / "fresh.pot"
    pybabel = str(Path(sys.executable).parent / "pybabel")
    subprocess.run(
        [str(ROOT / "scripts" / "followup-messages"), str(out)],
        check=True, env={"PYBABEL": pybabel, "PATH": "/usr/bin:/bin"}, timeout=120,
    )  # fmt: skip
    assert set(_catalog(out)) == set(_catalog(POT))


def test_every_message_has_its_chinese_with_the_same_placeholders() -> None:
    pot, po = _catalog(POT), _catalog(PO)
    assert set(po) == set(pot)
    for key, words in po.items():
        assert words, f"untranslated: {key}"
        english = key[1]
        assert sorted(PLACEHOLDER.findall(words)) == sorted(PLACEHOLDER.findall(english)), key


def test_the_catalog_is_compiled_from_the_po_in_memory() -> None:
    zh = translations("zh_CN")
    assert zh.gettext("Sign in") == "登录"
    assert translations("en").gettext("Sign in") == "Sign in"
    assert not list(LOCALE_DIR.rglob("*.mo"))  # nothing compiled left beside the source


@pytest.mark.parametrize(
    ("header", "wanted"),
    [
        (None, "zh_CN"),
        ("", "zh_CN"),
        ("fr-FR,fr;q=0.9", "zh_CN"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("zh-TW", "zh_CN"),
        ("zh", "zh_CN"),
        ("en-US,en;q=0.9", "en"),
        ("en-GB", "en"),
        ("fr, en;q=0.8, zh;q=0.5", "en"),
        ("en;q=0.4, zh-Hans;q=0.6", "zh_CN"),
        ("en;q=0, zh;q=0", "zh_CN"),
        ("en;q=bad", "zh_CN"),
        ("EN-us", "en"),
    ],
)
def test_the_browsers_language(header: str | None, wanted: str) -> None:
    assert negotiate(header) == wanted


BEIJING = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 3, 2, 3, 42, tzinfo=UTC)  # 11:42 in Beijing


def test_times_are_local_and_labelled_dates_chinese_on_chinese_pages() -> None:
    zh, en = Lang("zh_CN", BEIJING), Lang("en", BEIJING)
    assert zh.format_time(AT) == "11:42（北京时间）"
    assert en.format_time(AT) == "11:42 CST (UTC+8)"
    assert zh.format_datetime(AT) == "2026年3月2日 11:42（北京时间）"
    assert en.format_datetime(AT) == "2026-03-02 11:42 CST (UTC+8)"
    assert zh.format_date(date(2026, 3, 2)) == "2026年3月2日"
    assert en.format_date(date(2026, 3, 2)) == "2026-03-02"
    # 20:00 UTC is the next day in Beijing: a time's date is the district's
    late = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    assert zh.format_date(late) == "2026年3月2日"
    assert zh.today(late) == date(2026, 3, 2)
    assert zh.day_start(date(2026, 3, 2)) == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    # a naive time is UTC (as SQLite hands some back)
    assert zh.format_time(AT.replace(tzinfo=None)) == "11:42（北京时间）"
    assert zh.format_time(None) == zh.format_date(None) == ""


def test_other_zones_say_their_offset() -> None:
    urumqi = Lang("zh_CN", ZoneInfo("Asia/Urumqi"))
    assert urumqi.format_time(AT) == "09:42（UTC+6）"
    assert Lang("en", ZoneInfo("Asia/Urumqi")).format_time(AT) == "09:42 UTC+6"
    berlin = Lang("en", ZoneInfo("Europe/Berlin"))
    assert berlin.format_time(datetime(2026, 7, 1, 10, 0, tzinfo=UTC)) == "12:00 CEST (UTC+2)"
    assert berlin.format_time(datetime(2026, 1, 1, 10, 0, tzinfo=UTC)) == "11:00 CET (UTC+1)"
    kolkata = Lang("zh_CN", ZoneInfo("Asia/Kolkata"))
    assert kolkata.format_time(AT) == "09:12（UTC+5:30）"
    assert Lang("en", ZoneInfo("UTC")).format_time(AT) == "03:42 UTC+0"


def test_durations_in_words() -> None:
    zh, en = Lang("zh_CN", BEIJING), Lang("en", BEIJING)
    now = AT
    assert zh.ago(datetime(2026, 3, 2, 0, 42, tzinfo=UTC), now) == "3 小时前"
    assert en.ago(datetime(2026, 3, 2, 0, 42, tzinfo=UTC), now) == "3 h ago"
    assert zh.duration(7500) == "2 小时 5 分钟"
    assert en.duration(30) == "30 s"


def test_the_time_zone_is_validated() -> None:
    assert from_mapping({}).followup.timezone == "Asia/Shanghai"
    assert from_mapping({"followup": {"timezone": "Asia/Urumqi"}}).followup.timezone == (
        "Asia/Urumqi"
    )
    with pytest.raises(ConfigError) as err:
        from_mapping({"followup": {"timezone": "Beijing"}})
    assert err.value.key == "followup.timezone"
    with pytest.raises(ConfigError) as err:
        load_zone("Mars/Olympus")
    assert err.value.key == "followup.timezone"
    with pytest.raises(ConfigError):
        WebSettings(secret_key="k" * 64, timezone="../../etc/passwd")


@pytest.mark.timeout(400)
def test_the_wheel_carries_the_catalog_and_speaks_chinese(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "build")
    python = venv_with(wheel, tmp_path / "venv")
    probe = subprocess.run(
        [str(python), "-c",
         "from followup.web import i18n\n"
         "print(i18n.LOCALE_DIR)\n"
         "print(i18n.translations('zh_CN').gettext('Sign in'))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    where, words = probe.stdout.splitlines()
    assert where.startswith(str(tmp_path / "venv"))  # the wheel's copy, not the checkout's
    assert words == "登录"
