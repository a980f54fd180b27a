"""The station's own alert (issue 16): the staff lamp through its tool (a fake
``pinctrl`` at the hardware boundary), the chime, and the calls file the
kiosk app shares with kiosk-sync."""

from __future__ import annotations

import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from healthkiosk.config import KioskConfig
from kiosk.flow.ports import HelpAck, HelpCallRecord
from kiosk.helpdesk import FileHelpDesk
from kiosk.staffalert import GpioLamp, NoLamp, StationAlert, lamp_from
from kiosk.voice import Voice, chime_wav
from sync import helpfile

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def fake_pinctrl(tmp_path: Path, *, exit_code: int = 0) -> tuple[Path, Path]:
    """A stand-in for Raspberry Pi OS's pinctrl that appends its arguments to a file."""
    log = tmp_path / "pins.log"
    tool = tmp_path / "pinctrl"
    tool.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"sys.exit({exit_code})\n"
    )
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return tool, log


def test_the_lamp_is_lit_and_put_out_through_its_tool(tmp_path: Path) -> None:
    tool, log = fake_pinctrl(tmp_path)
    cfg = KioskConfig(staff_lamp_gpio=17, staff_lamp_tool=str(tool))
    lamp = lamp_from(cfg)
    assert isinstance(lamp, GpioLamp)
    voice = Voice(enabled=False, volume=0.0, pack=None, player="no-such-player")
    alert = StationAlert(voice, lamp)
    alert.alert()
    alert.clear()
    assert log.read_text().splitlines() == ["set 17 op dh", "set 17 op dl"]
    assert voice.chimes == 1  # chimes even with the voice off
    # A relay board switched by a low pin.
    low = GpioLamp(5, active_low=True, tool=str(tool))
    low.set(True)
    assert log.read_text().splitlines()[-1] == "set 5 op dl"


def test_no_lamp_configured_and_a_failing_lamp_never_raise(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(lamp_from(KioskConfig()), NoLamp)
    tool, _ = fake_pinctrl(tmp_path, exit_code=3)
    broken = GpioLamp(17, tool=str(tool))
    broken.set(True)
    broken.set(False)
    GpioLamp(17, tool=str(tmp_path / "missing")).set(True)
    assert sum("exited 3" in r.message for r in caplog.records) == 1  # said once


def test_the_chime_is_a_wav() -> None:
    data = chime_wav()
    assert data[:4] == b"RIFF" and len(data) > 10_000


async def test_the_file_help_desk_round_trip(tmp_path: Path) -> None:
    desk = FileHelpDesk(tmp_path, now=lambda: AT)
    call = HelpCallRecord("6f1c3c9e-4d1e-4a55-9a43-6f3c1d2b7a10", "staff_call", "error",
                          "device_timeout", AT)  # fmt: skip
    await desk.call(call)
    (kept,) = helpfile.read_calls(helpfile.calls_path(tmp_path))
    assert (kept.id, kept.screen, kept.detail, kept.acknowledged_at) == (
        call.id, "error", "device_timeout", None
    )  # fmt: skip
    assert await desk.web_acks() == []
    helpfile.add_ack(
        helpfile.acks_path(tmp_path), helpfile.AckRecord(call=call.id, at=AT, by="dr-li"), now=AT
    )
    (web,) = await desk.web_acks()
    assert (web.call, web.by, web.where) == (call.id, "dr-li", "web")
    await desk.acknowledge(HelpAck(call.id, AT + timedelta(minutes=1), "dr-li", "web"))
    (done,) = helpfile.read_calls(helpfile.calls_path(tmp_path))
    assert done.acknowledged_where == "web" and done.acknowledged_by == "dr-li"
    assert done.message("st-01").acknowledged_at == AT + timedelta(minutes=1)
