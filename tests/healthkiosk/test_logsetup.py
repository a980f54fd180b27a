"""Logging masks resident ID numbers wherever they would appear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from healthkiosk.idnumber import check_character
from healthkiosk.logsetup import IdNumberMaskFilter, JsonFormatter, RateLimitFilter, setup_logging

FIRST17 = "44030519800229123"
NUMBER = FIRST17 + check_character(FIRST17)
OLD15 = "440305800229123"  # a first-generation 15-digit number


def leaks(text: str) -> bool:
    return NUMBER in text or FIRST17 in text or OLD15 in text or "19800229" in text


@pytest.fixture(params=["text", "json"])
def logged(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, io.StringIO, str]]:
    stream = io.StringIO()
    root = logging.getLogger()
    old_level = root.level
    handler = setup_logging(level="DEBUG", fmt=request.param, stream=stream)
    try:
        yield logging.getLogger("test.masking"), stream, request.param
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_message_args_extra_and_traceback_are_masked(
    logged: tuple[logging.Logger, io.StringIO, str],
) -> None:
    log, stream, fmt = logged
    log.info("checked in %s", NUMBER)
    log.info(f"typed {NUMBER[:6]} {NUMBER[6:14]} {NUMBER[14:]} by hand")
    log.warning("dict arg %(who)s", {"who": NUMBER})
    log.info("legacy %s", OLD15)
    log.info(
        "extra fields",
        extra={"resident": NUMBER, "payload": {"id": NUMBER}, "as_int": int(FIRST17 + "1")},
    )
    try:
        raise ValueError(f"bad resident {NUMBER}")
    except ValueError:
        log.exception("failed for %s", NUMBER)
    log.info("stack", stack_info=True, extra={"who": NUMBER.lower()})
    out = stream.getvalue()
    assert out.count("\n") >= 7
    assert not leaks(out), out
    assert "440***" in out and "ValueError: bad resident 440" in out.replace("\\n", "\n")
    if fmt == "json":
        for line in out.splitlines():
            record = json.loads(line)
            assert {"ts", "level", "logger", "msg"} <= set(record)
        extra = json.loads(out.splitlines()[4])
        assert extra["resident"].startswith("440***") and "440***" in extra["payload"]


def test_filter_alone_masks_the_record_for_any_formatter() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "id=%s", (NUMBER,), None)
    record.extra_field = f"card {NUMBER}"
    assert IdNumberMaskFilter().filter(record) is True
    assert not leaks(record.getMessage()) and not leaks(record.extra_field)
    assert not leaks(JsonFormatter().format(record))


def test_rate_limit_lets_a_burst_through() -> None:
    f = RateLimitFilter(burst=3, period_s=60)
    records = [
        logging.LogRecord("dev", logging.WARNING, __file__, 1, "link lost", None, None)
        for _ in range(5)
    ]
    assert [f.filter(r) for r in records] == [True, True, True, False, False]
