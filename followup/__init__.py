"""The doctor's side: MQTT ingest → database → the follow-up list web app.

Depends on :mod:`sync.schema` (the wire messages) and the shared core
(:mod:`healthkiosk`) only.
"""
