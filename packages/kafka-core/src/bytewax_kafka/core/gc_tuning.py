"""Python's cyclic garbage collector, tuned for a streaming flow (on by default, opt-out).

A flow process holds a few hundred thousand long-lived objects (the modules
of bytewax, confluent-kafka and the user's code, the flow itself) and
allocates several objects per message. With CPython's default thresholds
(700, 10, 10) the collector runs a young collection every 700 allocations
and, as messages in flight survive into older generations, full collections
that walk every long-lived object: a quarter of a flow's time in the
profile in docs/performance.md.

:func:`tune_gc` (called once per process by the first Kafka source or sink
partition built, after the flow is built) does two things:

- ``gc.freeze()``: every object alive at that moment moves to the permanent
  generation and is never walked again (they live as long as the process
  anyway);
- ``gc.set_threshold(50_000, ...)``: a young collection every 50,000
  allocations instead of 700 (the generations above keep CPython's ratios).

It leaves the collector alone when the process already changed it (other
thresholds than CPython's defaults, or the collector disabled), and when
turned off with ``gc_tuning=False`` on the source or the operators (or the
``BYTEWAX_KAFKA_GC_TUNING=0`` environment variable, which wins). The memory
it costs is measured in docs/performance.md.

Example:
    >>> import gc
    >>> from bytewax_kafka.core.gc_tuning import DEFAULT_THRESHOLDS
    >>> DEFAULT_THRESHOLDS
    (700, 10, 10)
"""

from __future__ import annotations

import gc
import logging
import os
import threading

log = logging.getLogger(__name__)

#: CPython's own thresholds: anything else means the process tuned the collector itself.
DEFAULT_THRESHOLDS = (700, 10, 10)
#: The young-generation threshold set by :func:`tune_gc`.
YOUNG_THRESHOLD = 50_000
#: The environment variable that turns the tuning off (``0``, ``false``, ``no``, ``off``).
ENV = "BYTEWAX_KAFKA_GC_TUNING"

_lock = threading.Lock()
_done = False


def enabled_by_env() -> bool:
    """False when :data:`ENV` turns the tuning off."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def tune_gc() -> bool:
    """Freeze what is alive and raise the young threshold, once per process.

    Returns:
        True when this call tuned the collector; False when it was done
        before, turned off by :data:`ENV`, or the process had already
        changed the collector's settings.
    """
    global _done
    with _lock:
        if _done:
            return False
        _done = True
        if not enabled_by_env():
            log.debug("garbage-collector tuning turned off by %s", ENV)
            return False
        if not gc.isenabled() or gc.get_threshold() != DEFAULT_THRESHOLDS:
            log.debug("garbage collector already tuned by the process (%s): left as is", gc.get_threshold())
            return False
        gc.freeze()
        _young, mid, old = DEFAULT_THRESHOLDS
        gc.set_threshold(YOUNG_THRESHOLD, mid, old)
        log.info(
            "garbage collector tuned for streaming: %d objects frozen, young threshold %d "
            "(gc_tuning=False or %s=0 leaves it alone)",
            gc.get_freeze_count(),
            YOUNG_THRESHOLD,
            ENV,
        )
        return True
