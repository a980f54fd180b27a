"""The resident roster: a district's 公卫 system's export (CSV or XLSX) into ``residents``.

``healthkiosk followup roster import FILE [--dry-run]`` reads every row, checks
every one (ID number, sex and birth date against it, phone, dates, the
responsible doctor's account, the programmes), and writes nothing unless every
row is good: one transaction. A resident is matched by the keyed hash of the ID
number (as the ingest matches a reading), so a re-import updates and never
duplicates, and the readings a station sends are the roster's resident's.

The ID number never leaves this module whole: the report and the log name a
row by its line number and the number's mask (110***********123X).

Columns are found by their header, Chinese as such systems export them
(身份证号, 姓名, 性别, 出生日期, 联系电话, 现住址, 所属区域, 责任医生,
高血压管理, 糖尿病管理, 建档日期 / 纳入管理日期, ...) or English. An empty
cell leaves what is stored as it is (a phone a doctor typed is not erased).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.db.auth import User
from followup.db.models import Resident
from followup.ingest.store import id_hash
from healthkiosk.errors import HealthKioskError, IdNumberError
from healthkiosk.idnumber import mask, mask_in_text, parse

log = logging.getLogger(__name__)

# field -> the headers that name it (compared after _norm_header)
HEADERS: dict[str, tuple[str, ...]] = {
    "id_number": ("身份证号", "身份证号码", "身份证", "证件号码", "公民身份号码", "id_number",
                  "idnumber", "id"),
    "name": ("姓名", "居民姓名", "患者姓名", "name"),
    "sex": ("性别", "sex", "gender"),
    "birth_date": ("出生日期", "出生年月日", "birth_date", "birthdate", "dateofbirth"),
    "phone": ("联系电话", "本人电话", "电话", "手机", "手机号", "手机号码", "联系方式", "phone",
              "telephone"),
    "address": ("现住址", "住址", "家庭住址", "居住地址", "地址", "address"),
    "area": ("所属区域", "区域", "所属社区", "所属村", "村/社区", "村（居）委会", "村(居)委会",
             "居委会", "area", "village"),
    "doctor": ("责任医生", "责任医师", "签约医生", "doctor", "responsible_doctor",
               "responsibledoctor"),
    "hypertension": ("高血压", "高血压管理", "高血压患者管理", "是否高血压", "hypertension",
                     "hypertension_management"),
    "diabetes": ("糖尿病", "糖尿病管理", "2型糖尿病", "2型糖尿病管理", "2型糖尿病患者管理",
                 "是否糖尿病", "diabetes", "diabetes_management"),
    "hypertension_enrolled_on": ("高血压纳入管理日期", "高血压建档日期", "高血压管理日期",
                                 "高血压纳管日期", "hypertension_enrolment_date",
                                 "hypertension_enrolled_on"),
    "diabetes_enrolled_on": ("糖尿病纳入管理日期", "糖尿病建档日期", "糖尿病管理日期",
                             "糖尿病纳管日期", "diabetes_enrolment_date", "diabetes_enrolled_on"),
    "enrolled_on": ("纳入管理日期", "建档日期", "管理日期", "纳管日期", "enrolment_date",
                    "enrolled_on"),
}  # fmt: skip

_YES = {"是", "有", "√", "✓", "y", "yes", "true", "1", "在管", "管理", "已管理", "纳入", "已纳入"}
_NO = {"否", "无", "×", "n", "no", "false", "0", "未管理", "不在管", "未纳入", "-", "—"}
_SEX = {
    "男": "male", "男性": "male", "m": "male", "male": "male", "1": "male",
    "女": "female", "女性": "female", "f": "female", "female": "female", "2": "female",
    "未知": "unknown", "未说明": "unknown", "unknown": "unknown", "0": "unknown", "9": "unknown",
}  # fmt: skip
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{5,24}$")
_DATE_FORMS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S")
MAX_LENGTHS = {"name": 100, "phone": 40, "address": 300, "area": 200}
HEADER_SEARCH_ROWS = 10
"""A header row is looked for in the first rows (exports often start with a title)."""


class RosterError(HealthKioskError, ValueError):
    """A roster file that cannot be read at all (no header, unknown format...)."""


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    """The row's number in the file as a spreadsheet numbers it (the header's row counts)."""
    reason: str
    """Chinese first, English second; an ID number only masked."""

    def __str__(self) -> str:
        return f"第 {self.line} 行 line {self.line}: {self.reason}"


@dataclass(slots=True)
class RosterRow:
    line: int
    id_number: str
    name: str | None = None
    sex: str | None = None
    birth_date: date | None = None
    phone: str | None = None
    address: str | None = None
    area: str | None = None
    doctor: str | None = None
    hypertension: bool | None = None
    diabetes: bool | None = None
    hypertension_enrolled_on: date | None = None
    diabetes_enrolled_on: date | None = None

    def __repr__(self) -> str:  # never the whole number
        return f"RosterRow(line={self.line}, {mask(self.id_number)})"


@dataclass(slots=True)
class RosterReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: list[BadLine] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    resident_ids: list[int] = field(default_factory=list)
    """The residents created or changed (their status is recomputed)."""

    def lines(self) -> list[str]:
        out = [str(b) for b in self.bad]
        if self.bad:
            out.append(
                f"{len(self.bad)} 行有误，未导入任何数据 "
                f"{len(self.bad)} bad line(s) of {self.rows}: nothing imported"
            )
            return out
        verb = "将" if self.dry_run else "已"
        out.append(
            f"{self.rows} 行：{verb}新增 {self.created}，{verb}更新 {self.updated}，"
            f"无变化 {self.unchanged} · {self.rows} row(s): "
            f"{self.created} new, {self.updated} updated, {self.unchanged} unchanged"
            + (" (dry run: nothing written 试运行，未写入)" if self.dry_run else "")
        )
        return out


# --- reading the file ---------------------------------------------------------


def _norm_header(text: str) -> str:
    t = str(text).strip().lower().lstrip("*＊").strip()
    t = t.replace("（", "(").replace("）", ")").replace("\u3000", "")
    return re.sub(r"[\s_\-:：]+", "", t).replace("(", "").replace(")", "")


_LOOKUP = {_norm_header(h): f for f, names in HEADERS.items() for h in names}


def _columns(header: Sequence[Any]) -> dict[str, int]:
    cols: dict[str, int] = {}
    for i, cell in enumerate(header):
        if cell is None:
            continue
        f = _LOOKUP.get(_norm_header(str(cell)))
        if f is not None and f not in cols:
            cols[f] = i
    return cols


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def read_rows(
    path: Path, *, encoding: str | None = None
) -> tuple[dict[str, int], Iterator[tuple[int, list[Any]]]]:
    """The columns found and ``(line, cells)`` for each row after the header."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        raw = _xlsx_rows(path)
    elif suffix in (".csv", ".txt"):
        raw = _csv_rows(path, encoding)
    else:
        raise RosterError(f"{path.name}: 只支持 CSV 或 XLSX only CSV or XLSX files are read")
    for line, cells in raw:
        cols = _columns(cells)
        if "id_number" in cols:
            return cols, ((n, c) for n, c in raw if any(_cell_text(x) for x in c))
        if line >= HEADER_SEARCH_ROWS:
            break
    raise RosterError(
        f"{path.name}: 前 {HEADER_SEARCH_ROWS} 行中没有“身份证号”列 "
        f"no ID number column (身份证号) in the first {HEADER_SEARCH_ROWS} rows"
    )


