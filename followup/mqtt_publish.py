"""A one-shot MQTT publisher for alerts, for when no ingest client is at hand.

It connects, publishes at QoS 1 and disconnects, in a worker thread with a
timeout. When the ingest process owns an MQTT client, pass its publish
function to :func:`followup.alerts.deliver` instead.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from healthkiosk.config import MqttConfig


def make_publisher(cfg: MqttConfig, *, client_id: str = "", timeout: float = 10.0) -> Any:
    """An async ``publish(topic, payload)`` for :mod:`followup.alerts`."""

    def _send(topic: str, payload: bytes) -> None:
        from paho.mqtt import publish

        auth = None
        if cfg.username:
            password = cfg.password
            if cfg.password_file is not None:
                password = cfg.password_file.read_text().strip()
            auth = {"username": cfg.username, "password": password}
        tls = None
        if cfg.tls_ca is not None:
            tls = {"ca_certs": str(cfg.tls_ca), "tls_version": ssl.PROTOCOL_TLS_CLIENT}
            if cfg.tls_cert is not None:
                tls.update(certfile=str(cfg.tls_cert), keyfile=str(cfg.tls_key or ""))
        publish.single(
            topic,
            payload,
            qos=1,
            hostname=cfg.host,
            port=cfg.port,
            client_id=client_id,
            keepalive=cfg.keepalive_s,
            auth=auth,  # type: ignore[arg-type]
            tls=tls,  # type: ignore[arg-type]
        )

    async def _publish(topic: str, payload: bytes) -> None:
        await asyncio.wait_for(asyncio.to_thread(_send, topic, payload), timeout)

    return _publish
