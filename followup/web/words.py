"""The doctor's side's names for the rules' categories, Chinese first.

The doctor's side uses the guideline's names (正常高值, 1级高血压, ...); the
plain words the elder saw belong to the kiosk (docs/clinical.md, "Wording on
the kiosk"). Display words only: no threshold here.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any

from followup.messages import N_
from followup.web.i18n import Lang
from healthkiosk.rules.status import COULD_NOT_MEASURE, could_not_measure

CATEGORY_NAMES: dict[str, tuple[str, str]] = {
    "blood_pressure.low": ("低血压", "low"),
    "blood_pressure.normal": ("正常血压", "normal"),
    "blood_pressure.high_normal": ("正常高值", "high normal"),
    "blood_pressure.grade_1": ("1级高血压", "grade 1"),
    "blood_pressure.grade_2": ("2级高血压", "grade 2"),
    "blood_pressure.grade_3": ("3级高血压", "grade 3"),
    "glucose.very_low": ("血糖很低", "very low"),
    "glucose.normal": ("血糖正常", "normal"),
    "glucose.impaired_fasting": ("空腹血糖受损", "impaired fasting"),
    "glucose.above_normal": ("高于正常", "above normal"),
    "glucose.high": ("达糖尿病切点", "high"),
    "glucose.very_high": ("血糖很高", "very high"),
    "weight.underweight": ("体重过低", "underweight"),
    "weight.normal": ("体重正常", "normal"),
    "weight.overweight": ("超重", "overweight"),
    "weight.obese": ("肥胖", "obese"),
    "spo2.very_low": ("血氧很低", "very low"),
    "spo2.low": ("血氧偏低", "low"),
    "spo2.normal": ("血氧正常", "normal"),
    "temperature.normal": ("体温正常", "normal"),
    "temperature.low_fever": ("低热", "low fever"),
    "temperature.fever": ("中等度热", "fever"),
    "temperature.high_fever": ("高热", "high fever"),
}


def category_name(kind: str, category: str | None) -> str:
    """``正常高值 high normal``; an unknown key as it is."""
    if not category:
        return "—"
    zh, en = CATEGORY_NAMES.get(f"{kind}.{category}", ("", category.replace("_", " ")))
    return f"{zh} {en}".strip()


def event_text(event: dict[str, Any] | None) -> str:
    """A device event in words: ``无法测量 / could not measure: 0.9 mmol/L reported (...)``."""
    from followup.db.status_store import event_facts

    return could_not_measure(event_facts(event)) if event else COULD_NOT_MEASURE


def short_digest(digest: str | None) -> str:
    return digest[:12] if digest else "?"


# --- the page's language -------------------------------------------------------
# The rules and the fleet's alerts write their reasons in English (they are kept in
# the database and the audit log as such); a Chinese page shows them in Chinese,
# phrase by phrase, and every time in them in the district's zone. A phrase not
# known here is shown as it is (the Chinese pages' test finds it).

SEX_NAMES = {"male": ("男", "male"), "female": ("女", "female"), "unknown": ("未知", "unknown")}
MEAL_NAMES = {
    "fasting": ("空腹", "fasting"),
    "after_meal": ("餐后", "after a meal"),
    "random": ("随机", "random"),
    None: ("随机", "random"),
}
KIND_NAMES = {
    "blood_pressure": ("血压", "blood pressure"),
    "glucose": ("血糖", "glucose"),
    "id_card": ("身份证读卡器", "ID card reader"),
    "device_event": ("无法测量", "could not measure"),
    "weight": ("体重", "weight"),
    "spo2": ("血氧", "SpO2"),
    "temperature": ("体温", "temperature"),
    "pulse_oximeter": ("血氧仪", "pulse oximeter"),
    "thermometer": ("体温计", "thermometer"),
    "printer": ("小票打印机", "receipt printer"),
    "qr_code": ("二维码扫描器", "QR code scanner"),
}
OUTCOME_WORDS = {
    "applied": N_("applied"),
    "rejected": N_("rejected"),
    "reverted": N_("reverted"),
    "waiting": N_("waiting"),
    "in_progress": N_("in progress"),
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
    "rolled_back": N_("rolled back"),
    "refused": N_("refused"),
    "running": N_("running"),
    "paused": N_("paused"),
    "completed": N_("completed"),
    "stopped": N_("stopped"),
    "aborted": N_("aborted"),
    "download": N_("download"),
    "verify": N_("verify"),
    "install": N_("install"),
    "start": N_("start"),
    "health": N_("health"),
    "wait_visit": N_("waiting for the visit to end"),
    "switch": N_("switch"),
    "first_start": N_("first start"),
    "stability": N_("stability"),
    "rollback": N_("rollback"),
    "done": N_("done"),
}
"""Fleet reports' outcomes, steps and rollout states (message ids; others shown as they are)."""
STATUS_NAMES = {"urgent": ("紧急", "urgent"), "abnormal": ("异常", "abnormal"),
                "overdue": ("逾期", "overdue")}  # fmt: skip


