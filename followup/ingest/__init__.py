"""The MQTT ingest: checking each message (pure), storing it, the worker that runs both."""
