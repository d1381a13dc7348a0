"""Structured logs: one JSON object a line, ids only (never clinical text or identities)."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime

# Only these `extra` keys reach the log; anything else passed by mistake is dropped.
ALLOWED_EXTRA = frozenset({
    "contact_id", "case_id", "event_id", "outbox_id", "count", "error", "channel", "status",
    "attempts", "url", "coordinator_id", "port", "kind", "timer_id",
})


# Our own code never passes data as log arguments; libraries do (python-telegram-bot logs a
# raw update it cannot parse, aiohttp the client address), so theirs keep only the template.
OWN_LOGGERS = frozenset({"bot", "storage", "intake", "intake_bot", "alembic"})


def _message(record: logging.LogRecord) -> str:
    if record.name.split(".")[0] in OWN_LOGGERS or not record.args:
        return record.getMessage()
    return str(record.msg)


class JsonFormatter(logging.Formatter):
    """Formats records as JSON with the allowed extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _message(record),
        }
        for key in ALLOWED_EXTRA:
            if key in record.__dict__:
                data[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and where it happened; messages may quote data, so not them.
            data["exception"] = record.exc_info[0].__name__
            data["stack"] = [
                f"{frame.filename}:{frame.lineno} {frame.name}"
                for frame in traceback.extract_tb(record.exc_info[2])[-8:]
            ]
        return json.dumps(data, ensure_ascii=False)


def configure(level: str = "INFO") -> None:
    """Send structured logs to stderr; quiet the chatty libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "httpx", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # It logs every 429 at ERROR with a traceback; the outbox already waits and retries.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)