def _pick(lang: Lang, pair: tuple[str, str] | None, fallback: str) -> str:
    if pair is None:
        return fallback
    return pair[0] if lang.zh else pair[1]


def sex_name(lang: Lang, sex: str | None) -> str:
    return _pick(lang, SEX_NAMES.get(sex or "unknown"), sex or "")


def meal_name(lang: Lang, meal: str | None) -> str:
    return _pick(lang, MEAL_NAMES.get(meal), meal or "")


def kind_name(lang: Lang, kind: str) -> str:
    return _pick(lang, KIND_NAMES.get(kind), kind.replace("_", " "))


def status_name(lang: Lang, status: str) -> str:
    return _pick(lang, STATUS_NAMES.get(status), status)


def category_label(lang: Lang, kind: str, category: str | None) -> str:
    """A category on the page: the guideline's Chinese name on a Chinese page, both
    names on an English one (正常高值 high normal)."""
    if kind == "device_event":
        zh, en = KIND_NAMES["device_event"]
        return zh if lang.zh else f"{zh} {en}"
    if not lang.zh:
        return category_name(kind, category)
    if not category:
        return "—"
    return CATEGORY_NAMES.get(f"{kind}.{category}", (category.replace("_", " "), ""))[0]


_NUM = r"(-?\d+(?:\.\d+)?)"
_UTC_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}) UTC")
_REASONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^systolic >= {_NUM} mmHg under hypertension management$"),
     "高血压管理中收缩压 ≥ {0} mmHg"),
    (re.compile(rf"^diastolic >= {_NUM} mmHg under hypertension management$"),
     "高血压管理中舒张压 ≥ {0} mmHg"),
    (re.compile(rf"^fasting glucose >= {_NUM} mmol/L under diabetes management$"),
     "糖尿病管理中空腹血糖 ≥ {0} mmol/L"),
    (re.compile(rf"^first raised BP at age >= {_NUM}: confirm on another day$"),
     "{0} 岁及以上首次血压升高：请改日复测确认"),
    (re.compile(rf"^systolic (>=|<) {_NUM} mmHg$"), "收缩压 {0} {1} mmHg"),
    (re.compile(rf"^diastolic (>=|<) {_NUM} mmHg$"), "舒张压 {0} {1} mmHg"),
    (re.compile(rf"^glucose (>=|<=) {_NUM} mmol/L$"), "血糖 {0} {1} mmol/L"),
    (re.compile(rf"^{_NUM} < glucose < {_NUM} mmol/L$"), "{0} < 血糖 < {1} mmol/L"),
    (re.compile(rf"^meter shows LO \(below {_NUM} mmol/L\)$"), "血糖仪显示 LO（低于 {0} mmol/L）"),
    (re.compile(rf"^meter shows HI \(above {_NUM} mmol/L\)$"), "血糖仪显示 HI（高于 {0} mmol/L）"),
    (re.compile(rf"^systolic {_NUM} mmHg is outside {_NUM}-{_NUM}$"),
     "收缩压 {0} mmHg 超出 {1}–{2} 的可信范围"),
    (re.compile(rf"^diastolic {_NUM} mmHg is outside {_NUM}-{_NUM}$"),
     "舒张压 {0} mmHg 超出 {1}–{2} 的可信范围"),
    (re.compile(rf"^systolic {_NUM} is not above diastolic {_NUM}$"),
     "收缩压 {0} 不高于舒张压 {1}"),
    (re.compile(rf"^pulse {_NUM} bpm is outside {_NUM}-{_NUM}$"),
     "脉搏 {0} 次/分 超出 {1}–{2} 的可信范围"),
    (re.compile(rf"^glucose {_NUM} mmol/L is outside {_NUM}-{_NUM}$"),
     "血糖 {0} mmol/L 超出 {1}–{2} 的可信范围"),
    (re.compile(r"^blood pressure without values$"), "血压没有数值"),
    (re.compile(r"^glucose without a value$"), "血糖没有数值"),
    (re.compile(r"^controlled$"), "控制满意"),
    (re.compile(r"^心律检查 / rhythm check: irregular pulse at (\d+)/(\d+) mmHg$"),
     "心律检查：血压 {0}/{1} mmHg 时脉搏不齐"),
    (re.compile(r"^无法测量 / could not measure: (.+) reported \((.+)\)$"),
     "无法测量：设备报告 {0}（{1}）"),
    (re.compile(r"^无法测量 / could not measure$"), "无法测量"),
    # readings in a few words (followup.db.status_store.summarise)
    (re.compile(r"^BP (\d+)/(\d+) mmHg, irregular pulse$"), "血压 {0}/{1} mmHg，脉搏不齐"),
    (re.compile(r"^BP (\d+)/(\d+) mmHg$"), "血压 {0}/{1} mmHg"),
    (re.compile(rf"^glucose {_NUM} mmol/L \((\w+)\)$"), "血糖 {0} mmol/L（{1}）"),
    (re.compile(r"^glucose (HI|LO) \((\w+)\)$"), "血糖 {0}（{1}）"),
    (re.compile(r"^(\w+): (.+) reported$"), "{0}：设备报告 {1}"),
    # the fleet's alerts (followup.fleet.alerts)
    (re.compile(r"^never reported a status$"), "从未报告状态"),
    (re.compile(rf"^offline for {_NUM} h$"), "已离线 {0} 小时"),
    (re.compile(r"^(\d+) readings not yet delivered$"), "{0} 条读数尚未送达"),
    (re.compile(rf"^{_NUM} % disk free$"), "磁盘剩余 {0} %"),
    (re.compile(r"^(\w+) (.*): never seen$"), "{0} {1}：从未连接"),
    (re.compile(r"^(\w+) (.*): not seen since (.+)$"), "{0} {1}：自 {2} 起未连接"),
    (re.compile(r"^(\w+) (.*): battery (\d+) %$"), "{0} {1}：电量 {2} %"),
    (re.compile(r"^technician PIN: (\d+) wrong in a row, refused until (.+)$"),
     "技术员 PIN 连续输错 {0} 次，锁定至 {1}"),
    (re.compile(r"^technician PIN: (\d+) wrong in a row$"), "技术员 PIN 连续输错 {0} 次"),
    (re.compile(rf"^clock not synchronised \(error up to {_NUM} s\), last synchronised (.+)$"),
     "时钟未同步（误差至多 {0} 秒），上次同步 {1}"),
    (re.compile(rf"^clock not synchronised \(error up to {_NUM} s\)$"),
     "时钟未同步（误差至多 {0} 秒）"),
    (re.compile(r"^clock not synchronised, last synchronised (.+)$"), "时钟未同步，上次同步 {0}"),
    (re.compile(r"^clock not synchronised$"), "时钟未同步"),
]  # fmt: skip
_WORDS_IN_REASONS = {
    "fasting": "空腹", "after_meal": "餐后", "random": "随机", "blood_pressure": "血压",
    "glucose": "血糖", "id_card": "身份证读卡器", "blood pressure": "血压",
    "glucose out of range": "超出测量范围", "out of range": "超出测量范围",
    "error": "错误", "unknown": "未知", ">=": "≥", "<=": "≤",
}  # fmt: skip


