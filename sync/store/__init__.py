"""The kiosk's local store: one SQLite file shared by the kiosk app and kiosk-sync."""

import logging

# Alembic logs at INFO on import and on every open ("setup plugin ...",
# "Context impl SQLiteImpl."): noise in the journal. sync.store.migrate logs
# the upgrades it actually makes. Set here, before anything imports alembic.
if logging.getLogger("alembic").level == logging.NOTSET:
    logging.getLogger("alembic").setLevel(logging.WARNING)
