"""When the garbage collector may pause the kiosk: between visits, not during one.

CPython's full (generation 2) collection walks every tracked object; with
Kivy's widget tree, textures and the drivers loaded that is tens of
milliseconds on a Raspberry Pi, and it fires whenever allocation counts say
so, for example while the result screen is being built. Measured with
``bench/kiosk.py`` before this policy: p50 30 ms but spikes of 80-270 ms at
the result screen, each one a generation-2 collection.

So the kiosk collects when nobody is waiting: once after start-up and each
time the visit is over (the attract screen), and then *freezes* what
survived (:func:`gc.freeze`): frozen objects are never walked again until the
next idle collection, so a collection during a visit only looks at what the
visit itself allocated. Nothing leaks: every idle collection unfreezes first,
so garbage made by the previous visit is collected then.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def collect_when_idle() -> float:
    """Full collection, then freeze the survivors; returns the time it took (s)."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    took = time.perf_counter() - started
    log.debug(
        "idle garbage collection: %.1f ms, %d objects frozen", took * 1000, gc.get_freeze_count()
    )
    return took
