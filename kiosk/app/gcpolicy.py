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

Start-up is the other moment nobody should wait for a collection: importing
Kivy, the drivers and SQLAlchemy allocates hundreds of thousands of
long-lived objects, and each allocation threshold crossed starts a
collection that walks them again (tens of ms on a Raspberry Pi). So the
service holds collections off from its first line to its first frame
(:func:`hold_until_first_frame`, :func:`first_frame_drawn`); the idle
collection after the first frame then collects and freezes all of it once.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def hold_until_first_frame() -> None:
    """No automatic collection until :func:`first_frame_drawn` (the service's
    start-up: imports and the first screen)."""
    gc.disable()


def first_frame_drawn() -> None:
    """The first frame is on screen: automatic collections again (the idle
    collection, scheduled by the app, follows)."""
    gc.enable()


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
