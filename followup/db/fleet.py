"""What stations report about fleet management, and the commands sent to them.

- ``station_config_reports``: every ``hk.config-report/1`` a station sent
  (applied, rejected, reverted), one row per distinct report; the latest per
  station is the one with the newest ``at``.
- ``station_update_reports``: every step an ``hk.update-report/1`` reported
  (the retained message is the latest step; the rows are the history).
- ``station_commands``: each ``hk.command/1`` an administrator issued, with its
  ``hk.command-result/1`` once the station answers (``output`` as the station
  sent it: already masked).

Reports are keyed so that the same message delivered again (a retained report
after every reconnect, several ingest workers each subscribed) adds nothing.
The rollouts themselves are another module's tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from followup.db.base import Base


class StationConfigReport(Base):
    __tablename__ = "station_config_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[str] = mapped_column(String(63))
    at: Mapped[datetime]
    """The station's clock when it decided."""
    outcome: Mapped[str] = mapped_column(String(16))
    group_version: Mapped[int | None]
    station_version: Mapped[int | None]
    running_group_version: Mapped[int | None]
    running_station_version: Mapped[int | None]
    reason: Mapped[str] = mapped_column(Text, default="")
    restart_needed: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime]
    dedup_key: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the report's canonical JSON (with ``station_id`` and ``at``)."""

    __table_args__ = (
        UniqueConstraint("station_id", "dedup_key", name="uq_station_config_reports_dedup"),
        Index("ix_station_config_reports_station_at", "station_id", "at"),
    )


class StationUpdateReport(Base):
    __tablename__ = "station_update_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[str] = mapped_column(String(63))
    at: Mapped[datetime]
    rollout_id: Mapped[str] = mapped_column(String(200), default="")
    release: Mapped[int | None]
    running_release: Mapped[int | None]
    step: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime]
    dedup_key: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("station_id", "dedup_key", name="uq_station_update_reports_dedup"),
        Index("ix_station_update_reports_station_at", "station_id", "at"),
    )


class StationCommand(Base):
    __tablename__ = "station_commands"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """The command's UUID: the station's result names it."""
    station_id: Mapped[str] = mapped_column(String(63))
    command: Mapped[str] = mapped_column(String(16))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    issued_by: Mapped[str] = mapped_column(String(64), default="")
    published_at: Mapped[datetime | None]
    publish_error: Mapped[str | None] = mapped_column(Text)
    result_ok: Mapped[bool | None]
    result_detail: Mapped[str | None] = mapped_column(Text)
    result_output: Mapped[str | None] = mapped_column(Text)
    result_at: Mapped[datetime | None]
    """The station's clock when it answered."""
    result_received_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_station_commands_station_issued", "station_id", "issued_at"),)


class StationDayCount(Base):
    """One station's day as its daily ``hk.counts/1`` reported it, beside what the
    doctor's side had stored for that station and day (UTC, by the station's own
    time of each reading) when the report came in. ``differs``: the fleet page's
    alert (held, acknowledged and stored are not all equal)."""

    __tablename__ = "station_day_counts"

    station_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    held: Mapped[int]
    acknowledged: Mapped[int]
    stored: Mapped[int]
    reported_at: Mapped[datetime]
    compared_at: Mapped[datetime]
    differs: Mapped[bool]

    __table_args__ = (Index("ix_station_day_counts_differs", "differs", "station_id"),)


class HelpCallRow(Base):
    """A station's call for staff (``hk.help/1``, issue 16), until someone
    acknowledges it: at the station (the kiosk sends the call again,
    acknowledged) or on the web (a button, audited, sent to the station as the
    command ``help_ack``). The first acknowledgement wins."""

    __tablename__ = "help_calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """The call's UUID (the station's)."""
    station_id: Mapped[str] = mapped_column(String(63))
    reason: Mapped[str] = mapped_column(String(16))
    """``urgent_result`` or ``staff_call``."""
    screen: Mapped[str] = mapped_column(String(40))
    """The kiosk screen it came from."""
    detail: Mapped[str] = mapped_column(String(80), default="")
    called_at: Mapped[datetime]
    """The station's clock."""
    received_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str] = mapped_column(String(200), default="")
    acknowledged_where: Mapped[str | None] = mapped_column(String(8))
    """``station`` or ``web``."""
    ack_command_id: Mapped[str | None] = mapped_column(String(36))
    """The ``help_ack`` command sent to the station (acknowledged on the web)."""
    station_knows_at: Mapped[datetime | None]
    """When the station said it has the acknowledgement (its call, sent again)."""

    __table_args__ = (
        Index("ix_help_calls_open", "acknowledged_at", "called_at"),
        Index("ix_help_calls_station_called", "station_id", "called_at"),
    )