def _local_times(lang: Lang, text: str) -> str:
    """Every ``YYYY-MM-DD HH:MM UTC`` in ``text`` in the district's zone, labelled."""

    def one(m: re.Match[str]) -> str:
        at = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}:{m.group(3)}").replace(tzinfo=UTC)
        return lang.format_datetime(at)

    return _UTC_TIME.sub(one, text)


@functools.lru_cache(maxsize=4096)
def _phrase(lang: Lang, part: str) -> str:
    """One part of a stored text in ``lang`` (remembered: the list shows the same few
    reasons and readings hundreds of times, each a scan of every pattern above)."""
    if not lang.zh:
        return _local_times(lang, part)
    for pattern, zh in _REASONS:
        m = pattern.match(part.strip())
        if m:
            args = [_WORDS_IN_REASONS.get(g, g) for g in m.groups()]
            return _local_times(lang, zh.format(*args))
    return _local_times(lang, part)


def reason_text(lang: Lang, text: str | None) -> str:
    """A stored reason (``systolic >= 160 mmHg; 心律检查 / rhythm check: ...``) in the
    page's language."""
    if not text:
        return ""
    return "；".join(_phrase(lang, p) for p in text.split("; ")) if lang.zh else _phrase(lang, text)


def summary_text(lang: Lang, text: str | None) -> str:
    """A reading in a few words (``BP 152/96 mmHg``) in the page's language."""
    return _phrase(lang, text) if text else ""


def outcome_name(lang: Lang, value: str | None) -> str:
    """A report's outcome or step, or a rollout's state, in the page's language."""
    if not value:
        return ""
    words = OUTCOME_WORDS.get(value)
    return lang.gettext(words) if words else value.replace("_", " ")


REVIEW_WORDS = (
    # followup.db.reviews: OUTCOMES, REMOVE_REASONS, METHODS (the database's layer keeps
    # the English; the pages translate them; a test checks that each is here)
    N_("Contacted: agreed to come"),
    N_("Remind later"),
    N_("No answer"),
    N_("Follow-up record"),
    N_("Home visit done"),
    N_("Referred"),
    N_("Remove from list"),
    N_("Already seen / visited"),
    N_("Not responding"),
    N_("Wrong number"),
    N_("Moved / transferred"),
    N_("Refused"),
    N_("Died"),
    N_("Other"),
    N_("Phone call"),
    N_("Home visit"),
    N_("At the clinic"),
)
