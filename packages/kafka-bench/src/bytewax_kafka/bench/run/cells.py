"""One cell, by mode: fresh topics, input, the flow as its own process(es), the output read back.

Per cell (see :func:`run_cell`):

1. Two fresh topics (uuid names) with the cell's partition count.
2. **max-rate**: the input is pre-filled, then the flow starts (``tail=True``)
   and runs until every message came out. **fixed-rate**: the flow starts, a
   probe per partition proves it reads them all, then locust offers the
   cell's rate for its duration. **backlog-drain**: the input is pre-filled
   (the backlog), locust starts offering the rate, then the flow starts and
   must drain the backlog while the rate keeps coming. **max-sustainable**:
   see :mod:`.search`.
3. A reader thread consumes the output from the start, decoding each
   message's send time and sequence number; a cell whose output misses a
   message fails (it is never silently timed).
4. The flow's processes are stopped (SIGTERM, then SIGKILL); the topics are
   deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bytewax_kafka.bench.define.cell import LOAD_LIMIT, Cell, CellResult, cell_timeout
from bytewax_kafka.bench.errors import CellFailed
from bytewax_kafka.bench.payload import codec_for
from bytewax_kafka.bench.run.brokers import Target
from bytewax_kafka.bench.run.context import CellRun
from bytewax_kafka.bench.run.environment import loadavg
from bytewax_kafka.bench.run.feed import (
    create_topics,
    delete_topics,
    prefill,
    wait_for_output,
    wait_until_reading,
)
from bytewax_kafka.bench.run.loadgen import LoadRun, run_load
from bytewax_kafka.bench.run.measure import (
    busy_cpu,
    latency_metrics,
    live_window,
    run_queue,
    throughput_metrics,
    window_notice,
)
from bytewax_kafka.bench.run.processes import FlowProcesses
from bytewax_kafka.bench.run.progress import Progress, QuietProgress
from bytewax_kafka.bench.run.reader import Reader
from bytewax_kafka.bench.run.search import max_sustainable

__all__ = ["run_cell"]

#: Messages of a max-rate cell when neither the scenario nor a probe gives a count.
DEFAULT_MESSAGES = 300_000


def _max_rate(run: CellRun, messages: int | None) -> dict[str, Any]:
    c, r = run.cell, run.reader
    n = messages or c.messages or DEFAULT_MESSAGES
    prefill_s = prefill(run.target.bootstrap, run.src, c, n, run.progress)
    r.start()
    run.flow.start()
    wait_for_output(r, run.flow, n, run.deadline, run.progress)
    run.finish_flow()
    m = throughput_metrics(r.created_ms, r.arrived, c, run.flow.started)
    created = sorted(r.created_ms)
    t0, t1 = created[0] / 1000.0, created[-1] / 1000.0
    m.update(busy_cpu(run.flow.samples, t0, t1, len(created)))
    m.update(run_queue(run.flow.samples, t0, t1))
    m["prefill_s"] = round(prefill_s, 3)
    m["expected"] = n
    return m


def _live_window(run: CellRun, start_ns: int, end_ns: int, warmup: float | str) -> dict[str, Any]:
    """Latency, busy CPU and run-queue time of what was sent in ``[start, end)`` after the warm-up."""
    n = len(run.reader.arrived)
    return live_window(
        run.reader.sent[:n], run.reader.arrived[:n], run.flow.samples, start_ns, end_ns, warmup
    )


def _fixed_rate(run: CellRun, messages: int | None) -> dict[str, Any]:
    c, r = run.cell, run.reader
    r.start()
    run.flow.start()
    wait_until_reading(run.target.bootstrap, run.src, c, r, run.flow, run.deadline, run.progress)
    load = run_load(run.target.bootstrap, run.src, c, run.log_dir, run.progress, run.flow)
    run.result.load = load
    expected = int(load["delivered"])
    wait_for_output(r, run.flow, expected, run.deadline, run.progress, phase="draining")
    run.finish_flow()
    m = throughput_metrics(r.created_ms, r.arrived, c, run.flow.started)
    m.update(_live_window(run, int(load["start_ns"]), int(load["end_ns"]), c.warmup))
    m["offered_msgs_per_s"] = c.rate
    m["sent_msgs_per_s"] = load.get("sent_msgs_per_s")
    m["expected"] = expected
    return m


def _backlog_drain(run: CellRun, messages: int | None) -> dict[str, Any]:
    c, r = run.cell, run.reader
    backlog = c.messages or 0
    prefill(run.target.bootstrap, run.src, c, backlog, run.progress, backlog=True)
    r.start()
    load = LoadRun(run.target.bootstrap, run.src, c, run.log_dir)
    load.start()
    try:
        time.sleep(0.2)  # the live rate is flowing before the flow starts
        run.flow.start()
    except BaseException:
        load.kill()
        raise
    summary = load.watch(
        run.flow, run.progress, lambda: ("draining backlog", len(r.backlog_arrived), backlog)
    )
    run.result.load = summary
    expected = backlog + int(summary["delivered"])
    wait_for_output(r, run.flow, expected, run.deadline, run.progress, phase="draining")
    run.finish_flow()
    first_out = min(r.arrived)
    last_backlog = max(r.backlog_arrived)
    drain_s = (last_backlog - first_out) / 1e9
    out_in_drain = sum(1 for a in r.arrived if a <= last_backlog)
    end_ns = int(summary["end_ns"])
    m: dict[str, Any] = {
        "backlog": backlog,
        "backlog_drain_s": round(drain_s, 3),
        "drain_msgs_per_s": round(out_in_drain / drain_s, 1) if drain_s > 0 else None,
        "startup_s": round(first_out / 1e9 - run.flow.started, 3),
        "offered_msgs_per_s": c.rate,
        "sent_msgs_per_s": summary.get("sent_msgs_per_s"),
        "expected": expected,
        "window_s": round(drain_s, 3),
    }
    m.update(busy_cpu(run.flow.samples, first_out / 1e9, last_backlog / 1e9, out_in_drain))
    m.update(run_queue(run.flow.samples, first_out / 1e9, last_backlog / 1e9))
    if last_backlog < end_ns - 1_000_000_000:
        after = _live_window(run, last_backlog, end_ns, 0.0)
        m["latency"] = after["latency"]
        m["latency_cdf"] = after["latency_cdf"]
        m["latency_after_drain_s"] = after["window_s"]
    else:
        run.result.notices.append(
            "the backlog outlasted the offered load: no latency after the drain (raise duration)"
        )
    m["timeline"] = latency_metrics(
        r.sent[: len(r.arrived)], r.arrived[:], int(summary["start_ns"]), end_ns, 0.0
    )["timeline"]
    return m


def _search(run: CellRun, messages: int | None) -> dict[str, Any]:
    return max_sustainable(run)


_MODES: dict[str, Callable[[CellRun, int | None], dict[str, Any]]] = {
    "max-rate": _max_rate,
    "fixed-rate": _fixed_rate,
    "backlog-drain": _backlog_drain,
    "max-sustainable": _search,
}


def run_cell(
    cell: Cell,
    target: Target,
    *,
    log_dir: Path,
    progress: Progress | None = None,
    messages: int | None = None,
) -> CellResult:
    """Run one cell on a running broker; never raises for a measurement failure.

    Args:
        cell: The cell.
        target: The broker it runs on.
        log_dir: Folder for the flow's and the load generator's logs.
        progress: Told about each phase.
        messages: A max-rate cell's message count, where the cell leaves it
            to a probe (``messages=None``).

    Returns:
        A result with status ``ok``, ``skipped`` (the broker lacks what the
        cell needs) or ``failed`` with the reason.
    """
    progress = progress or QuietProgress()
    if cell.guarantee == "exactly-once" and "transactions" not in target.features:
        return CellResult(
            cell,
            "skipped",
            reason=f"exactly-once needs Kafka transactions (read_committed); {target.kind} lacks them",
        )
    result = CellResult(cell=cell, status="failed")
    load_before = loadavg()
    src = dst = ""
    flow: FlowProcesses | None = None
    reader: Reader | None = None
    try:
        src, dst = create_topics(target.bootstrap, cell.partitions, target.replication)
        flow = FlowProcesses(cell, target.bootstrap, src, dst, log_dir)
        result.commands = [list(c) for c in flow.commands]
        result.logs = [str(p) for p in flow.logs]
        codec = codec_for(cell.serde)
        reader = Reader(
            target.bootstrap, dst, cell.partitions, codec, committed_only=cell.guarantee == "exactly-once"
        )
        deadline = time.monotonic() + cell_timeout(cell, messages)
        run = CellRun(cell, target, src, dst, flow, reader, deadline, progress, log_dir, result)
        metrics = _MODES[cell.mode](run, messages)
        expected = int(metrics["expected"])
        metrics.update(
            {
                "received": reader.unique,
                "duplicates": reader.duplicates,
                "missing": max(0, expected - reader.unique),
                "cpu_s": round(flow.cpu_s, 3),
                "cpu_us_per_msg": round(flow.cpu_s / expected * 1e6, 3) if expected else None,
                "peak_rss_mib": round(flow.peak_rss / 2**20, 1),
                "loadavg_before": load_before,
                "loadavg_after": loadavg(),
            }
        )
        result.metrics = metrics
        result.status = "ok"
        for notice in (window_notice(metrics.get("window_s"), cell), _load_notice(load_before)):
            if notice:
                result.notices.append(notice)
    except CellFailed as exc:
        result.reason = str(exc)
        if reader is not None:
            result.metrics.update({"received": reader.unique, "duplicates": reader.duplicates})
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        result.reason = f"{type(exc).__name__}: {exc}"
    finally:
        if flow is not None:
            flow.stop()
        if reader is not None and reader.is_alive():
            reader.stop()
        if src and dst:
            delete_topics(target.bootstrap, [src, dst])
    return result


def _load_notice(load: float | None) -> str | None:
    if load is None or load <= LOAD_LIMIT:
        return None
    return (
        f"started at a load average of {load:.1f} (above {LOAD_LIMIT:g}): other work competed for the cores"
    )
