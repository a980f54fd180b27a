"""A scripted visitor: the kiosk's visit flow with no window, for the headless demo.

Runs the same :class:`~kiosk.flow.visit.VisitFlow`, devices (the drivers'
emulated twins, :class:`emulation.twins.Simulation`, as ``healthkiosk run
--simulate``) and store, and does what an elder would: puts an ID card on the
emulated reader or types the number on the keypad (every other visit),
confirms, chooses blood pressure and glucose, answers the meal question, waits
for the results, finishes. One visit every ``--every`` seconds, residents and
answers varied so the doctor's list fills up.

    python -m emulation.visitor [--config PATH] [--every 20] [--visits N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random

from emulation.idcard.sam_reader import card_for
from emulation.twins import Simulation
from healthkiosk import __version__
from healthkiosk.config import Config, KioskConfig
from healthkiosk.idnumber import check_character
from kiosk.compose import open_recorder
from kiosk.flow.clock import RealClock
from kiosk.flow.state import Screen
from kiosk.flow.visit import VisitFlow

log = logging.getLogger("emulation.visitor")

# Demo residents: region 330106 (杭州西湖), born 1940-1960; check digits computed.
DEMO_PEOPLE = tuple(
    f"330106{1940 + i * 3:04d}{1 + i % 12:02d}{10 + i:02d}{100 + i * 7:03d}" for i in range(8)
)


def demo_id_numbers() -> list[str]:
    return [p + check_character(p) for p in DEMO_PEOPLE]


DEMO_NAMES = ("张桂兰", "李建国", "王淑珍", "刘志强", "陈秀英", "杨德明", "赵玉兰", "黄国华")


async def one_visit(
    flow: VisitFlow,
    id_number: str,
    rng: random.Random,
    *,
    limit_s: float,
    card: Simulation | None = None,
    name: str = "",
) -> str:
    """Walk one visit; returns the outcome (completed, or the screen it stuck
    on). With ``card``, check in with an ID card on its emulated reader
    (holding ``name``), else by typing the number."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    typed = False
    glucose_done = False
    while loop.time() < deadline:
        st = flow.state
        screen = st.screen
        if screen is Screen.ATTRACT and not typed:
            flow.start_checkin()
        elif screen is Screen.CHECKIN and not typed:
            if card is not None:
                card.present_card(card_for(id_number, name=name))
            else:
                for ch in id_number:
                    flow.key(ch)
                flow.submit_id()
            typed = True
        elif screen is Screen.CONFIRM:
            flow.confirm()
        elif screen is Screen.CHOOSE:
            flow.choose("both")
        elif screen is Screen.PREP_BP:
            flow.start_bp()
        elif screen is Screen.GLUCOSE_MEAL:
            flow.answer_meal(rng.choice(["fasting", "after_meal", None]))
        elif screen is Screen.PREP_GLUCOSE:
            flow.start_glucose()
        elif screen is Screen.RESULT:
            if flow.glucose_pending and not glucose_done:
                glucose_done = True
                flow.next_glucose()
            else:
                flow.finish()  # to the summary when the visit has several results
                if flow.state.screen is not Screen.SUMMARY:
                    return "completed"
        elif screen is Screen.SUMMARY:
            flow.finish()
            return "completed"
        elif screen is Screen.ERROR:
            log.warning("visit stopped on an error screen: %s", st.error)
            flow.finish()
            return "error"
        elif screen is Screen.DONE:
            return "completed"
        await asyncio.sleep(0.2)
    flow.finish()
    return f"timed out on {flow.state.screen.value}"


async def back_to_attract(flow: VisitFlow) -> None:
    """Wait until the kiosk shows its attract screen again."""
    attract = asyncio.Event()
    unsubscribe = flow.subscribe(lambda st: attract.set() if st.screen is Screen.ATTRACT else None)
    try:
        if flow.state.screen is not Screen.ATTRACT:
            await attract.wait()
    finally:
        unsubscribe()


async def run_visitor(cfg: Config, *, every_s: float, visits: int | None) -> int:
    from healthkiosk.rules import load_rules

    rng = random.Random()
    clock = RealClock()
    recorder = open_recorder(cfg)
    people = list(zip(demo_id_numbers(), DEMO_NAMES, strict=True))
    kiosk_cfg = replace_kiosk(cfg)
    simulation = Simulation(cfg)
    async with simulation.open_devices() as devices:
        flow = VisitFlow(config=kiosk_cfg, rules=load_rules(cfg.rules), devices=devices,
                         recorder=recorder, clock=clock, version=__version__)  # fmt: skip
        runner = asyncio.create_task(flow.run(), name="visit-flow")
        await asyncio.sleep(0)  # let run() open its task group before the first press
        try:
            n = 0
            while visits is None or n < visits:
                n += 1
                id_number, name = rng.choice(people)
                by_card = simulation if n % 2 else None
                outcome = await one_visit(
                    flow, id_number, rng, limit_s=600, card=by_card, name=name
                )
                log.info("visit %d: %s", n, outcome)
                await back_to_attract(flow)
                await asyncio.sleep(every_s)
        finally:
            flow.close()
            await runner
    return 0


def replace_kiosk(cfg: Config) -> KioskConfig:
    """No voice for a visitor without a screen."""
    return cfg.kiosk.model_copy(update={"voice_enabled": False})


def main() -> int:
    from healthkiosk.config import load_config
    from healthkiosk.logsetup import setup_logging

    ap = argparse.ArgumentParser(prog="python -m emulation.visitor", description=__doc__)
    ap.add_argument("--config")
    ap.add_argument("--every", type=float, default=20.0, help="seconds between visits")
    ap.add_argument("--visits", type=int, help="stop after this many (default: forever)")
    args = ap.parse_args()
    cfg = load_config(args.config)
    setup_logging(level=cfg.logging.level, fmt=cfg.logging.format)
    try:
        return asyncio.run(run_visitor(cfg, every_s=args.every, visits=args.visits))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
