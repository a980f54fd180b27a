"""The project's wheel, built offline from a copy of the tree, and a fresh venv holding it.

Built without build isolation (no index needed); the venv gets the wheel with
``--no-deps`` and finds the other dependencies through a ``.pth`` line naming
this venv's site-packages (whose editable installs are not activated that way:
only the wheel's packages are there).
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "artifacts", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
    ".hypothesis",
)  # fmt: skip


def build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE)
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(out), str(src)],
        check=True, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    (wheel,) = out.glob("healthkiosk-*.whl")
    return wheel


def venv_with(wheel: Path, root: Path) -> Path:
    """A fresh venv at ``root`` with ``wheel`` alone; returns its python."""
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    deps = "\n".join(site.getsitepackages())
    (Path(purelib) / "zz-dependencies.pth").write_text(deps + "\n", encoding="utf-8")
    return python
