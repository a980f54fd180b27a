"""A small embedded MQTT v5 broker for ``healthkiosk demo`` when Mosquitto is
not installed. Demo only: loopback, anonymous, in memory (see broker.py)."""
