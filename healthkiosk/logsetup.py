"""Logging: structured lines to stderr (journald picks them up under systemd).

Every handler installed here carries :class:`IdNumberMaskFilter`, so a
resident's ID number never reaches a log, whatever a caller passes in: the
message, its arguments, extra fields and tracebacks are all masked.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from healthkiosk.idnumber import mask_in_text

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class IdNumberMaskFilter(logging.Filter):
    """Masks ID numbers in the record before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_in_text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_in_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_in_text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRS or value is None or isinstance(value, bool):
                continue
            # Strings, and anything whose text shows a number (a dict of fields,
            # an ID number passed as an int): replaced by the masked text.
            text = value if isinstance(value, str) else str(value)
            masked = mask_in_text(text)
            if masked != text or isinstance(value, str):
                setattr(record, key, masked)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                out[key] = (
                    value if isinstance(value, (int, float, bool, type(None))) else str(value)
                )
        if record.exc_text:
            out["exc"] = record.exc_text
        elif record.exc_info:
            out["exc"] = mask_in_text(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


class RateLimitFilter(logging.Filter):
    """Lets through at most ``burst`` records of one (logger, message template)
    per ``period_s``; a flapping device must not flood the journal."""

    def __init__(self, *, burst: int = 10, period_s: float = 60.0) -> None:
        super().__init__()
        self.burst = burst
        self.period_s = period_s
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        start, count = self._seen.get(key, (record.created, 0))
        if record.created - start > self.period_s:
            start, count = record.created, 0
        self._seen[key] = (start, count + 1)
        if len(self._seen) > 1000:
            self._seen.clear()
        return count < self.burst


def setup_logging(
    *, level: str = "INFO", fmt: str = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Install one masked handler on the root logger and return it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RateLimitFilter())
    handler.addFilter(IdNumberMaskFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_healthkiosk", False):
            root.removeHandler(old)
    handler._healthkiosk = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
