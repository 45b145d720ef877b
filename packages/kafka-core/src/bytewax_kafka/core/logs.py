"""librdkafka's own log lines, sent through Python ``logging`` with repeats rate-limited.

Left alone, librdkafka writes its log lines (``%3|...|FAIL|...``) straight to
the process's stderr: an unreachable broker prints a "Connection refused"
line about twenty times a second. Every client the source and sinks create
gets a ``logger`` (confluent-kafka's setting) that passes those lines to the
Python loggers below, the same line at most once per :data:`REPEAT_WINDOW`
seconds; the next one that gets through says how many were held back.

Loggers: ``bytewax_kafka.core.librdkafka.consumer``, ``.producer`` and
``.admin``. librdkafka's syslog levels become Python levels (3 ``ERROR``,
4 ``WARNING``, 5-6 ``INFO``, 7 ``DEBUG``); configure them as any logger::

    logging.getLogger("bytewax_kafka.core.librdkafka").setLevel(logging.CRITICAL)

A ``logger`` given in ``add_config`` is used instead, unchanged.

confluent-kafka hands a client's lines over only from that client's own
calls that serve its queue (``poll``, ``consume``, ``flush``): the source's
consumers and the producers deliver them as they run; the source's admin
client asks the cluster in short attempts and is served between them, so
its lines come out while a start-up request is still failing.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: Parent of the loggers librdkafka's lines go to.
LOGGER_NAME = "bytewax_kafka.core.librdkafka"
#: Seconds during which the same line is passed on only once.
REPEAT_WINDOW = 30.0
#: Lines remembered for rate-limiting; older ones are forgotten past this.
_MAX_REMEMBERED = 512
#: Parts of a line that change between repeats of the same event: librdkafka's
#: own count of repeats it held back, and durations.
_REPEATS = re.compile(r",? ?\d+ identical error\(s\) suppressed")
_DURATIONS = re.compile(r"\d+(?:\.\d+)?\s?(?:ms|s)\b")


class ClientLog:
    """A confluent-kafka ``logger``: librdkafka's lines to a Python logger, repeats held back.

    confluent-kafka calls ``log(level, "%s [%s] %s", facility, client_name,
    text)``. A line whose facility and text (durations and counts aside)
    were passed on less than ``window`` seconds ago is counted, not passed
    on; the next one that is passed on ends with that count. Secret values
    of the client's settings are removed from the text.

    Args:
        logger: Where lines go.
        window: Seconds during which one line is passed on once.
        clock: Monotonic seconds (for tests).

    Example:
        >>> log = ClientLog(logging.getLogger("bytewax_kafka.core.librdkafka.consumer"))
        >>> consumer = Consumer({"bootstrap.servers": "localhost:19092", "group.id": "g", "logger": log})
    """

    def __init__(
        self,
        logger: logging.Logger,
        window: float = REPEAT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        #: line key -> [when last passed on, repeats held back since]
        self._seen: dict[tuple[int, str], list[float]] = {}
        self._secrets: frozenset[str] = frozenset()

    def hide(self, secrets: Iterable[str]) -> None:
        """Replace each of ``secrets`` by ``[redacted]`` in every line from now on."""
        more = {s for s in secrets if len(s) >= 3}
        if not more <= self._secrets:
            with self._lock:
                self._secrets = self._secrets | more

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        """Pass one line on, unless it repeats one passed on within the window."""
        if not self.logger.isEnabledFor(level):
            return
        facility = str(args[0]) if args else ""
        text = str(args[-1]) if args else msg
        key = (level, facility + " " + _shape(text))
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.window:
                seen[1] += 1
                return
            held = int(seen[1]) if seen is not None else 0
            since = now - seen[0] if seen is not None else 0.0
            self._seen[key] = [now, 0]
            if len(self._seen) > _MAX_REMEMBERED:
                self._forget(now)
        if self._secrets:
            args = tuple(_hidden(str(a), self._secrets) for a in args)
        if held:
            msg += " (%d more like it in the last %.0fs)"
            args = (*args, held, since)
        self.logger.log(level, msg, *args, **kwargs)

    def _forget(self, now: float) -> None:
        old = [k for k, (when, _held) in self._seen.items() if now - when >= self.window]
        for k in old or list(self._seen)[: len(self._seen) // 2]:
            del self._seen[k]


def _shape(text: str) -> str:
    """``text`` without what changes between repeats of one event."""
    return _DURATIONS.sub("#", _REPEATS.sub("", text))


_KINDS = {"consumer": "consumer", "producer": "producer", "admin client": "admin"}
_LOGS: dict[str, ClientLog] = {}
_LOGS_LOCK = threading.Lock()


def client_log(what: str) -> ClientLog:
    """The :class:`ClientLog` shared by the clients of one kind (``"consumer"``, ``"producer"``, ...)."""
    kind = _KINDS.get(what, "client")
    with _LOGS_LOCK:
        log = _LOGS.get(kind)
        if log is None:
            log = _LOGS[kind] = ClientLog(logging.getLogger(f"{LOGGER_NAME}.{kind}"))
        return log


def _hidden(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


def with_logger(config: Mapping[str, Any], what: str, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """``config`` with our ``logger`` for a client of kind ``what``, unless it names its own.

    Args:
        config: The client's settings.
        what: ``"consumer"``, ``"producer"`` or ``"admin client"``.
        secrets: Secret values of ``config``, never to appear in a line.
    """
    if config.get("logger") is not None:
        return dict(config)
    log = client_log(what)
    log.hide(secrets)
    return {**config, "logger": log}


def drain(client: Any) -> None:
    """Serve ``client``'s queue once without waiting, so its pending log lines come out."""
    try:
        client.poll(0)
    except Exception:  # a closed client: nothing left to deliver
        return
