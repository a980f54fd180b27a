"""The station's clock state in its status (``hk.status/1`` clock fields)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from healthkiosk.clocktrust import ClockState, ClockTrust
from healthkiosk.config import Config, from_mapping
from management.station import StationManagement
from sync.schema import StatusMessage


@dataclass
class _Link:
    """What status_fields needs of the link."""

    cfg: Config
    generation: int = 0

    def apply_config(self, cfg: Config) -> int:
        return 0

    def request_reconnect(self) -> None:
        pass

    async def resync(self) -> int:
        return 0

    def last_error(self) -> str | None:
        return None


def test_the_status_says_whether_the_clock_is_synchronised_and_asks_afresh(
    tmp_path: Path,
) -> None:
    answers = iter(
        [
            ClockState(False, "adjtimex", 16.0),
            ClockState(True, "adjtimex", 0.02, datetime(2026, 3, 1, 8, tzinfo=UTC)),
        ]
    )
    cfg = from_mapping({"station": {"id": "st-clock", "data_dir": str(tmp_path)}})
    mgmt = StationManagement(_Link(cfg), clock_trust=ClockTrust(ask=lambda: next(answers)))
    first = mgmt.status_fields()
    assert (first["clock_synced"], first["clock_source"], first["clock_max_error_s"]) == (
        False,
        "adjtimex",
        16.0,
    )
    second = StatusMessage(
        station_id="st-clock", online=True, boot_id="b", seq=1, **mgmt.status_fields()
    )
    assert second.clock_synced is True and second.clock_max_error_s == 0.02
    assert second.clock_last_sync == datetime(2026, 3, 1, 8, tzinfo=UTC)


def test_a_station_with_a_real_time_clock_says_so_by_configuration(tmp_path: Path) -> None:
    cfg = from_mapping({"station": {"data_dir": str(tmp_path), "clock": "trusted"}})
    fields = StationManagement(_Link(cfg)).status_fields()
    assert (fields["clock_synced"], fields["clock_source"]) == (True, "config")
