"""Check-in with a QR code (an elder service card), where a scanner is configured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from drivers.qrcode.scan_codec import DEFAULT_PATTERNS, compile_patterns
from drivers.qrcode.scanner import to_card_data
from emulation.qrcode.scanner import SAMPLE_ID
from healthkiosk.errors import DeviceConnectionError, DeviceTimeoutError, IdNumberError
from healthkiosk.readings import DeviceInfo, IdCardData, Transport
from kiosk.flow import Devices, FakeClock
from kiosk.flow.state import Screen
from kiosk.flow.visit import VisitFlow
from kiosk.prompts import checkin_key
from tests.support.fake_devices import (
    FakeBloodPressureMonitor,
    FakeGlucoseMeter,
    FakeIdCardReader,
    demo_card,
)
from tests.support.flowkit import MemoryRecorder, make_rules

PATTERNS = compile_patterns(DEFAULT_PATTERNS)


class FakeScanner:
    """The QR scanner at the hardware boundary: a queue of scans (or errors)."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._scans: asyncio.Queue[IdCardData | Exception] = asyncio.Queue()
        self.info = DeviceInfo(model="QR code scanner", transport=Transport.SERIAL)

    def scan(self, code: str) -> None:
        try:
            self._scans.put_nowait(to_card_data(code, PATTERNS))
        except IdNumberError as err:
            self._scans.put_nowait(err)

    def fail(self, err: Exception) -> None:
        self._scans.put_nowait(err)

    async def read_card(self, *, timeout_s: float = 60.0) -> IdCardData:
        getter = asyncio.ensure_future(self._scans.get())
        sleeper = asyncio.ensure_future(self._clock.sleep(timeout_s))
        try:
            done, _ = await asyncio.wait({getter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            if not getter.done():
                getter.cancel()
        if getter not in done:
            raise DeviceTimeoutError("nothing scanned", reason="no_card")
        item = getter.result()
        if isinstance(item, Exception):
            raise item
        return item

    async def close(self) -> None:
        pass


@dataclass
class Kit:
    flow: VisitFlow
    clock: FakeClock
    scanner: FakeScanner
    reader: FakeIdCardReader
    recorder: MemoryRecorder


@pytest.fixture
async def kit() -> AsyncIterator[Kit]:
    from healthkiosk.config import KioskConfig

    clock = FakeClock()
    scanner = FakeScanner(clock)
    reader = FakeIdCardReader(clock=clock)
    recorder = MemoryRecorder()
    flow = VisitFlow(
        config=KioskConfig(),
        rules=make_rules(),
        devices=Devices(
            blood_pressure=FakeBloodPressureMonitor(clock=clock),
            glucose=FakeGlucoseMeter(clock=clock),
            id_card=reader,
            qr_code=scanner,  # type: ignore[arg-type]
        ),
        recorder=recorder,
        clock=clock,
        version="test",
    )
    recorder.flow = flow
    task = asyncio.create_task(flow.run())
    await clock.settle()
    yield Kit(flow, clock, scanner, reader, recorder)
    flow.close()
    await clock.advance(1)
    await asyncio.wait_for(task, 5)


async def test_a_scanned_service_card_checks_in_with_the_name_the_store_knows(kit: Kit) -> None:
    kit.recorder.names[SAMPLE_ID] = "李秀英"
    kit.flow.start_checkin()
    await kit.clock.settle()
    st = kit.flow.state
    assert st.screen is Screen.CHECKIN and st.qr_reader and st.card_reader
    assert checkin_key(st) == "checkin.qr"
    kit.scanner.scan(f"https://elder.example.cn/card?idno={SAMPLE_ID}")
    await kit.clock.advance(0.2)
    st = kit.flow.state
    assert st.screen is Screen.CONFIRM and st.resident is not None
    assert st.resident.name == "李秀英"
    assert st.resident.masked_id.endswith(SAMPLE_ID[-4:]) and SAMPLE_ID not in repr(st)
    assert not st.qr_reader


async def test_a_code_without_an_id_number_says_so_and_waits_for_another(kit: Kit) -> None:
    kit.flow.start_checkin()
    await kit.clock.settle()
    kit.scanner.scan("https://example.cn/promo?id=12345")
    await kit.clock.advance(0.2)
    assert kit.flow.state.screen is Screen.CHECKIN
    assert kit.flow.state.keypad_error == "code_unreadable"
    wrong = SAMPLE_ID[:-1] + ("0" if SAMPLE_ID[-1] != "0" else "1")
    kit.scanner.scan(f"idno={wrong}")  # a bad check digit is refused the same way
    await kit.clock.advance(0.2)
    assert kit.flow.state.screen is Screen.CHECKIN
    kit.scanner.scan(SAMPLE_ID)
    await kit.clock.advance(0.2)
    assert kit.flow.state.screen is Screen.CONFIRM
    assert kit.flow.state.resident is not None and kit.flow.state.resident.name is None


async def test_an_unplugged_scanner_leaves_the_card_and_keypad_working(kit: Kit) -> None:
    kit.flow.start_checkin()
    await kit.clock.settle()
    kit.scanner.fail(DeviceConnectionError("unplugged", device="QR code scanner"))
    await kit.clock.advance(0.2)
    st = kit.flow.state
    assert st.screen is Screen.CHECKIN and not st.qr_reader and st.card_reader
    assert checkin_key(st) == "checkin.card"
    kit.reader.present(demo_card())
    await kit.clock.advance(0.2)
    assert kit.flow.state.screen is Screen.CONFIRM


async def test_a_card_first_and_a_late_scan_do_not_check_in_twice(kit: Kit) -> None:
    kit.flow.start_checkin()
    await kit.clock.settle()
    kit.reader.present(demo_card())
    await kit.clock.advance(0.2)
    assert kit.flow.state.screen is Screen.CONFIRM
    kit.scanner.scan(SAMPLE_ID)
    await kit.clock.advance(0.2)
    st = kit.flow.state
    assert st.screen is Screen.CONFIRM and st.resident is not None
    assert st.resident.masked_id.endswith(demo_card().id_number[-4:])
