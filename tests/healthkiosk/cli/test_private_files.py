"""Finding 9 of issue 19: every command that makes data files makes them for its
own user only (0600, folders 0700), the demo's too: the follow-up database (full
ID numbers of residents), the station's store, their WAL files, the keys."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from emulation import demo
from tests.support.synckit import REPO


def _open_to_others(root: Path) -> list[str]:
    return [
        f"{p.relative_to(root)} {stat.filemode(p.stat().st_mode)}"
        for p in [root, *root.rglob("*")]
        if not p.is_symlink() and p.stat().st_mode & 0o077
    ]


def test_the_demo_data_and_the_databases_commands_make_are_private(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    root.mkdir(mode=0o700)
    layout = demo.DemoLayout(root=root, broker_port=18831, web_port=18081)
    demo.write_files(layout)
    demo.ensure_doctor(layout)  # `healthkiosk followup user add`: the follow-up database
    cfg = ["--config", str(layout.config_path)]
    for argv in (["store", "stats"], ["followup", "db", "upgrade"]):
        r = subprocess.run(
            [sys.executable, "-m", "healthkiosk", *cfg, *argv],
            cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
    made = {p.name for p in root.rglob("*")}
    assert {"followup.sqlite", "kiosk.sqlite"} <= made, made
    assert _open_to_others(root) == []
