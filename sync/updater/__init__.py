"""The station updater: signed releases in, a healthy running version out.

See docs/updates.md. :mod:`sync.updater.manifest` (format, signing, checks),
:mod:`~sync.updater.download` (bounded, resumable HTTP),
:mod:`~sync.updater.install` (versioned venvs, atomic ``current`` switch),
:mod:`~sync.updater.health` (READY reports, stability window),
:mod:`~sync.updater.visitlock` (the kiosk's visit-in-progress lock),
:mod:`~sync.updater.state` (the crash-safe state file) and
:mod:`~sync.updater.updater` (the steps). No Kivy here.
"""
