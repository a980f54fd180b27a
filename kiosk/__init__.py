"""The touch kiosk: a Kivy app rendering a visit flow it does not own.

The flow (check-in → measure → result) is a plain-Python state machine in
:mod:`kiosk.flow`; screens only show it.
"""
