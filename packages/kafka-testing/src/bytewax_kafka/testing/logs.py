"""librdkafka's log lines of this package's clients, through Python ``logging``.

The helpers' clients (:func:`~bytewax_kafka.testing.create_topic`,
:func:`~bytewax_kafka.testing.produce_messages`, ...) log to
``bytewax_kafka.testing.librdkafka``, the same line at most once per
:data:`REPEAT_WINDOW` seconds (the next one that gets through says how many
were held back), instead of librdkafka writing ``%3|...`` lines to stderr.
The readiness probe of the launchers logs nothing: before a broker listens,
"Connection refused" is what a probe expects to see.

(``bytewax-kafka-core`` does the same for its clients; this package does not
depend on it.)
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

LOGGER_NAME = "bytewax_kafka.testing.librdkafka"
REPEAT_WINDOW = 30.0
#: What changes between repeats of one event: librdkafka's count of held-back repeats, durations.
_REPEATS = re.compile(r",? ?\d+ identical error\(s\) suppressed")
_DURATIONS = re.compile(r"\d+(?:\.\d+)?\s?(?:ms|s)\b")

#: Settings of a client that must log nothing (librdkafka's level 0: emergencies only).
SILENT = {"log_level": 0}


class RateLimitedLog:
    """A confluent-kafka ``logger`` passing each distinct line on once per window.

    Args:
        logger: Where lines go.
        window: Seconds during which one line is passed on once.

    Example:
        >>> producer = Producer({"bootstrap.servers": "localhost:19092", "logger": client_log()})
    """

    def __init__(self, logger: logging.Logger, window: float = REPEAT_WINDOW) -> None:
        self.logger = logger
        self.window = window
        self._lock = threading.Lock()
        self._seen: dict[tuple[int, str], list[float]] = {}

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        """Pass one line on, unless it repeats one passed on within the window."""
        if not self.logger.isEnabledFor(level):
            return
        shape = (_DURATIONS.sub("#", _REPEATS.sub("", str(a))) for a in args[:1] + args[2:])
        key = (level, " ".join(shape))
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.window:
                seen[1] += 1
                return
            held = int(seen[1]) if seen is not None else 0
            self._seen[key] = [now, 0]
            if len(self._seen) > 512:
                self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window}
        if held:
            msg += " (%d more like it)"
            args = (*args, held)
        self.logger.log(level, msg, *args, **kwargs)


_LOG: RateLimitedLog | None = None


def client_log() -> RateLimitedLog:
    """The logger every helper client shares."""
    global _LOG
    if _LOG is None:
        _LOG = RateLimitedLog(logging.getLogger(LOGGER_NAME))
    return _LOG


def logged(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with the helpers' ``logger``, unless it has its own."""
    if config.get("logger") is not None:
        return dict(config)
    return {**config, "logger": client_log()}
