"""The kiosk's local store: one SQLite file shared by the kiosk app and kiosk-sync."""
