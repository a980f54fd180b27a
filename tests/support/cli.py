"""Running ``healthkiosk`` as a technician would: a subprocess of this tree's
code, without a configuration file unless one is given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.pop("HEALTHKIOSK_CONFIG", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "healthkiosk", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
