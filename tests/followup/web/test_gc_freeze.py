"""The app leaves what start-up made out of the garbage collector's full collections
while it runs (a full collection scanned all of it in a request's time), and gives it
back when it stops."""

from __future__ import annotations

import gc

from starlette.testclient import TestClient

from followup.web.app import create_app
from followup.web.common import WebSettings
from healthkiosk.rules import load_rules
from tests.support.web import World


def test_start_up_objects_frozen_while_the_app_runs(world: World) -> None:
    app = create_app(
        world.engine, load_rules(), WebSettings(secret_key="k" * 64), run_refresher=False
    )
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 0
        assert client.get("/healthz").status_code == 200
        garbage: list[object] = []
        garbage.append(garbage)  # a cycle made after start-up is still collected
        del garbage
        assert gc.collect() >= 1
    assert gc.get_freeze_count() == 0
