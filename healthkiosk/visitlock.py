"""The "visit in progress" lock the kiosk holds and the updater respects.

The interface is one file (``<data_dir>/visit.lock`` by default) and
:func:`fcntl.flock` on it:

* the kiosk takes an **exclusive** lock when an elder checks in and releases it
  when the visit ends (:class:`VisitLock` as a context manager, or
  :meth:`VisitLock.begin` / :meth:`VisitLock.end`); if the kiosk crashes the
  kernel drops the lock, so no stale flag can block updates for ever;
* the updater takes the same exclusive lock (:func:`wait_for_no_visit`) before
  it switches and restarts anything, and holds it until the restart is done, so
  no visit can begin in the middle of a switch. While the updater holds it the
  kiosk's :meth:`VisitLock.begin` with ``wait=False`` returns False: the kiosk
  shows "updating, one moment" instead of starting a visit.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from healthkiosk.errors import UpdateError

if TYPE_CHECKING:
    from healthkiosk.config import Config


def path_for(config: Config) -> Path:
    """The station's visit lock file (``update.visit_lock``, default
    ``<data_dir>/visit.lock``): the kiosk, the updater and kiosk-sync agree."""
    return (config.update.visit_lock or config.data_dir / "visit.lock").expanduser()


class VisitLock:
    """An exclusive ``flock`` on the visit lock file; idempotent release."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def begin(self, *, wait: bool = False) -> bool:
        """Take the lock; with ``wait=False`` return False at once if it is taken."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o664)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        self._fd = fd
        return True

    def end(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> VisitLock:
        self.begin(wait=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end()


def visit_in_progress(path: Path) -> bool:
    """True while someone holds the lock (a probe; prefer :func:`wait_for_no_visit`)."""
    probe = VisitLock(path)
    if probe.begin(wait=False):
        probe.end()
        return False
    return True


def wait_for_no_visit(path: Path, *, timeout_s: float, poll_s: float = 0.5) -> VisitLock:
    """Wait until no visit is in progress and return the lock, now held by the caller."""
    lock = VisitLock(path)
    deadline = time.monotonic() + timeout_s
    while not lock.begin(wait=False):
        if time.monotonic() >= deadline:
            raise UpdateError(
                f"a visit has been in progress for {timeout_s:g} s; update postponed",
                reason="visit_in_progress",
            )
        time.sleep(poll_s)
    return lock
