"""Every word the kiosk shows or speaks, by stable key (English source text).

The English strings are gettext message ids (extracted by Babel with the
``N_`` keyword, and ``NC_`` for a message with a context); the Simplified
Chinese catalog is ``kiosk/locale/zh_CN/LC_MESSAGES/kiosk.po``. Placeholders
are named (``{value}``, ``{threshold}``) and filled from the rules the
classification used, so words and numbers never disagree.

The category words carry a context (blood pressure, blood sugar), so each
measurement has its own words in each language, in the order of severity
docs/clinical.md gives ("Wording on the kiosk").
"""

from __future__ import annotations


class Msg(str):
    """A message id with a gettext context (``msgctxt``)."""

    __slots__ = ("context",)
    context: str

    def __new__(cls, context: str, message: str) -> Msg:
        self = super().__new__(cls, message)
        self.context = context
        return self


def N_(message: str) -> str:
    """Mark a string for extraction; translated at render time."""
    return message


def NC_(context: str, message: str) -> str:
    """Mark a string with its context for extraction (``-k NC_:1c,2``)."""
    return Msg(context, message)


TEXTS: dict[str, str] = {
    # common
    "lang.switch": N_("中文"),
    "btn.back": N_("Back"),
    "btn.finish": N_("Finish"),
    "btn.cancel": N_("Stop"),
    "btn.retry": N_("Try again"),
    "btn.choose": N_("Choose again"),
    "btn.still_here": N_("I'm still here"),
    "btn.replay": N_("Again"),
    "still_here.title": N_("Are you still here?"),
    "still_here.countdown": N_("The screen resets in {seconds} s"),
    "still_here.spoken": N_("seconds until the screen resets"),
    # attract
    "attract.title": N_("Health check"),
    "attract.body": N_("Blood pressure and blood sugar, free"),
    "attract.start": N_("Start"),
    "attract.tech": N_("Staff"),
    # check-in
    "checkin.title": N_("Who are you?"),
    "checkin.card": N_("Place your ID card, or type its number (18)"),
    "checkin.type": N_("Type your ID number (18)"),
    "checkin.qr": N_("Card, code or number"),
    "checkin.left": N_("{n} more to type"),
    "checkin.ok": N_("OK"),
    "checkin.delete": N_("Delete"),
    "checkin.clear": N_("Clear"),
    "checkin.del_key": N_("Del"),
    "id_check_digit": N_("Wrong: check each digit"),
    "id_x_position": N_("X only at the end"),
    "id_format": N_("Not an ID number"),
    "id_region": N_("First 6 digits wrong"),
    "id_birth_date": N_("Birth date digits wrong"),
    "id_length": N_("Not all 18 typed yet"),
    "card_unreadable": N_("Card not read. Try again"),
    "code_unreadable": N_("Code not read. Show your service card"),
    # confirm
    "confirm.title": N_("Is this you?"),
    "confirm.welcome_back": N_("Welcome back, {name}"),
    "confirm.welcome_back_anon": N_("Welcome back"),
    "confirm.last_visit": N_("Last visit: {date}"),
    "confirm.first_visit": N_("Your first visit here"),
    "date.full": N_("{month}/{day}/{year}"),
    "date.short": N_("{month}/{day}"),
    "confirm.born": N_("Born {year}"),
    "confirm.yes": N_("Yes, that is me"),
    "confirm.no": N_("No"),
    # choose
    "choose.title": N_("Measure what?"),
    "choose.bp": N_("Blood pressure"),
    "choose.glucose": N_("Blood sugar"),
    "choose.both": N_("Both"),
    # prepare blood pressure
    "prep_bp.title": N_("Blood pressure"),
    "prep_bp.body": N_("Sit back, feet flat. Cuff on the bare left arm, at heart level."),
    "prep_bp.rest": N_("Rest quietly: {time}"),
    "prep_bp.ready": N_("Rest is over. Press start"),
    "prep_bp.start": N_("Start"),
    # measuring blood pressure
    "measure_bp.title": N_("Measuring {n} of {total}"),
    "measure_bp.body": N_("Press START on the monitor. Sit still, do not talk"),
    "measure_bp.inflating": N_("The cuff is filling. Sit still, do not talk"),
    "measure_bp.cuff": N_("Cuff"),
    "measure_bp.again": N_("Measuring again"),
    "bp_pause.title": N_("Rest between readings"),
    "bp_pause.body_2": N_("Keep the cuff on. The second reading in {time}"),
    "bp_pause.body_3": N_("Keep the cuff on. The third reading in {time}"),
    "bp_pause.spoken": N_("Keep the cuff on. The next reading starts by itself"),
    "bp_pause.taken": N_("Measured: {readings}"),
    "bp_pause.third": N_("The two readings differ: one more"),
    # glucose
    "glucose_meal.title": N_("Blood sugar"),
    "glucose_meal.question": N_("Have you eaten in the last 8 hours?"),
    "glucose_meal.fasting": N_("Not eaten"),
    "glucose_meal.after_meal": N_("Eaten"),
    "glucose_meal.unsure": N_("Not sure"),
    "prep_glucose.title": N_("Blood sugar"),
    "prep_glucose.body": N_("Wash and dry your hands. Put a new strip in the meter"),
    "prep_glucose.ready": N_("Ready"),
    "measure_glucose.title": N_("Measuring"),
    "measure_glucose.body": N_("Put a drop of blood on the strip"),
    "measure_glucose.wait": N_("Waiting {time}"),
    "saving.title": N_("Saving"),
    # result
    "result.title": N_("Your result"),
    "result.bp_unit": N_("mmHg"),
    "result.pulse": N_("Pulse {pulse}"),
    "result.glucose_unit": N_("mmol/L"),
    "result.saved": N_("Saved"),
    "result.next_glucose": N_("Sugar next"),
    "result.irregular": N_("Irregular pulse: see a doctor"),
    "result.close_to_limit": N_("Near the limit: retest another day"),
    "result.trend": N_("Your last readings"),
    "result.last_time": N_("Last {date}: {value}"),
    "result.today": N_("Today"),
    "result.urgent": N_("Please see the doctor now"),
    "result.all_results": N_("All results"),
    # category words, in order of severity (docs/clinical.md, "Wording on the kiosk")
    "cat.bp.low": NC_("blood pressure", "Low"),
    "cat.bp.normal": NC_("blood pressure", "Normal"),
    "cat.bp.high_normal": NC_("blood pressure", "A little high"),
    "cat.bp.grade_1": NC_("blood pressure", "Higher than normal"),
    "cat.bp.grade_2": NC_("blood pressure", "High"),
    "cat.bp.grade_3": NC_("blood pressure", "Very high"),
    "cat.glucose.very_low": NC_("blood sugar", "Very low"),
    "cat.glucose.normal": NC_("blood sugar", "Normal"),
    "cat.glucose.impaired_fasting": NC_("blood sugar", "A little high"),
    "cat.glucose.above_normal": NC_("blood sugar", "A little high"),
    "cat.glucose.high": NC_("blood sugar", "Higher than normal"),
    "cat.glucose.very_high": NC_("blood sugar", "Very high"),
    "explain.bp.normal": N_("Below {sys}/{dia} mmHg."),
    "explain.bp.systolic_min": N_("Upper number {value}: {threshold} or more."),
    "explain.bp.diastolic_min": N_("Lower number {value}: {threshold} or more."),
    "explain.bp.low_systolic": N_("Upper number {value}: below {threshold}."),
    "explain.bp.low_diastolic": N_("Lower number {value}: below {threshold}."),
    "explain.glucose.very_low": N_("{value}: {threshold} or less."),
    "explain.glucose.normal": N_("{value}: between {low} and {high}."),
    "explain.glucose.at_least": N_("{value}: {threshold} or more."),
    "explain.glucose.meter_lo": N_("The meter shows LO: below {threshold}."),
    "explain.glucose.meter_hi": N_("The meter shows HI: above {threshold}."),
    "advice.bp.low": N_("Sit down. Tell the staff if you feel dizzy."),
    "advice.bp.normal": N_("Keep it up."),
    "advice.bp.high_normal": N_("Eat less salt, move more."),
    "advice.bp.grade_1": N_("Please see your doctor."),
    "advice.bp.grade_2": N_("Please see your doctor soon."),
    "advice.bp.urgent": N_("Please see the doctor now"),
    "advice.glucose.very_low": N_("Eat sugar, see the doctor now"),
    "advice.glucose.normal": N_("Keep it up."),
    "advice.glucose.impaired_fasting": N_("Please see your doctor."),
    "advice.glucose.above_normal": N_("Please see your doctor."),
    "advice.glucose.high": N_("Please see your doctor soon."),
    "advice.glucose.very_high": N_("Please see the doctor now"),
    # the summary of the visit
    "summary.title": N_("Your results today"),
    "summary.more": N_("Next page {n}/{pages}"),
    "summary.first": N_("First page {n}/{pages}"),
    "summary.bp": N_("Blood pressure"),
    "summary.glucose": N_("Blood sugar"),
    "summary.reminder": N_("Take your ID card. Take off the cuff"),
    # done
    "done.title": N_("Thank you"),
    "done.body": N_("Take care. Goodbye"),
    # the take-home slip: printing it (on the thank-you screen)
    "print.button": N_("Print slip"),
    "print.printing": N_("Printing your slip. Please wait"),
    "print.printed": N_("Please take your slip"),
    "print.no_paper": N_("The printer has no paper. Please tell the staff"),
    "print.failed": N_("The slip could not be printed. Please tell the staff"),
    # the take-home slip itself
    "slip.title": N_("Health check result"),
    "slip.test": N_("TEST SLIP - sample data"),
    "slip.datetime": N_("{year}-{month:02d}-{day:02d} {time}"),
    "slip.day": N_("{month:02d}-{day:02d}"),
    "slip.day_year": N_("{year}-{month:02d}-{day:02d}"),
    "slip.zone.beijing": N_("Beijing time"),
    "slip.name": N_("Name: {name}"),
    "slip.with_meal": N_(" ({meal})"),
    "slip.meal.fasting": N_("fasting"),
    "slip.meal.after_meal": N_("after eating"),
    "slip.meal.random": N_("any time"),
    "slip.earlier": N_("Earlier results"),
    "slip.doctor": N_("Your doctor: {name}"),
    "slip.phone": N_("Phone: {phone}"),
    "slip.bring": N_("Bring this slip when you see the doctor"),
    "slip.self_check": N_("A self-check. It does not replace the doctor"),
    # errors
    "error.title": N_("A problem"),
    "error.device_not_found": N_("The device is not found. Please tell the staff"),
    "error.not_paired": N_("The device is not connected. Please tell the staff"),
    "error.bluetooth_off": N_("Bluetooth is off. Please tell the staff"),
    "error.link_lost": N_("The device lost its connection. Try again"),
    "error.device_timeout": N_("No result came. Try again"),
    "error.body_movement": N_("You moved. Sit still and try again"),
    "error.cuff_fit": N_("The cuff is loose. Put it on snugly and try again"),
    "error.improper_position": N_("Put the cuff at heart level and try again"),
    "error.strip_error": N_("Strip problem. Use a new strip and try again"),
    "error.out_of_range": N_("The meter cannot measure this. Please tell the staff"),
    "error.implausible": N_("The reading looks wrong. Please try again"),
    "error.device_error": N_("The device reported a problem. Try again"),
    "error.store_full": N_("The result could not be saved. Please tell the staff"),
    "error.store_error": N_("The result could not be saved. Please tell the staff"),
    "error.updating": N_("The kiosk is updating. Please wait a minute"),
    # technician
    "tech_pin.title": N_("Staff PIN"),
    "tech_pin.wrong": N_("Wrong PIN"),
    "tech_pin.locked": N_("Too many wrong PINs. Try again in {seconds} s"),
    "tech.title": N_("Technician"),
    "tech.devices": N_("Devices"),
    "tech.sync": N_("Waiting to send: {pending}  Sent: {delivered}"),
    "tech.version": N_("Version {version}"),
    "tech.restart": N_("Restart"),
    "tech.test": N_("Test"),
    "tech.pair": N_("Pair"),
    "tech.restarting": N_("Restarting"),
    "device.blood_pressure": N_("BP monitor"),
    "device.glucose": N_("Glucose meter"),
    "device.id_card": N_("Card reader"),
    "device.qr_code": N_("QR scanner"),
    "device.printer": N_("Printer"),
    "device.state.ready": N_("ready"),
    "device.state.missing": N_("missing"),
    "device.state.error": N_("error"),
    "device.state.closed": N_("closed"),
    "device.state.testing": N_("testing"),
    "device.state.ok": N_("works"),
    "device.state.failed": N_("failed"),
    "device.state.paired": N_("paired"),
    "device.state.not_pairable": N_("no pairing"),
    "device.state.pairing": N_("pairing"),
    # pairing a BLE device (the technician: the screen and `healthkiosk devices pair`)
    "pair.title": N_("Pair a device"),
    "pair.hold_button": N_("Hold the device's Bluetooth button until -P- blinks"),
    "pair.then_start": N_("While it blinks, tap Start pairing"),
    "pair.then_enter": N_("While it blinks, press Enter"),
    "pair.start": N_("Start pairing"),
    "pair.step.removing_old_bond": N_("Removing the old pairing"),
    "pair.step.looking": N_("Looking for the device"),
    "pair.step.bonding": N_("Pairing"),
    "pair.step.device_key": N_("Setting the device's key"),
    "pair.step.done": N_("Paired. The device is ready"),
    "pair.error.not_paired": N_("This station is not paired with the device. Pair it"),
    "pair.error.bond_lost": N_(
        "The device has forgotten this station (reset, or paired with a phone). Pair it again"
    ),
    "pair.error.pairing_failed": N_(
        "The device did not accept the pairing. Hold its Bluetooth button until -P- blinks, "
        "then try again"
    ),
    "pair.error.key_refused": N_("The device holds another phone's key. Pair it again"),
    "pair.error.device_not_found": N_("Device not found. Switch it on next to the station"),
    "pair.error.device_timeout": N_("The device did not answer in time. Try again"),
    "pair.error.bluetooth_off": N_("The station's Bluetooth is off or missing"),
    "pair.error.other": N_("Pairing did not work. Switch the device off and on, then try again"),
    "time.mm_ss": N_("{minutes}:{seconds:02d}"),
    "time.seconds": N_("{seconds} s"),
}
