"""docs/clinical.md against the code: every default number, both ways.

The doc's machine-checked tables (see its "How to read it") are parsed here and
compared with the defaults of ``healthkiosk.rules`` and the unit constants of
``healthkiosk.readings``. A default changed in the code without the doc, a row
changed in the doc without the code, a default added to the code and not
documented, or a documented key the code lacks: each fails a test below.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from healthkiosk import readings
from healthkiosk.rules import RulesConfig
from healthkiosk.rules.config import PROFILES

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs/clinical.md"

KEY_HEADER = ["key", "default", "unit", "source"]
PLANNED_HEADER = ["planned key", "default", "unit", "source"]
BAND_HEADER = ["band", "systolic from", "diastolic from", "guideline's name"]
UNIT_CONSTANTS = ("MG_PER_DL_PER_MMOL_PER_L", "KPA_TO_MMHG", "KG_PER_LB", "M_PER_IN")

Value = int | float | str | tuple[int | float, ...] | None


def _tables(text: str) -> Iterator[tuple[list[str], list[list[str]]]]:
    """Every Markdown table (header, rows), rows without the --- line; indented ones too."""
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        stripped = line.strip()
        if stripped.startswith("|"):
            block.append(stripped)
            continue
        if len(block) >= 2:
            cells = [[c.strip() for c in row.strip("|").split("|")] for row in block]
            yield cells[0], cells[2:]
        block = []


def _number(cell: str) -> int | float:
    return float(cell) if "." in cell else int(cell)


def _value(cell: str) -> Value:
    """``90`` → 90, ``0.15`` → 0.15, ``70, 300`` → (70, 300), a backticked word → str, — → None."""
    if cell in ("—", "-"):
        return None
    if cell.startswith("`") and cell.endswith("`"):
        return cell[1:-1]
    if "," in cell:
        return tuple(_number(part.strip()) for part in cell.split(","))
    return _number(cell)


def _key(cell: str) -> str:
    assert cell.startswith("`") and cell.endswith("`"), f"a key is written in backticks: {cell}"
    return cell[1:-1]


def _rows(header: list[str]) -> list[list[str]]:
    rows = [r for h, body in _tables(DOC.read_text(encoding="utf-8")) if h == header for r in body]
    for row in rows:
        assert len(row) == len(header), f"row with {len(row)} cells: {row}"
    return rows


def doc_defaults() -> dict[str, Value]:
    out: dict[str, Value] = {}
    for row in _rows(KEY_HEADER):
        key = _key(row[0])
        assert key not in out, f"{key} is documented twice"
        out[key] = _value(row[1])
    return out


def doc_bands() -> dict[str, tuple[Value, Value, Value]]:
    out: dict[str, tuple[Value, Value, Value]] = {}
    for row in _rows(BAND_HEADER):
        key = _key(row[0])
        assert key not in out, f"{key} is documented twice"
        out[key] = (_value(row[1]), _value(row[2]), _value(row[3]))
    return out


def _flatten(prefix: str, value: object, out: dict[str, Value]) -> None:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _flatten(f"{prefix}.{name}", getattr(value, name), out)
    elif value is None:
        return  # no default (rules.blood_pressure.bands, given only with profile "custom")
    else:
        assert isinstance(value, int | float | str | tuple), f"{prefix}: {value!r}"
        out[prefix] = value


def code_defaults() -> dict[str, Value]:
    out: dict[str, Value] = {}
    _flatten("rules", RulesConfig(), out)
    for name in UNIT_CONSTANTS:
        out[f"healthkiosk.readings.{name}"] = getattr(readings, name)
    return out


def code_bands() -> dict[str, tuple[Value, Value, Value]]:
    return {
        f"{profile}.{band.category}": (band.systolic_min, band.diastolic_min, band.label)
        for profile, bands in PROFILES.items()
        for band in bands
    }


def _same(doc: Value, code: Value) -> bool:
    if isinstance(code, tuple) or isinstance(doc, tuple):
        return (
            isinstance(code, tuple)
            and isinstance(doc, tuple)
            and len(code) == len(doc)
            and all(_same(d, c) for d, c in zip(doc, code, strict=True))
        )
    if isinstance(code, str) or isinstance(doc, str):
        return doc == code
    if code is None or doc is None:
        return doc is code
    return float(doc) == float(code)


def test_the_doc_has_the_tables() -> None:
    # A renamed header would silently empty a table: the counts below are the doc's shape.
    assert len(doc_defaults()) >= 45
    assert len(doc_bands()) == 12
    assert len(_rows(PLANNED_HEADER)) >= 2  # the waist: no device measures it yet


def test_every_code_default_is_documented_and_nothing_else() -> None:
    doc, code = doc_defaults(), code_defaults()
    assert sorted(set(code) - set(doc)) == [], "defaults in the code missing from the doc"
    assert sorted(set(doc) - set(code)) == [], "keys in the doc the code does not have"


@pytest.mark.parametrize("key", sorted(code_defaults()))
def test_documented_default_equals_code(key: str) -> None:
    doc, code = doc_defaults(), code_defaults()
    assert key in doc, f"{key} is not in docs/clinical.md"
    assert _same(doc[key], code[key]), f"{key}: the doc says {doc[key]!r}, the code {code[key]!r}"


def test_profile_bands_equal_code() -> None:
    doc, code = doc_bands(), code_bands()
    assert sorted(doc) == sorted(code)
    for key, want in code.items():
        got = doc[key]
        assert all(_same(g, w) for g, w in zip(got, want, strict=True)), f"{key}: {got} vs {want}"


def test_planned_rules_are_not_in_the_code_yet() -> None:
    """A planned number that the code now has must move into a key table and be compared."""
    code = code_defaults()
    for row in _rows(PLANNED_HEADER):
        key = _key(row[0])
        assert isinstance(_value(row[1]), int | float), f"{key}: {row[1]} is not a number"
        assert key not in code, f"{key} is in the code now: move its row into a key table"


def _source_tags() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    sources = text.split("\n## Sources\n", 1)[1]
    return set(re.findall(r"^- \*\*\[([A-Z0-9]+)\]\*\*", sources, flags=re.MULTILINE))


def test_every_number_names_a_defined_source() -> None:
    defined = _source_tags()
    for row in _rows(KEY_HEADER) + _rows(PLANNED_HEADER):
        tags = re.findall(r"\[([A-Z0-9]+)\]", row[3])
        assert tags, f"{row[0]} has no source"
        assert set(tags) <= defined, f"{row[0]}: {set(tags) - defined} not under Sources"


TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".ini", ".cfg", ".sh", ".html", ".service"}


def _references() -> Iterator[tuple[Path, int, str]]:
    """Every line of the repository's text files that names the clinical rules file.

    The files git tracks, and new ones it does not ignore (build outputs and
    virtual environments are not the project's words)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    for name in sorted(listed):
        path = ROOT / name
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if re.search(r"clinical\.md", line):
                yield path.relative_to(ROOT), n, line


def test_every_reference_points_at_docs_clinical_md() -> None:
    bad = [
        f"{rel}:{n}: {line.strip()}"
        for rel, n, line in _references()
        if re.search(r"(?<!docs/)clinical\.md", line)
    ]
    assert bad == [], "write docs/clinical.md"


def test_cited_sections_exist() -> None:
    """A reference of the form docs/clinical.md + comma + quoted heading names a real heading."""
    headings = {
        m.group(1).strip()
        for m in re.finditer(r"^#+ (.+)$", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    }
    cited = {
        (f"{rel}:{n}", m.group(1))
        for rel, n, line in _references()
        for m in re.finditer(r'docs/clinical\.md, "([^"]+)"', line)
    }
    assert cited, "no section reference found: the pattern is stale"
    assert [(where, h) for where, h in sorted(cited) if h not in headings] == []
