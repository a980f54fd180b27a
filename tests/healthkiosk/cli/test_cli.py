"""The command line stays light: ``--help`` imports none of the heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HEAVY = ("kivy", "bleak", "bumble", "sqlalchemy", "alembic", "paho", "pydantic", "serial")


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from healthkiosk.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "assert 'store' in out.getvalue()\n"
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ""


def test_store_group_lists_its_actions() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "healthkiosk", "store", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 0
    for action in ("export", "import", "stats", "check", "purge"):
        assert action in res.stdout
