"""Many cells: broker by broker, a warm-up after each start, message counts sized from a probe.

For each broker the scenario names (in order of first use):

1. Resolve it (``auto`` -> Apache Kafka, or Tansu with a notice) and start it.
2. A warm-up: rounds of ``broker_warmup`` seconds of fixed-rate load through
   the raw loop, untimed, until the p99 latency of a round's last seconds is
   under :data:`SETTLED_P99_MS` or has stopped falling (at most
   :data:`WARMUP_ROUNDS` rounds; a notice says so if it never settled): the first fixed-rate cell after a
   broker start sees 0.1-1 s of latency for several seconds, whichever
   variant runs it.
3. Each cell in turn. A max-rate cell without a message count first gets a
   probe (once per configuration and variant): a short run whose rate sizes
   the real cells for ``min_window`` seconds of steady state. A sized cell
   that still measured for less runs once more with a count sized from its
   own rate (kept for the later repetitions).

A broker that cannot run here (no Docker for ``redpanda``, ...) marks its
cells ``skipped`` with the reason. Every flow and load process is gone when
:func:`run_cells` returns, or raises (``KeyboardInterrupt`` after
:func:`~bytewax_kafka.bench.run.processes.request_stop`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bytewax_kafka.bench.define.cell import Cell, CellResult, group_key, probe_messages
from bytewax_kafka.bench.define.variants import variant_label
from bytewax_kafka.bench.run.brokers import TANSU_LATENCY_CONSUMER, Target, resolve_broker, started
from bytewax_kafka.bench.run.cells import DEFAULT_MESSAGES, run_cell
from bytewax_kafka.bench.run.processes import check_stop, kill_children
from bytewax_kafka.bench.run.progress import Progress, QuietProgress

__all__ = ["PROBE_MESSAGES", "RunRecord", "run_cells"]

#: Messages of the probe that sizes a max-rate cell.
PROBE_MESSAGES = 100_000
#: Warm-up rounds at most after a broker start; and the p99 latency (ms) over the last
#: seconds of a round below which the broker counts as settled. Seen on Apache Kafka:
#: 10 s after a start the raw loop's p99 was still 2.4 s, and the first cell after it
#: saw 0.2-0.9 s of latency for 7 s.
WARMUP_ROUNDS = 4
SETTLED_P99_MS = 100.0
#: A round whose tail is at least this share of the round before has stopped falling.
SETTLED_SHARE = 0.75
#: Seconds at the end of a warm-up round that decide whether the broker has settled.
SETTLE_SECONDS = 3


def _settled_p99(timeline: list[dict[str, Any]]) -> float | None:
    """The highest per-second p99 over the last :data:`SETTLE_SECONDS` of a timeline (None if too short)."""
    last = [t.get("p99_ms") for t in timeline[-SETTLE_SECONDS:]]
    if len(last) < SETTLE_SECONDS or any(v is None for v in last):
        return None
    return float(max(v for v in last if v is not None))


def _settled(tail: float | None, previous: float | None) -> bool:
    """Whether a warm-up round's tail latency says the broker has settled.

    Settled: under :data:`SETTLED_P99_MS`, or no longer falling (within
    :data:`SETTLED_SHARE` of the round before: a broker whose latency is
    high by nature, like Tansu's, would otherwise always take every round).
    """
    if tail is None:
        return False
    if tail <= SETTLED_P99_MS:
        return True
    return previous is not None and tail >= previous * SETTLED_SHARE


@dataclass
class RunRecord:
    """What a run produced besides its cells: brokers, notices, warm-ups and probes."""

    results: list[CellResult] = field(default_factory=list)
    brokers: dict[str, dict[str, Any]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    warmups: list[dict[str, Any]] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)


def run_cells(
    cells: list[Cell],
    *,
    log_dir: Path,
    progress: Progress | None = None,
    on_result: Callable[[CellResult], None] | None = None,
    brokers: Mapping[str, Any] | None = None,
    broker_warmup: float = 10.0,
) -> RunRecord:
    """Run ``cells`` (see the module docstring).

    Args:
        cells: In run order (:func:`~bytewax_kafka.bench.define.matrix.expand`).
        log_dir: Folder for the flows' and load generators' logs.
        progress: Told about every cell.
        on_result: Called with each result as it comes.
        brokers: Brokers already running, by spec: used instead of starting one.
        broker_warmup: Seconds of untimed load after each broker start (0: none).
    """
    loop = _Loop(cells, log_dir, progress or QuietProgress(), on_result, broker_warmup)
    try:
        for spec in loop.order:
            check_stop()
            loop.broker(spec, brokers)
    finally:
        kill_children()
    return loop.record


class _Loop:
    def __init__(
        self,
        cells: list[Cell],
        log_dir: Path,
        progress: Progress,
        on_result: Callable[[CellResult], None] | None,
        broker_warmup: float,
    ) -> None:
        self.cells = cells
        self.log_dir = log_dir
        self.progress = progress
        self.on_result = on_result
        self.broker_warmup = broker_warmup
        self.record = RunRecord()
        self.order: list[str] = []
        self.sizes: dict[str, int] = {}
        for c in cells:
            if c.broker not in self.order:
                self.order.append(c.broker)

    def _notice(self, text: str) -> None:
        if text not in self.record.notices:
            self.record.notices.append(text)
            self.progress.notice(text)

    def _record(self, c: Cell, r: CellResult) -> None:
        self.record.results.append(r)
        self.progress.cell_finished(c, r)
        if self.on_result:
            self.on_result(r)

    def _start(self, c: Cell) -> None:
        self.progress.cell_started(c, len(self.record.results) + 1, len(self.cells))

    def broker(self, spec: str, running: Mapping[str, Any] | None) -> None:
        from bytewax_kafka.testing import BrokerUnavailable

        mine = [c for c in self.cells if c.broker == spec]
        done: set[str] = set()
        kind, notice = resolve_broker(spec)
        if notice:
            self._notice(notice)
        self.progress.log(f"starting broker {kind}" + (" (auto)" if spec == "auto" else ""))
        try:
            with started(kind, running) as target:
                info = {**target.info(), "spec": spec, "resolved": kind}
                self.record.brokers[spec] = info
                self.progress.log(f"broker ready: {target.describe}")
                if target.kind == "tansu" and any(c.mode != "max-rate" for c in mine):
                    self._notice(
                        "on Tansu every variant's consumer gets fetch.wait.max.ms=10 in cells that offer a "
                        "rate (Tansu holds each fetch that long even when data is there)"
                    )
                self._warm_up(mine, target)
                for c in mine:
                    check_stop()
                    cell = self._on(c, kind, target)
                    self._start(cell)
                    n = self._size(cell, target)
                    r = run_cell(cell, target, log_dir=self.log_dir, progress=self.progress, messages=n)
                    check_stop()  # an interrupted cell is not a result
                    if n is not None:
                        r = self._again_if_short(cell, target, n, r)
                    r.broker = info
                    done.add(c.id)
                    self._record(cell, r)
        except BrokerUnavailable as exc:
            self.record.brokers[spec] = {
                "spec": spec,
                "kind": kind,
                "describe": None,
                "unavailable": str(exc),
            }
            for c in mine:
                if c.id not in done:
                    self._start(c)
                    self._record(c, CellResult(c, "skipped", reason=f"broker {kind} unavailable: {exc}"))
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            check_stop()
            self.record.brokers.setdefault(spec, {"spec": spec, "kind": kind, "describe": None})
            self.record.brokers[spec]["error"] = f"{type(exc).__name__}: {exc}"
            for c in mine:
                if c.id not in done:
                    self._start(c)
                    reason = f"broker {kind} failed: {type(exc).__name__}: {exc}"
                    self._record(c, CellResult(c, "failed", reason=reason))

    def _on(self, c: Cell, kind: str, target: Target) -> Cell:
        """The cell as it runs on this broker: the resolved broker named, Tansu's fetch setting added."""
        cell = c.replace(broker=kind) if c.broker != kind else c
        if target.kind == "tansu" and c.mode != "max-rate":
            wanted = {**TANSU_LATENCY_CONSUMER, **(c.consumer_config or {})}
            if wanted != c.consumer_config:
                cell = cell.replace(consumer_config=wanted)
        return cell

    def _warm_up(self, cells: list[Cell], target: Target) -> None:
        """Untimed load through the raw loop until the broker's latency has settled (or rounds run out)."""
        if self.broker_warmup <= 0 or not cells:
            return
        first = cells[0]
        rate = min(10_000, first.rate or 10_000)
        warm = first.replace(
            id="warm-up",
            matrix="warm-up",
            broker=target.kind,
            variant="raw",
            mode="fixed-rate",
            rate=rate,
            duration=self.broker_warmup,
            warmup=0.0,
            messages=None,
            guarantee="at-least-once",
            shape="steady",
        )
        warm = self._on(warm, target.kind, target)
        tail = previous = None
        for round_ in range(1, WARMUP_ROUNDS + 1):
            self.progress.log(
                f"warm-up {round_}: {self.broker_warmup:g} s at {rate:,} msg/s through the raw loop (untimed)"
            )
            r = run_cell(warm, target, log_dir=self.log_dir, progress=self.progress)
            lat = (r.metrics.get("latency") or {}) if r.status == "ok" else {}
            tail = _settled_p99(r.metrics.get("timeline") or []) if r.status == "ok" else None
            self.record.warmups.append(
                {
                    "broker": target.kind,
                    "round": round_,
                    "status": r.status,
                    "reason": r.reason,
                    "seconds": self.broker_warmup,
                    "rate": rate,
                    "p99_ms": lat.get("p99_ms"),
                    "max_ms": lat.get("max_ms"),
                    "last_seconds_p99_ms": tail,
                }
            )
            if r.status != "ok" or tail is None:
                return  # failed (the cells will say why), or too short a round to tell: no use repeating it
            if _settled(tail, previous):
                if tail is not None and tail > SETTLED_P99_MS:
                    self._notice(
                        f"the broker's latency stopped falling at a p99 of {tail:.0f} ms after {round_} "
                        f"warm-up rounds (more than {SETTLED_P99_MS:g} ms): latency cells on {target.kind} "
                        "measure that too"
                    )
                return
            previous = tail
        shown = f"{tail:.0f} ms" if tail is not None else "unknown"
        self._notice(
            f"the broker's latency had not settled after {WARMUP_ROUNDS} warm-up rounds (p99 "
            f"{shown} in the last seconds, more than {SETTLED_P99_MS:g} ms): the first cells on "
            f"{target.kind} may show it"
        )

    def _again_if_short(self, cell: Cell, target: Target, n: int, r: CellResult) -> CellResult:
        """Run a probe-sized cell once more, with a count sized from its own rate, if its window fell short.

        A 100,000-message probe takes a fraction of a second, so its rate can be
        far off the cell's (start-up weighs in, the machine's speed moves): the
        cell itself measured for longer tells better. The larger count is kept
        for the configuration's later repetitions.
        """
        window = r.metrics.get("window_s") if r.status == "ok" else None
        rate = r.metrics.get("msgs_per_s")
        if window is None or window >= cell.min_window or not rate:
            return r
        bigger = max(n + 10_000, probe_messages(float(rate), cell))
        self.sizes[group_key(cell.config(), drop=("id", "repetition", "matrix"))] = bigger
        self.progress.log(
            f"{cell.label()}: measured over {float(window):.2f} s, less than {cell.min_window:g} s: "
            f"once more with {bigger:,} messages"
        )
        again = run_cell(cell, target, log_dir=self.log_dir, progress=self.progress, messages=bigger)
        check_stop()
        again.notices.append(
            f"run again with {bigger:,} messages: with {n:,} (sized from the probe) it measured over "
            f"{float(window):.2f} s only"
        )
        return again

    def _size(self, cell: Cell, target: Target) -> int | None:
        """A max-rate cell's message count: its own, or sized from a probe (once per config and variant)."""
        if cell.mode != "max-rate" or cell.messages is not None:
            return None
        key = group_key(cell.config(), drop=("id", "repetition", "matrix"))
        if key in self.sizes:
            return self.sizes[key]
        probe = cell.replace(id=f"probe-{cell.id}", matrix="probe", warmup="10%", timeout=None)
        self.progress.log(
            f"probe: {PROBE_MESSAGES:,} messages through {variant_label(cell.variant)} to size its cells"
        )
        r = run_cell(probe, target, log_dir=self.log_dir, progress=self.progress, messages=PROBE_MESSAGES)
        rate = r.metrics.get("msgs_per_s") if r.status == "ok" else None
        n = probe_messages(float(rate), cell) if rate else DEFAULT_MESSAGES
        self.sizes[key] = n
        self.record.probes.append(
            {
                "label": cell.label(),
                "variant": cell.variant,
                "status": r.status,
                "reason": r.reason,
                "msgs_per_s": rate,
                "messages": n,
                "min_window_s": cell.min_window,
            }
        )
        return n
