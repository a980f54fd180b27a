"""No product module imports ``emulation`` (nor ``tests``): a station's install
does not have them. The one door is the CLI's ``healthkiosk/cli/emulation_hook.py``
(imported, lazily, by the CLI's command modules only).

The scan reads every product module's syntax tree: ``import emulation...``,
``from emulation... import``, and ``importlib.import_module``/``__import__``/
``find_spec`` given a name under ``emulation``. ``test_the_scan_finds_...``
shows it catches each form, so a product module that gains one fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("healthkiosk", "drivers", "sync", "management", "updater", "kiosk", "followup")
"""The packages a station or the doctor's side installs (the root pyproject's)."""
FORBIDDEN = ("emulation", "tests")
HOOK = "healthkiosk/cli/emulation_hook.py"
"""The one module allowed to import emulation (by a name it builds)."""
HOOK_MODULE = "healthkiosk.cli.emulation_hook"
DYNAMIC = {"import_module", "__import__", "find_spec"}


def _forbidden(name: str) -> bool:
    return any(name == top or name.startswith(top + ".") for top in FORBIDDEN)


def _dynamic_name(node: ast.Call) -> str | None:
    """The module name a dynamic import is given, as far as it is written out
    (an f-string counts by its literal start: ``f"emulation.{part}"``)."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called not in DYNAMIC or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values:
        first = arg.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def offences(source: str) -> list[str]:
    """Each import of emulation or tests in ``source``, and each import of the
    hook (checked against where it is allowed by the caller)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call):
            name = _dynamic_name(node)
            names = [name.rstrip(".")] if name else []
        for name in names:
            if _forbidden(name):
                found.append(f"line {node.lineno}: {name}")
            elif name == HOOK_MODULE or name.startswith(HOOK_MODULE + "."):
                found.append(f"line {node.lineno}: {HOOK_MODULE} (the hook)")
    return found


def product_modules() -> list[Path]:
    return sorted(p for pkg in PRODUCT for p in (ROOT / pkg).rglob("*.py"))


def test_no_product_module_imports_emulation_or_tests() -> None:
    modules = product_modules()
    # The scan saw the product, not an empty folder.
    assert {p.relative_to(ROOT).parts[0] for p in modules} == set(PRODUCT)
    assert len(modules) > 150 and ROOT / HOOK in modules
    bad = {}
    for path in modules:
        rel = path.relative_to(ROOT).as_posix()
        found = offences(path.read_text(encoding="utf-8"))
        if rel == HOOK:
            # Its own dynamic import of emulation.<part>, and nothing else.
            found = [f for f in found if not f.endswith(": emulation")]
        elif rel.startswith("healthkiosk/cli/"):
            # The CLI's command modules reach emulation through the hook only.
            found = [f for f in found if not f.endswith("(the hook)")]
        if found:
            bad[rel] = found
    assert bad == {}, f"product modules importing emulation/tests (or the hook): {bad}"


def test_the_hook_is_where_the_cli_finds_emulation() -> None:
    found = offences((ROOT / HOOK).read_text(encoding="utf-8"))
    assert found == [f"line {_line(HOOK, 'import_module(')}: emulation"]


def _line(rel: str, text: str) -> int:
    lines = (ROOT / rel).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize(
    "source",
    [
        "import emulation",
        "import emulation.twins as t",
        "from emulation import twins",
        "from emulation.ble.bumble_backend import BUMBLE",
        "def f():\n    from emulation.twins import Simulation",
        "import importlib\nimportlib.import_module('emulation.demo')",
        "from importlib import import_module\nimport_module('emulation')",
        "__import__('emulation.minibroker.broker')",
        "import importlib.util\nimportlib.util.find_spec('emulation')",
        "import importlib\npart = 'x'\nimportlib.import_module(f'emulation.{part}')",
        "from tests.support.fake_devices import FakeIdCardReader",
        "from healthkiosk.cli.emulation_hook import require_emulation",
    ],
)
def test_the_scan_finds_every_form_of_import(source: str) -> None:
    assert offences(source), source


@pytest.mark.parametrize(
    "source",
    [
        "import drivers.ble.link",
        "from kiosk.compose import open_devices",
        "x = 'emulation.twins'  # a name in a docstring or message is no import",
        "from .emulated import thing",
        "import emulations",
    ],
)
def test_the_scan_leaves_other_imports_alone(source: str) -> None:
    assert offences(source) == []
