"""Load shapes: users over time (locust's LoadTestShape model), without importing locust."""

from __future__ import annotations

import sys

import pytest

from bytewax_kafka.bench.shapes import PER_USER_RATE, ShapeSpec, default_users


def test_default_users():
    assert default_users(1) == 1
    assert default_users(PER_USER_RATE) == 1
    assert default_users(PER_USER_RATE * 5) == 5
    assert default_users(PER_USER_RATE * 5 + 1) == 6


def test_steady():
    s = ShapeSpec("steady", users=5, duration=10)
    assert [s.users_at(t) for t in (0, 5, 9.99, 10, -1)] == [5, 5, 5, 0, 0]
    assert s.peak_users() == 5


def test_ramp_rises_linearly_to_the_full_level():
    s = ShapeSpec("ramp", users=10, duration=10, ramp_start=0.1)
    values = [s.users_at(t) for t in range(10)]
    assert values[0] == 1
    assert values == sorted(values)
    assert values[-1] >= 9


def test_spike_is_centred():
    s = ShapeSpec("spike", users=4, duration=10, spike_factor=2.5, spike_seconds=2)
    assert s.spike_start == 4
    assert [s.users_at(t) for t in (0, 3.9, 4, 5.9, 6, 9)] == [4, 4, 10, 10, 4, 4]
    assert s.peak_users() == 10


def test_invalid_shapes():
    with pytest.raises(ValueError, match="unknown shape"):
        ShapeSpec("sine", users=1, duration=1)
    with pytest.raises(ValueError, match="users >= 1"):
        ShapeSpec("steady", users=0, duration=1)


def test_importing_shapes_does_not_import_locust():
    assert "locust" not in sys.modules or "bytewax_kafka.bench.load" in sys.modules


def test_a_ramp_climbs_in_small_steps():
    assert default_users(20_000, "ramp") == 10
    assert default_users(200_000, "ramp") == 20
    s = ShapeSpec("ramp", users=default_users(20_000, "ramp"), duration=10)
    assert len({s.users_at(t) for t in range(10)}) >= 8
