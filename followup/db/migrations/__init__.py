"""Alembic migrations of the follow-up database (run by :mod:`followup.db.migrate`)."""
