"""Urgent-reading alerts: recorded, published over MQTT and to the webhook, acknowledged."""
