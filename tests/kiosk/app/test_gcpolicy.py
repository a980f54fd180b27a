"""The kiosk's idle garbage collection: freezes survivors, leaks nothing."""

from __future__ import annotations

import gc
import weakref

from kiosk.app.gcpolicy import collect_when_idle


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> tuple[_Node, weakref.ref[_Node]]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


def test_survivors_are_frozen_so_collections_during_a_visit_skip_them() -> None:
    try:
        collect_when_idle()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_garbage_frozen_in_one_visit_is_collected_at_the_next_idle_moment() -> None:
    try:
        node, ref = _cycle()
        collect_when_idle()  # the cycle is alive: frozen with the rest
        del node
        gc.collect()  # a collection during a visit does not see frozen objects
        assert ref() is not None
        collect_when_idle()  # the next idle moment unfreezes first
        assert ref() is None
    finally:
        gc.unfreeze()