def _csv_rows(path: Path, encoding: str | None) -> Iterator[tuple[int, list[Any]]]:
    data = path.read_bytes()
    if encoding:
        text = data.decode(encoding)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:  # 公卫 systems often export GBK
            text = data.decode("gb18030")
    reader = csv.reader(io.StringIO(text, newline=""))
    for n, cells in enumerate(reader, start=1):
        yield n, list(cells)


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for a damaged file
        raise RosterError(
            f"{path.name}: 不是可读的 XLSX 文件 not a readable XLSX file ({type(e).__name__})"
        ) from None
    try:
        ws = wb.worksheets[0]
        for n, cells in enumerate(ws.iter_rows(values_only=True), start=1):
            yield n, list(cells)
    finally:
        wb.close()


# --- checking a row -------------------------------------------------------------


def _date(value: Any, what: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _cell_text(value)
    for form in _DATE_FORMS:
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            continue
    raise ValueError(f"{what}不是日期 {_EN[what]} is not a date: {mask_in_text(text)!r}")


_EN = {
    "出生日期": "the birth date",
    "高血压纳入管理日期": "the hypertension enrolment date",
    "糖尿病纳入管理日期": "the diabetes enrolment date",
    "纳入管理日期": "the enrolment date",
}


def _yes_no(value: Any, what: str, en: str) -> bool | None:
    text = _cell_text(value).lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"{what}应为“是”或“否” {en} should be 是 (yes) or 否 (no): {text!r}")


