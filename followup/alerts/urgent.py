"""Alerts for urgent readings: recorded once per reading, published, acknowledged.

Publishing goes through a callable (``publish(topic, payload) -> awaitable``)
so whichever component owns the MQTT connection (the ingest's client, or the
small one-shot publisher in :mod:`followup.alerts.publish`) can deliver it.
The payload names no person: the resident's record number and the reading.
An optional webhook (an SMS gateway) gets the same JSON by POST.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.db.alerts import Alert
from followup.db.models import Reading
from followup.db.status_store import VitalColumns, summarise
from healthkiosk.errors import HealthKioskError

log = logging.getLogger(__name__)

ALERT_TOPIC = "hk/v1/alerts/urgent"
SCHEMA = "hk.alert/1"
Publish = Callable[[str, bytes], Awaitable[None]]


def alert_payload(
    reading: Reading, *, raised_at: datetime, late_after: timedelta | None = None
) -> dict[str, Any]:
    """The alert message (JSON-ready); no name and no ID number.

    ``late``: the reading was made more than ``late_after`` before the alert
    (a backlog delivered late): still raised, so the gateway can say so.
    ``measured_at`` is the doctor's side's time of the reading (the arrival
    time where the station's clock was not synchronised: ``clock_synced`` false).
    """
    late = late_after is not None and raised_at - reading.measured_at > late_after
    return {
        "schema": SCHEMA,
        "reading_uuid": reading.uuid,
        "resident_id": reading.resident_id,
        "station_id": reading.station_id,
        "kind": reading.kind,
        "summary": summarise(
            reading.kind,
            reading.systolic_mmhg,
            reading.diastolic_mmhg,
            reading.glucose_mmol_per_l,
            reading.meal_context,
            reading.out_of_range,
            irregular_pulse=reading.irregular_pulse,
            event=reading.event,
            vitals=VitalColumns.of(reading),
        ),
        "measured_at": reading.measured_at.isoformat(),
        "raised_at": raised_at.isoformat(),
        "path": f"/residents/{reading.resident_id}",
        "late": late,
        "clock_synced": reading.clock_synced,
    }


def record_alerts(
    session: Session,
    uuids: Iterable[str],
    *,
    now: datetime,
) -> list[tuple[Alert, Reading]]:
    """Insert an alert for each urgent reading not yet alerted (idempotent).

    An urgent reading is never left without its alert for its age alone: a
    backlog delivered late, or a reading whose station's clock was wrong, still
    raises one (:func:`alert_payload` marks it late).
    """
    wanted = sorted(set(uuids))
    if not wanted:
        return []
    have = set(session.scalars(select(Alert.reading_uuid).where(Alert.reading_uuid.in_(wanted))))
    new: list[tuple[Alert, Reading]] = []
    for r in session.scalars(select(Reading).where(Reading.uuid.in_(wanted))):
        if r.uuid in have:
            continue
        a = Alert(
            reading_uuid=r.uuid,
            resident_id=r.resident_id,
            measured_at=r.measured_at,
            raised_at=now,
        )
        session.add(a)
        new.append((a, r))
    session.flush()
    return new


def post_json(url: str, body: bytes, timeout: float) -> int:
    req = urllib.request.Request(  # noqa: S310  (the URL is the operator's configuration)
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status)
    except urllib.error.HTTPError as err:
        err.close()  # it holds the response's socket, left open until collected
        raise


async def deliver(
    payload: dict[str, Any],
    *,
    publish: Publish | None,
    webhook_url: str | None,
    timeout_s: float = 10.0,
) -> tuple[bool, str | None, str | None]:
    """Publish to MQTT and POST to the webhook; returns (published, webhook status, error)."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    published, hook, error = False, None, None
    if publish is not None:
        try:
            await asyncio.wait_for(publish(ALERT_TOPIC, body), timeout_s)
            published = True
        except (TimeoutError, OSError, RuntimeError, HealthKioskError) as err:
            # HealthKioskError: e.g. PublishRefusedError (0x87, an ACL without the alert topic)
            error = f"mqtt: {err!r}"
            log.warning("alert %s not published: %r", payload["reading_uuid"], err)
    if webhook_url:
        try:
            code = await asyncio.wait_for(
                asyncio.to_thread(post_json, webhook_url, body, timeout_s), timeout_s + 1
            )
            hook = str(code)
        except (TimeoutError, OSError, ValueError) as err:
            hook = "failed"
            error = (error + "; " if error else "") + f"webhook: {err!r}"
            log.warning("alert %s webhook failed: %r", payload["reading_uuid"], err)
    return published, hook, error


def acknowledge(session: Session, resident_id: int, *, user_id: int, now: datetime) -> list[Alert]:
    """Acknowledge every open alert of a resident (a review or the list's button)."""
    alerts = list(
        session.scalars(
            select(Alert).where(Alert.resident_id == resident_id, Alert.acknowledged_at.is_(None))
        )
    )
    for a in alerts:
        a.acknowledged_at = now
        a.acknowledged_by = user_id
    return alerts
