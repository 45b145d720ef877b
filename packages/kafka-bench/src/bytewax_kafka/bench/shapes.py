"""Load shapes as plain functions of time: how many locust users, hence what rate.

Each locust user produces at a fixed per-user rate, so a shape is a user
count over time (locust's ``LoadTestShape`` model); :mod:`.load` wraps these
in ``LoadTestShape`` classes. Kept free of locust so that importing them does
not monkey-patch the importing process with gevent.

- ``steady``: ``users`` for the whole duration.
- ``ramp``: from ``ramp_start * users`` up to ``users``, linearly over the
  duration (a latency-vs-rate sweep in one run).
- ``spike``: ``users``, then ``spike_factor * users`` for ``spike_seconds``
  from mid-run, then ``users`` again.

Example:
    >>> s = ShapeSpec("spike", users=10, duration=10.0, spike_factor=3.0, spike_seconds=2.0)
    >>> [s.users_at(t) for t in (0, 3.5, 5.5, 8)]
    [10, 10, 30, 10]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["PER_USER_RATE", "RAMP_STEPS", "ShapeSpec", "default_users"]

#: Messages per second one locust user offers by default (it sends them in
#: small batches on a schedule).
PER_USER_RATE = 10_000


#: Users (hence rate steps) a ramp has at least, so that it climbs in small steps.
RAMP_STEPS = 10


def default_users(rate: int, shape: str = "steady") -> int:
    """Users for a rate: one per :data:`PER_USER_RATE` msg/s, at least one (a ramp: :data:`RAMP_STEPS`)."""
    users = max(1, math.ceil(rate / PER_USER_RATE))
    return max(users, RAMP_STEPS) if shape == "ramp" else users


@dataclass(frozen=True)
class ShapeSpec:
    """A load shape: user count as a function of seconds since the start."""

    kind: str
    users: int
    duration: float
    ramp_start: float = 0.1
    spike_factor: float = 2.0
    spike_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in ("steady", "ramp", "spike"):
            raise ValueError(f"unknown shape {self.kind!r}; use steady, ramp or spike")
        if self.users < 1 or self.duration <= 0:
            raise ValueError("a shape needs users >= 1 and duration > 0")

    @property
    def spike_start(self) -> float:
        """Seconds from the start at which the spike begins (mid-run)."""
        return max(0.0, (self.duration - self.spike_seconds) / 2)

    def users_at(self, t: float) -> int:
        """Users wanted at ``t`` seconds (0 at and after the end)."""
        if t < 0 or t >= self.duration:
            return 0
        if self.kind == "steady":
            return self.users
        if self.kind == "ramp":
            lo = max(1, round(self.users * self.ramp_start))
            return max(1, round(lo + (self.users - lo) * t / self.duration))
        if self.spike_start <= t < self.spike_start + self.spike_seconds:
            return max(self.users, round(self.users * self.spike_factor))
        return self.users

    def peak_users(self) -> int:
        """The most users the shape ever wants."""
        if self.kind == "spike":
            return max(self.users, round(self.users * self.spike_factor))
        return self.users
