"""Alembic migrations of the kiosk's store (run by :mod:`sync.store.migrate`)."""