def check_row(line: int, cells: Sequence[Any], cols: dict[str, int], today: date) -> RosterRow:
    """One row checked (raises ValueError with the reason, Chinese first)."""

    def get(f: str) -> Any:
        i = cols.get(f)
        return cells[i] if i is not None and i < len(cells) else None

    raw_id = get("id_number")
    if isinstance(raw_id, int | float) and not isinstance(raw_id, bool):
        raise ValueError(
            "身份证号存成了数字（精度已丢失），请把该列设为文本 "
            "the ID number is stored as a number (digits lost): format the column as text"
        )
    id_text = _cell_text(raw_id)
    if not id_text:
        raise ValueError("缺少身份证号 no ID number")
    try:
        idn = parse(id_text, today=today)
    except IdNumberError as e:
        raise ValueError(f"身份证号无效 the ID number {mask(id_text)} is not valid: {e}") from None
    row = RosterRow(line=line, id_number=idn.value)
    for f in ("name", "address", "area", "doctor"):
        text = _cell_text(get(f))
        if text:
            limit = MAX_LENGTHS.get(f)
            if limit and len(text) > limit:
                raise ValueError(f"{f} 超过 {limit} 个字 {f} is longer than {limit} characters")
            setattr(row, f, text)
    sex_text = _cell_text(get("sex")).lower()
    if sex_text:
        sex = _SEX.get(sex_text)
        if sex is None:
            raise ValueError(f"性别无法识别 the sex is not 男 or 女: {sex_text!r}")
        if sex not in ("unknown", idn.sex.value):
            raise ValueError("性别与身份证号不符 the sex does not match the ID number")
        row.sex = sex
    else:
        row.sex = idn.sex.value
    born = _date(get("birth_date"), "出生日期")
    if born is not None and born != idn.birth_date:
        raise ValueError("出生日期与身份证号不符 the birth date does not match the ID number")
    row.birth_date = idn.birth_date
    phone = _cell_text(get("phone"))
    if phone:
        if not _PHONE.match(phone) or len(phone) > MAX_LENGTHS["phone"]:
            raise ValueError(
                f"联系电话无效 the phone number is not a number: {mask_in_text(phone)!r}"
            )
        row.phone = phone
    row.hypertension = _yes_no(get("hypertension"), "高血压管理", "hypertension management")
    row.diabetes = _yes_no(get("diabetes"), "糖尿病管理", "diabetes management")
    both = _date(get("enrolled_on"), "纳入管理日期")
    row.hypertension_enrolled_on = _date(get("hypertension_enrolled_on"), "高血压纳入管理日期")
    row.diabetes_enrolled_on = _date(get("diabetes_enrolled_on"), "糖尿病纳入管理日期")
    if both is not None:
        if row.hypertension and row.hypertension_enrolled_on is None:
            row.hypertension_enrolled_on = both
        if row.diabetes and row.diabetes_enrolled_on is None:
            row.diabetes_enrolled_on = both
    for d in (row.hypertension_enrolled_on, row.diabetes_enrolled_on):
        if d is not None and (d > today or d < idn.birth_date):
            raise ValueError(
                "纳入管理日期不合理 the enrolment date is in the future or before the birth date"
            )
    return row


