"""An alert the broker refuses (v5 reason code, e.g. 0x87 from an ACL without the
alert topic) is reported as a delivery error, not raised out of the refresher."""

from __future__ import annotations

import asyncio

from followup.alerts.urgent import ALERT_TOPIC, deliver
from healthkiosk.errors import PublishRefusedError


def test_a_refused_alert_publish_is_a_delivery_error() -> None:
    async def refused(topic: str, payload: bytes) -> None:
        raise PublishRefusedError(
            "not authorized", topic=topic, reason_code=0x87, reason_name="Not authorized"
        )

    published, hook, error = asyncio.run(
        deliver({"reading_uuid": "u-1"}, publish=refused, webhook_url=None)
    )
    assert (published, hook) == (False, None)
    assert error is not None and error.startswith("mqtt: PublishRefusedError")
    assert ALERT_TOPIC == "hk/v1/alerts/urgent"
