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
from datetime import date

from drivers.base import IdCardReader
from healthkiosk.errors import DeviceError, DeviceTimeoutError, HealthKioskError, IdNumberError
from healthkiosk.idnumber import check_character, parse
from healthkiosk.readings import IdCardData
from kiosk.flow.context import FlowContext
from kiosk.flow.ports import KnownResident, ResidentIdentity
from kiosk.flow.result import Results
from kiosk.flow.state import ResidentView, Screen
from kiosk.slip.model import mask_name

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
        error = typed_problem(typed, today=ctx.clock.now().date())
        ctx.update(
            keypad=typed, keypad_error=error, keypad_valid=len(typed) == ID_LENGTH and not error
        )

    def backspace(self) -> None:
        ctx = self._ctx
        st = ctx.state
        if st.screen is not Screen.CHECKIN:
            return
        ctx.touch()
        typed = st.keypad[:-1]
        ctx.update(
            keypad=typed,
            keypad_error=typed_problem(typed, today=ctx.clock.now().date()),
            keypad_valid=False,
        )

    def clear(self) -> None:
        """Clear: start the number again."""
        ctx = self._ctx
        if ctx.state.screen is not Screen.CHECKIN:
            return
        ctx.touch()
        ctx.update(keypad="", keypad_error=None, keypad_valid=False)

    def submit_id(self) -> None:
        """OK: a whole valid number checks in; a short one says how many are missing."""
        ctx = self._ctx
        st = ctx.state
        if st.screen is not Screen.CHECKIN or not st.keypad:
            return
        ctx.touch()
        if len(st.keypad) < ID_LENGTH:
            ctx.update(keypad_error="id_length")
            return
        if not st.keypad_valid:
            return
        number = parse(st.keypad, today=ctx.clock.now().date())
        ctx.spawn(lambda: self._submit(number.value), "known-resident")

    async def _submit(self, id_number: str, name: str | None = None) -> None:
        """Who this is, as far as this station knows them, then "is this you?"."""
        ctx = self._ctx
        number = parse(id_number, today=ctx.clock.now().date())
        known: KnownResident | None = None
        returning: bool | None = None
        try:
            known = await asyncio.wait_for(ctx.recorder.known_resident(number.value), NAME_WAIT_S)
            returning = known is not None
        except (HealthKioskError, TimeoutError) as err:
            log.warning("resident not looked up: %s", getattr(err, "reason", "timeout"))
        if ctx.state.screen is not Screen.CHECKIN:
            return
        ctx.visit.identity = ResidentIdentity(
            id_number=number.value,
            masked_id=number.masked,
            name=name or (known.name if known else None),
            sex=number.sex.value,
            birth_date=number.birth_date,
        )
        last = known.last_seen.astimezone(ctx.zone).date() if known else None
        self._confirm_screen(returning=returning, last_visit=last)

    # --- card reader and QR scanner -------------------------------------------

    async def _read_cards(self) -> None:
        reader = self._ctx.devices.id_card
        assert reader is not None
        card = await self._wait_for_id(
            reader, flag="card_reader", unreadable="card_unreadable", what="ID card reader"
        )
        if card is not None:
            await self._card_read(card)

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

    async def _card_read(self, card: IdCardData) -> None:
        ctx = self._ctx
        ctx.touch()  # a card on the reader: the elder is here
        try:
            parse(card.id_number, today=ctx.clock.now().date())
        except IdNumberError:
            ctx.update(keypad_error="card_unreadable")
            ctx.spawn(self._read_cards, "read-card")
            return
        await self._submit(card.id_number, name=card.name or None)

    # --- "is this you?" --------------------------------------------------------

    def _confirm_screen(self, *, returning: bool | None, last_visit: date | None) -> None:
        ctx = self._ctx
        ident = ctx.visit.identity
        assert ident is not None
        # The elder just acted (a card, OK): a "still here?" that came while the
        # store was asked who they are goes away with the check-in screen.
        ctx.still_deadline = None
        ctx.idle_from_now()
        ctx.update(
            still_here_s=None,
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
                masked_name=mask_name(ident.name),
                returning=returning,
                last_visit=last_visit,
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


def typed_problem(typed: str, *, today: date) -> str | None:
    """What is wrong with a number as far as it is typed, as soon as it can be
    told, naming the part: ``id_region`` (the first two digits are no
    province), ``id_birth_date`` (digits 7 to 14 are no possible birth date),
    then, at 18 characters, ``id_check_digit`` (a digit anywhere is wrong:
    check each one). None while nothing is wrong yet."""
    if len(typed) >= 2 and (problem := _probe(typed[:2], "19700101", today)):
        return problem
    if len(typed) >= 14 and (problem := _probe("11", typed[6:14], today)):
        return problem
    if len(typed) == ID_LENGTH:
        try:
            parse(typed, today=today)
        except IdNumberError as err:
            return err.reason
    return None


def _probe(province: str, born: str, today: date) -> str | None:
    """The core's verdict on a number with this province and birth date and a
    right check digit: ``id_region``, ``id_birth_date`` or None."""
    first = province + "0000" + born + "000"
    try:
        parse(first + check_character(first), today=today)
    except IdNumberError as err:
        return err.reason
    return None
