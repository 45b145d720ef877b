"""Load: a sustained fixed-rate run through kafka-bench; the flow's memory stays flat, its lag bounded.

The CI version of ``tests/soak.py`` (45 s at 5,000 msg/s on the session's
Apache Kafka node; the 10-minute run is ``uv run python tests/soak.py``).
kafka-bench fails the run if a message is lost; here the flow process's
resident memory must not drift, its thread count must not grow, it must keep
up with the offered rate, and the end-to-end latency (the lag, in time) must
stay bounded.
"""

from __future__ import annotations

import pytest

from faultkit import Report
from soak import run_soak

DURATION_S = 45
RATE = 5_000


@pytest.mark.slow
def test_fixed_rate_soak_keeps_memory_flat_and_lag_bounded(apache_kafka, tmp_path):
    figures = run_soak(
        duration=DURATION_S, rate=RATE, broker=f"external={apache_kafka.bootstrap_servers}", output=tmp_path
    )
    report = Report("soak-ci")
    for key, value in figures.items():
        if key != "results":
            report[key] = value
    report.show()
    assert figures["msgs_per_s"] >= 0.95 * RATE, "the flow did not keep up with the offered rate"
    assert figures["latency_max_ms"] < 10_000, "lag grew: a message took more than 10 s end to end"
    assert figures["samples"] >= DURATION_S * 0.8, "the flow process was not sampled"
    assert abs(figures["rss_drift_mib"]) < 16, "the flow's memory drifted"
    assert figures["rss_peak_mib"] < 512
    assert figures["threads_last"] <= figures["threads_steady_first"] + 2, "threads piled up"
