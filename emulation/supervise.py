"""A small supervisor for the demo: runs the parts as child processes and
stops them all, cleanly, on Ctrl-C or when one of them dies.

Each child runs in its own process group (so a Ctrl-C reaches only us, and
we stop them in order) and gets SIGKILL from the kernel if this process dies
without cleaning up (``PR_SET_PDEATHSIG``), so nothing is left running.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    os.setpgid(0, 0)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux/glibc: the process group still lets us stop it
        pass


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                list(self.argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                preexec_fn=_child_setup,  # noqa: PLW1509 - needed for PDEATHSIG
            )
        finally:
            out.close()
        log.info("started %s (pid %d), log %s", self.name, self.proc.pid, self.log_path)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s: killing it", self.name, timeout_s)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Supervisor:
    """Start children in order; stop them in reverse order, whatever happens."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(self, child: Child) -> Child:
        self.children.append(child)
        child.start()
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop()

    def watch(self, *, poll_s: float = 0.5) -> str:
        """Block until a child exits; return its name. Ctrl-C propagates."""
        while True:
            for child in self.children:
                if not child.running():
                    return child.name
            time.sleep(poll_s)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        # Ctrl-C while stopping must not leave children behind.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.stop_all()
        finally:
            signal.signal(signal.SIGINT, previous)
