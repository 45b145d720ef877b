"""Medians with their spread: min-max over repetitions and a bootstrap confidence interval.

Example:
    >>> s = spread([10.0, 12.0, 11.0])
    >>> s.median, s.low, s.high, s.n
    (11.0, 10.0, 12.0, 3)
    >>> disjoint(spread([1.0, 1.1]), spread([1.3, 1.4]))
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Spread", "bootstrap_ci", "disjoint", "spread"]

#: Bootstrap resamples per interval; seeded, so reports are reproducible.
RESAMPLES = 2000


@dataclass(frozen=True)
class Spread:
    """A median over repetitions, their min and max, and a 95% bootstrap interval of the median."""

    median: float
    low: float
    high: float
    n: int
    ci_low: float
    ci_high: float
    values: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "n": self.n,
            "ci95": [self.ci_low, self.ci_high],
            "values": list(self.values),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Spread:
        """Rebuild from :meth:`to_dict`."""
        ci = d.get("ci95") or [d["min"], d["max"]]
        return cls(d["median"], d["min"], d["max"], d["n"], ci[0], ci[1], tuple(d.get("values") or ()))


def bootstrap_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval of the median (the values' range with fewer than 3)."""
    if len(values) < 3:
        return min(values), max(values)
    rng = np.random.default_rng(12345)
    arr = np.asarray(values, dtype=float)
    medians = np.median(rng.choice(arr, size=(RESAMPLES, arr.size), replace=True), axis=1)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(medians, [tail, 100 - tail])
    return float(lo), float(hi)


def spread(values: Sequence[float]) -> Spread:
    """The :class:`Spread` of one or more values.

    Raises:
        ValueError: With no values.
    """
    if not values:
        raise ValueError("spread() needs at least one value")
    vals = tuple(float(v) for v in values)
    lo, hi = bootstrap_ci(vals)
    r = 6  # significant enough for any figure here, short in JSON
    return Spread(
        round(float(np.median(vals)), r),
        round(min(vals), r),
        round(max(vals), r),
        len(vals),
        round(lo, r),
        round(hi, r),
        tuple(round(v, r) for v in vals),
    )


def disjoint(a: Spread, b: Spread) -> bool:
    """Whether the min-max ranges of ``a`` and ``b`` do not overlap: each outside the other's noise."""
    return a.high < b.low or b.high < a.low
