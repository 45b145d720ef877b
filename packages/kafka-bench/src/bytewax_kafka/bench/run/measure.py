"""Figures from what a cell read and sampled: steady-state rate, busy CPU, run-queue time, latency.

Busy CPU per message is the primary figure: the flow's CPU seconds while it
wrote its output, over the messages it wrote. Other work on a shared
machine slows the flow down (wall-clock throughput falls) far more than it
changes the CPU each message costs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bytewax_kafka.bench.define.cell import Cell, warmup_share
from bytewax_kafka.bench.latency import LatencyHistogram
from bytewax_kafka.bench.run.processes import Sample

__all__ = [
    "busy_cpu",
    "latency_metrics",
    "live_window",
    "run_queue",
    "steady_rate",
    "throughput_metrics",
    "window_notice",
]


def steady_rate(times: Sequence[float], warmup: float | str) -> tuple[float | None, int, float]:
    """Messages per second over the steady window of sorted ``times`` (seconds).

    The window starts after the warm-up (a share of the messages, or seconds
    after the first one) and ends at the last message.

    Returns:
        ``(rate, messages_in_window, window_seconds)``; rate is None when the
        window is too short to measure (under 2 messages or 1 ms).

    Example:
        >>> steady_rate([0.0, 1.0, 2.0, 3.0, 4.0], 1.0)
        (1.0, 4, 3.0)
    """
    n = len(times)
    if n < 2:
        return None, n, 0.0
    if isinstance(warmup, str):
        k = math.floor(n * float(warmup.rstrip("%")) / 100.0)
    else:
        start = times[0] + float(warmup)
        k = next((i for i, t in enumerate(times) if t >= start), n - 1)
    k = min(k, n - 2)
    window = times[-1] - times[k]
    if window < 0.001:
        return None, n - k, window
    return (n - 1 - k) / window, n - k, window


def throughput_metrics(
    created_ms: Sequence[int], arrived_ns: Sequence[int], cell: Cell, started: float
) -> dict[str, Any]:
    """msg/s and MB/s over the steady state (from producer timestamps; the reader's arrivals as a check)."""
    created = sorted(t / 1000.0 for t in created_ms)
    arrived = sorted(t / 1e9 for t in arrived_ns)
    rate, in_window, window = steady_rate(created, cell.warmup)
    reader_rate, _, _ = steady_rate(arrived, cell.warmup)
    key_bytes = 0 if cell.keys == "none" else len(b"key-00000000")
    return {
        "msgs_per_s": round(rate, 1) if rate is not None else None,
        "mb_per_s": round(rate * (cell.message_size + key_bytes) / 1e6, 3) if rate is not None else None,
        "reader_msgs_per_s": round(reader_rate, 1) if reader_rate is not None else None,
        "steady_messages": in_window,
        "window_s": round(window, 3),
        "startup_s": round(arrived[0] - started, 3) if arrived else None,
        "wall_s": round(arrived[-1] - started, 3) if arrived else None,
    }


def _cpu_at(samples: Sequence[Sample], t: float) -> float:
    prev = samples[0]
    for cur in samples[1:]:
        if cur.t >= t:
            if cur.t == prev.t:
                return cur.cpu_s
            return prev.cpu_s + (cur.cpu_s - prev.cpu_s) * (t - prev.t) / (cur.t - prev.t)
        prev = cur
    return samples[-1].cpu_s


def busy_cpu(samples: Sequence[Sample], t0: float, t1: float, messages: int) -> dict[str, Any]:
    """CPU of the flow between ``t0`` and ``t1`` (wall seconds), per message, and its share of a core.

    The flow's CPU (sampled every 50 ms) is interpolated at both ends.
    Start-up (imports, building the flow, joining the cluster) is left out
    when the window starts at the first output. Needs a window of a few
    hundred milliseconds to mean anything (CPU time is counted in ticks).
    """
    wall = t1 - t0
    if len(samples) < 2 or messages < 2 or wall < 0.2:
        return {}
    cpu = _cpu_at(samples, t1) - _cpu_at(samples, t0)
    if cpu <= 0:
        return {}
    return {
        "busy_cpu_s": round(cpu, 3),
        "busy_cpu_us_per_msg": round(cpu / messages * 1e6, 3),
        "msgs_per_cpu_s": round(messages / cpu, 1),
        "busy_core_share": round(cpu / wall, 3),
    }


def _nearest(samples: Sequence[Sample], t: float) -> Sample:
    return min(samples, key=lambda s: abs(s.t - t))


def run_queue(samples: Sequence[Sample], t0: float, t1: float) -> dict[str, Any]:
    """The flow thread's time on a core and waiting for one (Linux schedstat), between ``t0`` and ``t1``.

    The flow thread is the thread that ran most in the window (a Bytewax
    worker, or the raw loop's main thread). Its ``run_queue_share`` is the
    share of the window it spent runnable but waiting for a core: other work
    competing for the machine. Empty where schedstat is not readable.
    """
    if len(samples) < 2 or t1 - t0 < 0.2:
        return {}
    a, b = _nearest(samples, t0), _nearest(samples, t1)
    wall_ns = (b.t - a.t) * 1e9
    if wall_ns <= 0 or not a.sched or not b.sched:
        return {}
    best: tuple[int, int] | None = None
    for key, (on1, wait1) in b.sched.items():
        on0, wait0 = a.sched.get(key, (0, 0))
        delta = (on1 - on0, wait1 - wait0)
        if best is None or delta[0] > best[0]:
            best = delta
    if best is None:
        return {}
    on, wait = best
    return {
        "flow_thread_core_share": round(on / wall_ns, 3),
        "run_queue_share": round(wait / wall_ns, 3),
        "run_queue_ms": round(wait / 1e6, 1),
    }


def latency_metrics(
    sent: Sequence[int], arrived: Sequence[int], start_ns: int, end_ns: int, warmup: float | str
) -> dict[str, Any]:
    """Latency (arrival - intended send time) of what was sent after the warm-up; a per-second timeline."""
    span = (end_ns - start_ns) / 1e9
    cut = start_ns + int(warmup_share(warmup, span) * span * 1e9)
    hist = LatencyHistogram()
    per_second: dict[int, list[int]] = {}
    for t, a in zip(sent, arrived, strict=True):
        if t < start_ns:
            continue  # pre-filled or probe traffic before the load began
        lat = a - t
        per_second.setdefault(int((t - start_ns) // 1_000_000_000), []).append(lat)
        if t >= cut:
            hist.record_ns(lat)
    timeline = []
    for sec in sorted(per_second):
        lats = sorted(per_second[sec])
        timeline.append(
            {
                "t": sec,
                "messages": len(lats),
                "p50_ms": round(lats[len(lats) // 2] / 1e6, 3),
                "p99_ms": round(lats[min(len(lats) - 1, int(len(lats) * 0.99))] / 1e6, 3),
                "max_ms": round(lats[-1] / 1e6, 3),
            }
        )
    return {
        "latency": hist.summary(),
        "latency_cdf": hist.cdf(),
        "latency_hdr": hist.encode(),
        "latency_warmup_s": round((cut - start_ns) / 1e9, 3),
        "window_s": round((end_ns - cut) / 1e9, 3),
        "timeline": timeline,
    }


def live_window(
    sent: Sequence[int],
    arrived: Sequence[int],
    samples: Sequence[Sample],
    start_ns: int,
    end_ns: int,
    warmup: float | str,
) -> dict[str, Any]:
    """Latency, busy CPU and run-queue time of the messages sent in ``[start, end)`` after the warm-up."""
    m = latency_metrics(sent, arrived, start_ns, end_ns, warmup)
    span = end_ns - start_ns
    cut = start_ns + int(warmup_share(warmup, span / 1e9) * span)
    count = sum(1 for t in sent if cut <= t < end_ns)
    m.update(busy_cpu(samples, cut / 1e9, end_ns / 1e9, count))
    m.update(run_queue(samples, cut / 1e9, end_ns / 1e9))
    return m


def window_notice(window_s: float | None, cell: Cell) -> str | None:
    """A warning when a cell measured for less than its ``min_window``, else None."""
    if window_s is None or window_s >= cell.min_window:
        return None
    return (
        f"measured over {window_s:.2f} s, less than the minimum of {cell.min_window:g} s: "
        "start-up and flush tails weigh more than they should (raise messages or duration)"
    )
