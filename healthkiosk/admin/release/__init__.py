"""The administrator's side of software updates: build, sign and publish releases.

See docs/updates.md. The station side (verify, install, health check, roll
back) is :mod:`updater`; both share :mod:`updater.manifest`.
"""
