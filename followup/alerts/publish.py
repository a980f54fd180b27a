"""A one-shot MQTT publisher for alerts, for when no ingest client is at hand.

It connects, publishes at QoS 1 (waiting for the broker's PUBACK and its
reason code) and disconnects, through the project's one MQTT transport
(:mod:`healthkiosk.mqtt`), with a timeout on every step. When a process owns
a connection already, pass its publish function to
:func:`followup.alerts.urgent.deliver` instead.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from healthkiosk.config import MqttConfig


def make_publisher(
    cfg: MqttConfig, *, client_id: str = "", timeout: float = 10.0
) -> Callable[[str, bytes], Awaitable[None]]:
    """An async ``publish(topic, payload)`` for :mod:`followup.alerts.urgent`."""

    async def _publish(topic: str, payload: bytes) -> None:
        from healthkiosk.mqtt import connect, settings_from

        settings = dataclasses.replace(
            settings_from(cfg, client_id=client_id or f"followup-alerts-{os.getpid()}"),
            clean_start=True,
            session_expiry_s=0,
            connect_timeout_s=timeout,
        )
        async with connect(settings) as conn:
            await conn.publish(topic, payload, qos=1, timeout=timeout)

    return _publish
