"""Wall time of ``healthkiosk --help`` against a bare ``python -c pass``.

The CLI imports only argparse and the command modules at start (heavy
imports live inside the handlers), so ``--help`` should cost little more
than the interpreter's own start-up.

    python bench/cli_help.py [-n RUNS]

Prints the median (and min/max) of N runs of each, in milliseconds, and the
modules ``healthkiosk --help`` imported that it should not (Kivy, bleak,
SQLAlchemy, paho, pydantic).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = (
    "kivy",
    "bleak",
    "bumble",
    "sqlalchemy",
    "alembic",
    "paho",
    "pydantic",
    "serial",
    "starlette",
)


def wall_times(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return times


def heavy_imports() -> list[str]:
    code = (
        "import sys, contextlib, io\n"
        "from healthkiosk.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True
    )
    return sorted({m.split(".")[0] for m in out.stdout.split()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=15)
    args = parser.parse_args()

    help_cmd = [sys.executable, "-m", "healthkiosk", "--help"]
    bare_cmd = [sys.executable, "-c", "pass"]
    wall_times(help_cmd, 2)  # warm the file cache and the bytecode
    rows = [
        ("python -c pass", wall_times(bare_cmd, args.runs)),
        ("healthkiosk --help", wall_times(help_cmd, args.runs)),
    ]
    print(f"{'command':22} {'median ms':>10} {'min':>8} {'max':>8}   ({args.runs} runs)")
    for name, times in rows:
        print(f"{name:22} {statistics.median(times):10.1f} {min(times):8.1f} {max(times):8.1f}")
    extra = statistics.median(rows[1][1]) - statistics.median(rows[0][1])
    print(f"healthkiosk --help costs {extra:.1f} ms over a bare interpreter")
    heavy = heavy_imports()
    print(f"heavy modules imported by --help: {', '.join(heavy) if heavy else 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
