"""Max sustainable rate: the highest offered rate at which the flow keeps up, and its latency there.

As OpenMessaging Benchmark's rate search does: one flow keeps running while
locust offers a rate for ``duration`` seconds per step. A step is *kept up*
when the generator really sent what it offered (else the generator is the
limit and the search stops, saying so), every message it sent came out
within a short drain (``max(1 s, duration / 2)``) after it stopped, and the
p99 latency of the step (its first 20% excluded) stayed under
``sustain_p99_ms``. The rate doubles from ``rate`` until a step is missed
(or ``search_limit`` is reached), then ``search_steps`` bisections narrow
it down.
"""

from __future__ import annotations

import time
from typing import Any

from bytewax_kafka.bench.errors import CellFailed
from bytewax_kafka.bench.run.context import CellRun
from bytewax_kafka.bench.run.feed import wait_for_output, wait_until_reading
from bytewax_kafka.bench.run.loadgen import LoadRun
from bytewax_kafka.bench.run.measure import live_window

__all__ = ["max_sustainable", "next_rate"]

#: A step's generator must send at least this share of the offered rate.
GENERATOR_SHARE = 0.95
#: Each step's sequence numbers start at ``step << STEP_SHIFT`` (below the backlog and probe bits).
STEP_SHIFT = 52
#: Seconds a missed step's backlog may take to drain before the next step.
DRAIN_LIMIT = 60.0


def next_rate(rate: int, good: int | None, bad: int | None) -> int:
    """The rate to try after ``rate``: double while nothing was missed, else halfway between.

    Example:
        >>> next_rate(10_000, 10_000, None), next_rate(40_000, 20_000, 40_000)
        (20000, 30000)
        >>> next_rate(10_000, None, 10_000)
        5000
    """
    if bad is None:
        return rate * 2
    if good is None:
        return max(1, bad // 2)
    return (good + bad) // 2


def _step(run: CellRun, rate: int, index: int, delivered_before: int) -> dict[str, Any]:
    c, r = run.cell, run.reader
    load = LoadRun(
        run.target.bootstrap,
        run.src,
        c,
        run.log_dir,
        rate=rate,
        tag=f"-step{index}",
        seq_base=index << STEP_SHIFT,
    )
    load.start()
    summary = load.watch(
        run.flow,
        run.progress,
        lambda: (f"step {index} at {rate:,} msg/s", int(load.elapsed), int(load.duration)),
    )
    expected = delivered_before + int(summary["delivered"])
    drain = max(1.0, load.duration / 2)
    t_end = time.monotonic() + drain
    while r.unique < expected and time.monotonic() < t_end:
        run.flow.sample()
        time.sleep(0.05)
    drained = r.unique >= expected
    n = len(r.arrived)
    window = live_window(
        r.sent[:n], r.arrived[:n], run.flow.samples, int(summary["start_ns"]), int(summary["end_ns"]), "20%"
    )
    p99 = window["latency"].get("p99_ms")
    sent_rate = float(summary.get("sent_msgs_per_s") or 0.0)
    generator_ok = sent_rate >= GENERATOR_SHARE * rate
    kept_up = generator_ok and drained and p99 is not None and p99 <= c.sustain_p99_ms
    return {
        "rate": rate,
        "sent_msgs_per_s": sent_rate,
        "delivered": int(summary["delivered"]),
        "expected_total": expected,
        "drained": drained,
        "generator_ok": generator_ok,
        "kept_up": kept_up,
        "latency": window["latency"],
        "latency_cdf": window["latency_cdf"],
        "busy_cpu_us_per_msg": window.get("busy_cpu_us_per_msg"),
        "busy_core_share": window.get("busy_core_share"),
        "run_queue_share": window.get("run_queue_share"),
        "flow_thread_core_share": window.get("flow_thread_core_share"),
        "window_s": window["window_s"],
    }


def max_sustainable(run: CellRun) -> dict[str, Any]:
    """Search the rate (see the module docstring); the best kept-up step's figures.

    Raises:
        CellFailed: When the flow died, or even the lowest rate tried was not kept up.
    """
    c, r = run.cell, run.reader
    r.start()
    run.flow.start()
    wait_until_reading(run.target.bootstrap, run.src, c, r, run.flow, run.deadline, run.progress)
    rate = int(c.rate or 10_000)
    good: int | None = None
    bad: int | None = None
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    bisections = 0
    delivered = 0
    for index in range(1, 4 * c.search_steps + 12):
        step = _step(run, rate, index, delivered)
        delivered = step["expected_total"]
        steps.append(step)
        if not step["generator_ok"]:
            run.result.notices.append(
                f"the load generator sent {step['sent_msgs_per_s']:,.0f} of {rate:,} msg/s: the search "
                "stopped at the generator's ceiling, not the flow's"
            )
            break
        if step["kept_up"]:
            good = rate
            best = step
        else:
            bad = rate
        if not step["drained"]:
            wait_for_output(r, run.flow, delivered, time.monotonic() + DRAIN_LIMIT, run.progress, "draining")
        if bad is not None:
            if good is not None:
                bisections += 1
            if bisections >= c.search_steps or (good is None and rate <= 100):
                break
        rate = next_rate(rate, good, bad)
        if good is not None and bad is not None and bad - good <= max(100, good // 50):
            break
        if c.search_limit is not None and rate > c.search_limit:
            if good == c.search_limit or bad is not None:
                if bad is None:
                    run.result.notices.append(f"kept up at the search limit of {c.search_limit:,} msg/s")
                break
            rate = c.search_limit
    run.finish_flow()
    run.result.steps = steps
    if best is None:
        raise CellFailed(
            f"no offered rate was kept up (lowest tried {min(s['rate'] for s in steps):,} msg/s)"
        )
    return {
        "max_sustainable_msgs_per_s": best["rate"],
        "msgs_per_s": best["sent_msgs_per_s"],
        "latency": best["latency"],
        "latency_cdf": best["latency_cdf"],
        "busy_cpu_us_per_msg": best["busy_cpu_us_per_msg"],
        "busy_core_share": best["busy_core_share"],
        "run_queue_share": best["run_queue_share"],
        "flow_thread_core_share": best["flow_thread_core_share"],
        "window_s": best["window_s"],
        "search_steps_run": len(steps),
        "expected": delivered,
    }
