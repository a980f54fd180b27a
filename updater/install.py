"""Installing a verified bundle into its own directory, and switching to it.

Each release lives in ``<root>/releases/<release>-<version>/``, a virtual
environment of its own filled with ``pip install --no-index --find-links``
from the verified wheels only (pip's configuration files are ignored, so no
index or extra wheel directory can slip in). Bundles carry a pip wheel; the new
venv's interpreter runs pip from that wheel and installs pip too, so the
updater running from any release venv can install the next one (without a pip
wheel, the updater's own ``python -m pip --python <new venv>`` is used).
A release directory is complete only once its ``.installed`` marker exists;
an incomplete one (a killed install) is removed and made again.
``<root>/current`` is a symlink to the running release, switched atomically:
a new symlink under a temporary name, then :func:`os.replace` over the old one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from healthkiosk.atomicfile import fsync_dir, write_atomic
from healthkiosk.errors import UpdateError

MARKER = ".installed"
CURRENT = "current"
STABLE = "stable"
"""The last release that passed its health check: the updater's own units run from it."""


def is_installed(release_dir: Path) -> bool:
    return (release_dir / MARKER).is_file()


def install(
    release_dir: Path,
    *,
    wheels: list[Path],
    requirement: str,
    python: str = sys.executable,
    timeout_s: float = 900.0,
    midway: Callable[[], None] | None = None,
) -> None:
    """Create ``release_dir`` as a venv and install ``requirement`` from the ``wheels`` dirs."""
    if is_installed(release_dir):
        return
    if release_dir.exists() or release_dir.is_symlink():
        shutil.rmtree(release_dir)
    release_dir.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        env.pop(key, None)
    _run([python, "-m", "venv", "--without-pip", str(release_dir)], env=env, timeout_s=timeout_s)
    if midway is not None:
        midway()
    new_python = str(release_dir / "bin" / "python")
    options = [
        "install", "--no-index", "--no-cache-dir", "--only-binary=:all:",
        *(arg for d in wheels for arg in ("--find-links", str(d))),
    ]  # fmt: skip
    pip_wheels = sorted(p for d in wheels for p in d.glob("pip-*-py3-none-any.whl"))
    if pip_wheels:
        # The bundle's own pip, run from its wheel by the new interpreter, installs
        # the release and itself: every release venv can install the next one.
        cmd = [new_python, f"{pip_wheels[-1]}/pip", *options, requirement, "pip"]
    else:
        cmd = [python, "-m", "pip", "--python", new_python, *options, requirement]
    _run(cmd, env=env, timeout_s=timeout_s)
    write_atomic(release_dir / MARKER, requirement + "\n")


def _run(cmd: list[str], *, env: dict[str, str], timeout_s: float) -> None:
    try:
        proc = subprocess.run(
            cmd, check=False, env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise UpdateError(
            f"{cmd[2]} took longer than {timeout_s:g} s", reason="install_failed"
        ) from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise UpdateError(f"install failed: {' | '.join(tail)}", reason="install_failed")


def current_target(root: Path, *, link: str = CURRENT) -> str | None:
    """The directory name ``<root>/<link>`` points to, or None."""
    path = root / link
    if not path.is_symlink():
        return None
    return Path(os.readlink(path)).name


def switch(
    root: Path,
    release_dir_name: str,
    *,
    link: str = CURRENT,
    midway: Callable[[], None] | None = None,
) -> None:
    """Point ``<root>/<link>`` (``current``) at ``releases/<name>`` atomically."""
    target = Path("releases") / release_dir_name
    if not is_installed(root / target):
        raise UpdateError(f"{target} is not a complete installation", reason="install_incomplete")
    tmp = root / f".{link}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    if midway is not None:
        midway()
    os.replace(tmp, root / link)
    fsync_dir(root)
