"""A one-shot MQTT publisher (urgent-reading alerts, the fleet page's commands).

Each call connects, publishes at QoS 1 (waiting for the broker's PUBACK and its
reason code) and disconnects, through the project's one MQTT transport
(:mod:`healthkiosk.mqtt`), with a timeout on every step. The broker binds each
account to one client id (docs/security.md), so the calls of one publisher
take turns: two at once would take over each other's connection. A process
makes one publisher per account and shares it (the web app: alerts and
commands). When a process owns a connection already, pass its publish
function to :func:`followup.alerts.urgent.deliver` instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from healthkiosk.config import MqttConfig


def make_publisher(
    cfg: MqttConfig, *, client_id: str = "", timeout: float = 10.0
) -> Callable[[str, bytes], Awaitable[None]]:
    """An async ``publish(topic, payload)`` (one connection at a time)."""
    turn = asyncio.Lock()

    async def _publish(topic: str, payload: bytes) -> None:
        from healthkiosk.mqtt import connect, settings_from

        settings = dataclasses.replace(
            settings_from(cfg, client_id=client_id or f"followup-alerts-{os.getpid()}"),
            clean_start=True,
            session_expiry_s=0,
            connect_timeout_s=timeout,
        )
        async with turn, connect(settings) as conn:
            await conn.publish(topic, payload, qos=1, timeout=timeout)

    return _publish
