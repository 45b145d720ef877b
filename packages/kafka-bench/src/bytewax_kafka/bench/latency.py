"""End-to-end latency: an HdrHistogram of (read time - send time) per message.

Latencies are recorded in microseconds, from 1 µs to one hour, with three
significant digits (0.1% error). In fixed-rate mode the send time is the
*intended* one (when the schedule said the message was due, not when the
producer got round to it), so a stalled system is charged for every message
it delayed: no coordinated omission.

Example:
    >>> h = LatencyHistogram()
    >>> for us in (1000, 2000, 3000, 4000):
    ...     h.record_ns(us * 1000)
    >>> h.summary()["p50_ms"]
    2.0
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = ["CDF_PERCENTILES", "PERCENTILES", "LatencyHistogram", "percentile_key"]

#: Percentiles every latency summary reports (besides max and mean).
PERCENTILES = (50.0, 90.0, 99.0, 99.9)

#: Points of the CDF stored with each result, for plotting.
CDF_PERCENTILES = (
    0.0,
    1.0,
    5.0,
    10.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    70.0,
    75.0,
    80.0,
    85.0,
    90.0,
    92.5,
    95.0,
    96.0,
    97.0,
    98.0,
    99.0,
    99.5,
    99.9,
    99.95,
    99.99,
    99.999,
    100.0,
)

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000  # one hour
_DIGITS = 3


def _key(p: float) -> str:
    return "p" + (f"{p:g}".replace(".", "_") if p % 1 else str(int(p)))


class LatencyHistogram:
    """Latency histogram in microseconds, reporting milliseconds."""

    def __init__(self) -> None:
        self.hist = HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)

    def record_ns(self, latency_ns: int, count: int = 1) -> None:
        """Record one latency (nanoseconds); clamped to the histogram's range."""
        us = latency_ns // 1000
        if us < _LOWEST_US:
            us = _LOWEST_US
        elif us > _HIGHEST_US:
            us = _HIGHEST_US
        self.hist.record_value(us, count)

    def record_many_ns(self, latencies_ns: Iterable[int]) -> None:
        """Record several latencies (nanoseconds)."""
        for v in latencies_ns:
            self.record_ns(int(v))

    @property
    def count(self) -> int:
        """How many latencies were recorded."""
        return int(self.hist.get_total_count())

    def percentile_ms(self, p: float) -> float:
        """The latency at percentile ``p`` (0-100), in milliseconds."""
        return float(self.hist.get_value_at_percentile(p)) / 1000.0

    def summary(self) -> dict[str, Any]:
        """``count``, ``mean_ms``, ``p50_ms``, ``p90_ms``, ``p99_ms``, ``p99_9_ms``, ``max_ms``.

        Values are None when nothing was recorded.
        """
        out: dict[str, Any] = {"count": self.count}
        empty = self.count == 0
        out["mean_ms"] = None if empty else round(float(self.hist.get_mean_value()) / 1000.0, 4)
        for p in PERCENTILES:
            out[f"{_key(p)}_ms"] = None if empty else self.percentile_ms(p)
        out["max_ms"] = None if empty else float(self.hist.get_max_value()) / 1000.0
        return out

    def cdf(self) -> list[list[float]]:
        """``[percentile, latency_ms]`` points at :data:`CDF_PERCENTILES`."""
        if self.count == 0:
            return []
        return [[p, self.percentile_ms(p)] for p in CDF_PERCENTILES]

    def encode(self) -> str:
        """The histogram in HdrHistogram's compressed base64 form (to merge runs later)."""
        encoded = self.hist.encode()
        return encoded.decode() if isinstance(encoded, bytes) else str(encoded)

    @classmethod
    def decode(cls, encoded: str) -> LatencyHistogram:
        """Rebuild a histogram from :meth:`encode`'s output."""
        h = cls()
        h.hist = HdrHistogram.decode(encoded.encode() if isinstance(encoded, str) else encoded)
        return h

    def add(self, other: LatencyHistogram) -> None:
        """Add another histogram's counts to this one."""
        self.hist.add(other.hist)


def percentile_key(p: float) -> str:
    """The summary key of percentile ``p``: ``p50``, ``p99_9``, ..."""
    return _key(p)
