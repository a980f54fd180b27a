"""The visit as a plain-Python state machine (no Kivy import).

:class:`VisitFlow` takes its devices, its recorder and its clock from the
composition root (:mod:`kiosk.compose`); the app renders
:class:`State` snapshots.
"""

from kiosk.flow.clock import Clock, FakeClock, RealClock
from kiosk.flow.ports import CompletedReading, Devices, Recorder, ResidentIdentity, StoreStatus
from kiosk.flow.state import Screen, State
from kiosk.flow.visit import VisitFlow

__all__ = [
    "Clock",
    "CompletedReading",
    "Devices",
    "FakeClock",
    "RealClock",
    "Recorder",
    "ResidentIdentity",
    "Screen",
    "State",
    "StoreStatus",
    "VisitFlow",
]
