"""Staged software rollouts: one row per rollout, one per station in it.

Written by ``healthkiosk admin rollout ...`` and the rollout driver
(:mod:`followup.rollout.store`); read by the fleet page. ``rollouts.state`` is
:class:`followup.rollout.decisions.RolloutState`'s value (running, paused, completed,
stopped, aborted); ``rollout_stations.outcome`` is the station's latest
``hk.update-report/1`` outcome (waiting, in_progress, succeeded, failed,
rolled_back, refused), ``None`` before its first report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from followup.db.base import Base


class RolloutRow(Base):
    __tablename__ = "rollouts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    """``r<release>-<UTC time>``, also the orders' and reports' ``rollout_id``."""
    release: Mapped[int]
    version: Mapped[str] = mapped_column(String(63), default="")
    manifest_url: Mapped[str] = mapped_column(Text)
    group: Mapped[str | None] = mapped_column(String(63))
    """Only this group's stations (None: every registered station)."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    current_stage: Mapped[int] = mapped_column(default=0)
    """0-based index of the stage being rolled out (the fleet page shows it + 1)."""
    stages: Mapped[list[float]] = mapped_column(JSON)
    """The policy: fraction of the stations per stage."""
    success_threshold: Mapped[float]
    error_threshold: Mapped[float]
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    orders_cleared_at: Mapped[datetime | None]
    """When the driver cleared the retained orders of a stopped or aborted rollout."""
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RolloutStationRow(Base):
    __tablename__ = "rollout_stations"

    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id"), primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id"), primary_key=True)
    stage: Mapped[int]
    """0-based stage index."""
    position: Mapped[int]
    """Order within the rollout (canaries first)."""
    ordered_at: Mapped[datetime | None]
    """When its retained update order was published (PUBACK received)."""
    step: Mapped[str] = mapped_column(String(40), default="")
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    running_release: Mapped[int | None]
    reported_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    """When its final outcome (succeeded, failed, rolled_back, refused) arrived."""

    __table_args__ = (Index("ix_rollout_stations_station", "station_id"),)
