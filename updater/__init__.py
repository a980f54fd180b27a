"""The station updater: signed releases in, a healthy running version out.

See docs/updates.md. :mod:`updater.manifest` (format, signing, checks),
:mod:`~updater.download` (bounded, resumable HTTP),
:mod:`~updater.install` (versioned venvs, atomic ``current`` switch),
:mod:`~healthkiosk.health` (READY reports, stability window),
:mod:`~healthkiosk.visitlock` (the kiosk's visit-in-progress lock),
:mod:`~updater.state` (the crash-safe state file) and
:mod:`~updater.updater` (the steps). No Kivy here.
"""