# --- importing ------------------------------------------------------------------

_FIELDS = (
    "name", "sex", "birth_date", "phone", "address", "area",
    "hypertension_enrolled_on", "diabetes_enrolled_on",
)  # fmt: skip


def _doctors(session: Session) -> dict[str, int]:
    """Active doctors' accounts by display name and by username (a name two share is
    left out: it names nobody for certain)."""
    seen: dict[str, set[int]] = {}
    for uid, username, display in session.execute(
        select(User.id, User.username, User.display_name).where(
            User.role == "doctor", User.active.is_(True)
        )
    ):
        for key in {username.strip(), (display or "").strip()} - {""}:
            seen.setdefault(key, set()).add(uid)
    return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}


def import_roster(
    session: Session,
    rows: Iterable[tuple[int, Sequence[Any]]],
    cols: dict[str, int],
    *,
    key: bytes,
    now: datetime,
    tz: tzinfo,
    dry_run: bool = False,
) -> RosterReport:
    """Check every row, then (no bad line, not a dry run) write them all in the
    caller's transaction. With a bad line nothing is written: the caller rolls back.
    "Today" (no enrolment or birth date after it) is the district's day, in ``tz``."""
    report = RosterReport(dry_run=dry_run)
    today = now.astimezone(tz).date()
    good: list[RosterRow] = []
    first_line: dict[str, int] = {}
    doctors = _doctors(session)
    for line, cells in rows:
        report.rows += 1
        try:
            row = check_row(line, cells, cols, today)
            if row.id_number in first_line:
                raise ValueError(
                    f"身份证号与第 {first_line[row.id_number]} 行重复 the same ID number as "
                    f"line {first_line[row.id_number]}"
                )
            if row.doctor is not None and row.doctor not in doctors:
                raise ValueError(
                    f"没有名为“{row.doctor}”的医生账号 no doctor's account named {row.doctor!r}"
                )
        except ValueError as e:
            report.bad.append(BadLine(line, str(e)))
            continue
        first_line[row.id_number] = line
        good.append(row)
    if report.bad:
        for b in report.bad:
            log.warning("roster: %s", b)
        return report
    hashes = {id_hash(key, r.id_number): r for r in good}
    existing: dict[str, Resident] = {}
    keys = list(hashes)
    for i in range(0, len(keys), 1000):
        for res in session.scalars(
            select(Resident).where(Resident.id_hash.in_(keys[i : i + 1000]))
        ):
            existing[res.id_hash] = res
    changed: list[Resident] = []
    for h, row in hashes.items():
        found = existing.get(h)
        values: dict[str, Any] = {
            f: getattr(row, f) for f in _FIELDS if getattr(row, f) is not None
        }
        if row.hypertension is not None:
            values["hypertension_programme"] = row.hypertension
        if row.diabetes is not None:
            values["diabetes_programme"] = row.diabetes
        if row.doctor is not None:
            values["responsible_doctor_id"] = doctors[row.doctor]
        if found is None:
            report.created += 1
            if not dry_run:
                res = Resident(
                    id_hash=h,
                    id_number=row.id_number,
                    id_masked=mask(row.id_number),
                    created_at=now,
                    updated_at=now,
                    **values,
                )
                session.add(res)
                changed.append(res)
            continue
        res = found
        diff = {k: v for k, v in values.items() if getattr(res, k) != v}
        if not diff:
            report.unchanged += 1
            continue
        report.updated += 1
        if not dry_run:
            for k, v in diff.items():
                setattr(res, k, v)
            res.updated_at = now
            changed.append(res)
    if not dry_run:
        session.flush()
        report.resident_ids = [r.id for r in changed]
        report.written = True
    log.info(
        "roster: %d rows, %d new, %d updated, %d unchanged%s",
        report.rows, report.created, report.updated, report.unchanged,
        " (dry run)" if dry_run else "",
    )  # fmt: skip
    return report
