"""Run a service's main coroutine until SIGTERM or SIGINT, then stop cleanly.

systemd stops a unit with SIGTERM; a person at a terminal presses Ctrl-C.
Either cancels the running task, so ``finally`` blocks (a last status, the
store closed, STOPPING=1) run as for any cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_until_signalled(main: Awaitable[None], *, name: str = "service") -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:  # pragma: no cover (always called inside a task)
        raise RuntimeError("run_until_signalled needs a running task")
    for sig in SIGNALS:
        loop.add_signal_handler(sig, task.cancel)
    try:
        await main
    except asyncio.CancelledError:
        log.info("%s stopping", name)
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
