"""Check-in: who is measured, from an ID card, a typed number or a QR code,
then "is this you?".

While the check-in screen shows, the card reader and the QR scanner (each if
present) wait for a card or code in tasks of their own, and the keypad takes
an 18-character ID number, checked as it is typed. A typed number or a code
carries the number only: the name, if known, is the store's. Confirming
starts the visit (its UUID) and fetches the trend's earlier readings.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from drivers.base import IdCardReader
from healthkiosk.errors import DeviceError, DeviceTimeoutError, IdNumberError
from healthkiosk.idnumber import parse
from healthkiosk.readings import IdCardData
from kiosk.flow.context import FlowContext
from kiosk.flow.ports import ResidentIdentity
from kiosk.flow.result import Results
from kiosk.flow.state import ResidentView, Screen

log = logging.getLogger(__name__)

CARD_WAIT_S = 30.0
"""One wait for a card; the reader is asked again while the check-in screen shows."""
NAME_WAIT_S = 10.0
ID_LENGTH = 18
KEYPAD_CHARS = frozenset("0123456789X")


class CheckIn:
    def __init__(self, ctx: FlowContext, results: Results) -> None:
        self._ctx = ctx
        self._results = results

    def start(self) -> None:
        """From the attract screen: the check-in screen, the readers waiting."""
        ctx = self._ctx
        if ctx.state.screen is not Screen.ATTRACT:
            return
        ctx.idle_from_now()
        if not ctx.gate.begin(wait=False):
            # The updater is switching releases: the kiosk restarts in a moment.
            log.info("visit not started: an update is being installed")
            ctx.show_error("updating")
            return
        card = ctx.devices.id_card is not None
        qr = ctx.devices.qr_code is not None
        ctx.update(screen=Screen.CHECKIN, card_reader=card, qr_reader=qr)
        if card:
            ctx.spawn(self._read_cards, "read-card")
        if qr:
            ctx.spawn(self._read_codes, "read-qr")

    # --- the keypad ------------------------------------------------------------

    def key(self, char: str) -> None:
        ctx = self._ctx
        st = ctx.state
        if st.screen is not Screen.CHECKIN:
            return
        ctx.touch()
        char = char.upper()
        if char not in KEYPAD_CHARS or len(st.keypad) >= ID_LENGTH:
            return
        if char == "X" and len(st.keypad) != ID_LENGTH - 1:
            ctx.update(keypad_error="id_x_position")
            return
        typed = st.keypad + char
        error: str | None = None
        valid = False
        if len(typed) == ID_LENGTH:
            try:
                parse(typed, today=ctx.clock.now().date())
                valid = True
            except IdNumberError as err:
                error = err.reason
        ctx.update(keypad=typed, keypad_error=error, keypad_valid=valid)

    def backspace(self) -> None:
        ctx = self._ctx
        st = ctx.state
        if st.screen is not Screen.CHECKIN:
            return
        ctx.touch()
        ctx.update(keypad=st.keypad[:-1], keypad_error=None, keypad_valid=False)

    def submit_id(self) -> None:
        ctx = self._ctx
        st = ctx.state
        if st.screen is not Screen.CHECKIN or not st.keypad_valid:
            return
        ctx.touch()
        number = parse(st.keypad, today=ctx.clock.now().date())
        ctx.spawn(lambda: self._submit(number.value), "known-name")

    async def _submit(self, id_number: str) -> None:
        ctx = self._ctx
        name = await asyncio.wait_for(ctx.recorder.known_name(id_number), NAME_WAIT_S)
        number = parse(id_number, today=ctx.clock.now().date())
        ctx.visit.identity = ResidentIdentity(
            id_number=number.value,
            masked_id=number.masked,
            name=name,
            sex=number.sex.value,
            birth_date=number.birth_date,
        )
        self._confirm_screen()

    # --- card reader and QR scanner -------------------------------------------

    async def _read_cards(self) -> None:
        reader = self._ctx.devices.id_card
        assert reader is not None
        card = await self._wait_for_id(
            reader, flag="card_reader", unreadable="card_unreadable", what="ID card reader"
        )
        if card is not None:
            self._card_read(card)

    async def _read_codes(self) -> None:
        scanner = self._ctx.devices.qr_code
        assert scanner is not None
        card = await self._wait_for_id(
            scanner, flag="qr_reader", unreadable="code_unreadable", what="QR scanner"
        )
        if card is not None:
            self._ctx.touch()
            await self._submit(card.id_number)

    async def _wait_for_id(
        self, reader: IdCardReader, *, flag: str, unreadable: str, what: str
    ) -> IdCardData | None:
        """A card (or code) read while the check-in screen shows; None once the
        screen has moved on or the reader failed (its ``flag`` then cleared). A
        card or code without a valid ID number says ``unreadable`` and waits again."""
        ctx = self._ctx
        while ctx.state.screen is Screen.CHECKIN:
            try:
                card = await reader.read_card(timeout_s=CARD_WAIT_S)
            except DeviceTimeoutError:
                continue
            except IdNumberError as err:
                log.info("%s: refused: %s", what, err.reason)
                if ctx.state.screen is Screen.CHECKIN:
                    ctx.update(keypad_error=unreadable)
                continue
            except DeviceError as err:
                log.warning("%s unavailable: %s (%s)", what, err.reason, reader.info.label)
                ctx.update(**{flag: False})
                return None
            return card if ctx.state.screen is Screen.CHECKIN else None
        return None

    def _card_read(self, card: IdCardData) -> None:
        ctx = self._ctx
        try:
            number = parse(card.id_number, today=ctx.clock.now().date())
        except IdNumberError:
            ctx.update(keypad_error="card_unreadable")
            ctx.spawn(self._read_cards, "read-card")
            return
        ctx.visit.identity = ResidentIdentity(
            id_number=number.value,
            masked_id=number.masked,
            name=card.name or None,
            sex=number.sex.value,
            birth_date=number.birth_date,
        )
        self._confirm_screen()

    # --- "is this you?" --------------------------------------------------------

    def _confirm_screen(self) -> None:
        ctx = self._ctx
        ident = ctx.visit.identity
        assert ident is not None
        ctx.idle_from_now()
        ctx.update(
            screen=Screen.CONFIRM,
            keypad="",
            keypad_error=None,
            keypad_valid=False,
            card_reader=False,
            qr_reader=False,
            resident=ResidentView(
                masked_id=ident.masked_id,
                name=ident.name,
                birth_year=ident.birth_date.year if ident.birth_date else 0,
                sex=ident.sex,
            ),
        )

    def confirm(self) -> None:
        """It is me: the visit begins, on to the choice."""
        ctx = self._ctx
        if ctx.state.screen is not Screen.CONFIRM:
            return
        ctx.touch()
        ctx.visit.uuid = str(uuid.uuid4())
        ctx.visit.history = None
        ctx.spawn(self._results.prefetch_history, "trend-history")
        ctx.update(screen=Screen.CHOOSE)

    def not_me(self) -> None:
        """Not me: check in afresh."""
        ctx = self._ctx
        if ctx.state.screen is not Screen.CONFIRM:
            return
        ctx.visit.identity = None
        ctx.update(screen=Screen.ATTRACT, resident=None)
        self.start()
