"""The kiosk's local store and its MQTT link, and the wire schema both ends share.

``followup`` imports only :mod:`sync.schema` from here.
"""
