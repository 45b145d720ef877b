"""Run cells: broker, fresh topics, input, the flow as its own process(es), the output read back.

Per cell (see :func:`run_cell`):

1. Two fresh topics (uuid names) with the cell's partition count.
2. Max-rate: the input is pre-filled with the cell's message count, then the
   flow starts (``tail=True``) and runs until every message came out.
   Fixed-rate: the flow starts, a probe message proves it is reading, then
   locust offers the cell's rate for its duration (:mod:`.load`).
3. A reader thread consumes the output topic from the start, decoding each
   message's send time and sequence number; a cell whose output misses a
   message fails (it is never silently timed).
4. The flow's processes are stopped (SIGTERM, then SIGKILL) and reaped with
   ``wait4``, which gives their CPU time; the topics are deleted.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from bytewax_kafka.bench.flows import FLOW_FACTORIES
from bytewax_kafka.bench.latency import LatencyHistogram
from bytewax_kafka.bench.matrix import Cell
from bytewax_kafka.bench.payload import HEADER, Codec, KeyChooser, codec_for

__all__ = ["PROBE_BIT", "CellResult", "Progress", "QuietProgress", "run_cell", "run_cells"]

#: Sequence numbers with this bit set are probes, not counted.
PROBE_BIT = 1 << 62
#: Seconds without a new output message before a cell is declared stalled.
STALL_SECONDS = 30.0
#: Seconds the flow may take to produce its first output.
STARTUP_SECONDS = 90.0


#: Child processes (flows, load generators) still running, each in its own
#: session: killed by :func:`kill_children` when a run is interrupted.
_LIVE: set[subprocess.Popen[bytes]] = set()
#: Set by :func:`request_stop` (a signal handler): stop after the current step.
_STOP_REQUESTED = threading.Event()


def request_stop() -> None:
    """Ask the running cells to stop (from a signal handler); the run ends as interrupted."""
    _STOP_REQUESTED.set()


def kill_children() -> None:
    """SIGKILL every flow and load process group still running."""
    for p in list(_LIVE):
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        _LIVE.discard(p)


def _check_stop() -> None:
    if _STOP_REQUESTED.is_set():
        raise KeyboardInterrupt


class Progress(Protocol):
    """What the runner tells about its progress."""

    def cell_started(self, cell: Cell, index: int, total: int) -> None:
        """A cell begins."""

    def cell_progress(self, phase: str, done: int, total: int | None) -> None:
        """Within a cell: ``phase`` (prefill, starting, running, load, draining) and counts."""

    def cell_finished(self, cell: Cell, result: CellResult) -> None:
        """A cell ended (ok, failed or skipped)."""

    def log(self, message: str) -> None:
        """A line worth showing (broker started, ...)."""


class QuietProgress:
    """A :class:`Progress` that prints nothing."""

    def cell_started(self, cell: Cell, index: int, total: int) -> None:
        """Do nothing."""

    def cell_progress(self, phase: str, done: int, total: int | None) -> None:
        """Do nothing."""

    def cell_finished(self, cell: Cell, result: CellResult) -> None:
        """Do nothing."""

    def log(self, message: str) -> None:
        """Do nothing."""


@dataclass
class CellResult:
    """The outcome of one cell: status, reason, metrics and what locust reported."""

    cell: Cell
    status: str  # ok | failed | skipped
    reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] | None = None
    broker: dict[str, Any] | None = None
    commands: list[list[str]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (config, status, metrics, load, broker, commands, logs)."""
        return {
            "id": self.cell.id,
            "config": self.cell.config(),
            "status": self.status,
            "reason": self.reason,
            "broker": self.broker,
            "metrics": self.metrics,
            "load": self.load,
            "commands": self.commands,
            "logs": self.logs,
        }


class CellFailed(Exception):
    """A cell could not be measured; the message says why."""


# -- the output side ----------------------------------------------------------------


class Reader(threading.Thread):
    """Consume a topic from its start, recording each message's send time, arrival and sequence.

    Arrival is the wall-clock time (ns) just after the ``consume`` call that
    returned the message; the producer's timestamp (ms) is kept as well.
    """

    def __init__(self, bootstrap: str, topic: str, partitions: int, codec: Codec) -> None:
        super().__init__(name=f"reader-{topic}", daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 5,
                "fetch.queue.backoff.ms": 1,
            }
        )
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        self.codec = codec
        self.sent = array("q")
        self.arrived = array("q")
        self.created_ms = array("q")
        self.seen: set[int] = set()
        self.duplicates = 0
        self.probes = 0
        #: Input partitions whose probe came out (probe sequence numbers carry it).
        self.probe_partitions: set[int] = set()
        self.errors: list[str] = []
        self.last_arrival = 0.0
        self._halt = threading.Event()

    @property
    def unique(self) -> int:
        """Distinct (non-probe) messages read so far."""
        return len(self.seen)

    def run(self) -> None:
        """Read until :meth:`stop`."""
        raw = self.codec.name == "none"
        unpack = HEADER.unpack_from
        decode = self.codec.decode
        sent, arrived, created = self.sent.append, self.arrived.append, self.created_ms.append
        seen = self.seen
        try:
            while not self._halt.is_set():
                msgs = self.consumer.consume(10_000, 0.001)
                if not msgs:
                    continue
                now = time.time_ns()
                for m in msgs:
                    err = m.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            self.errors.append(str(err))
                        continue
                    v: Any = m.value()
                    t, seq = unpack(v) if raw else decode(v)
                    if seq & PROBE_BIT:
                        self.probes += 1
                        self.probe_partitions.add((seq >> 20) & 0xFFFF)
                        continue
                    if seq in seen:
                        self.duplicates += 1
                        continue
                    seen.add(seq)
                    sent(t)
                    arrived(now)
                    created(m.timestamp()[1])
                self.last_arrival = time.monotonic()
        except Exception as exc:  # reported by the cell, never lost in a thread
            self.errors.append(f"reader failed: {type(exc).__name__}: {exc}")
        finally:
            self.consumer.close()

    def stop(self) -> None:
        """Stop reading and close the consumer."""
        self._halt.set()
        self.join(timeout=10)


# -- the flow under test --------------------------------------------------------------


def _free_ports(n: int) -> list[int]:
    from bytewax_kafka.testing.ports import free_ports

    return free_ports(n)


class FlowProcesses:
    """The flow's process(es), each in its own process group, logging to a file."""

    def __init__(self, cell: Cell, bootstrap: str, src: str, dst: str, log_dir: Path) -> None:
        self.cell = cell
        self.commands: list[list[str]] = []
        self.logs: list[Path] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.cpu_user = 0.0
        self.cpu_sys = 0.0
        self.started = 0.0
        env = {
            **os.environ,
            "BENCH_BOOTSTRAP": bootstrap,
            "BENCH_INPUT": src,
            "BENCH_OUTPUT": dst,
            "BENCH_BATCH_SIZE": str(cell.batch_size),
            "BENCH_SERDE": cell.serde,
            "BENCH_PARTITIONS": str(cell.partitions),
            "BENCH_CONSUMER_CONFIG": json.dumps(cell.consumer_config or {}),
            "BENCH_PRODUCER_CONFIG": json.dumps(cell.producer_config or {}),
            "BENCH_GC_THRESHOLD": "" if cell.gc_threshold is None else str(cell.gc_threshold),
            "PYTHONUNBUFFERED": "1",
        }
        n = cell.processes
        self.envs: list[dict[str, str]] = []
        if cell.variant == "raw":
            for i in range(n):
                self.commands.append([sys.executable, "-m", "bytewax_kafka.bench.raw"])
                self.envs.append({**env, "BENCH_PROCESS_INDEX": str(i), "BENCH_PROCESSES": str(n)})
        else:
            base = [
                sys.executable,
                "-m",
                "bytewax.run",
                FLOW_FACTORIES[cell.variant],
                "-w",
                str(cell.workers),
            ]
            if n == 1:
                self.commands.append(base)
                self.envs.append(env)
            else:
                addrs = ";".join(f"127.0.0.1:{p}" for p in _free_ports(n))
                for i in range(n):
                    self.commands.append([*base, "-i", str(i), "-a", addrs])
                    self.envs.append(env)
        for i in range(len(self.commands)):
            suffix = f"-{i}" if len(self.commands) > 1 else ""
            self.logs.append(log_dir / f"{cell.id}-{cell.variant}{suffix}.log")

    def start(self) -> None:
        """Launch every process."""
        self.started = time.time()
        for cmd, env, log in zip(self.commands, self.envs, self.logs, strict=True):
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            self.procs.append(proc)
            _LIVE.add(proc)

    def cpu_now(self) -> float:
        """CPU seconds (user + system, all threads) of the flow's processes so far."""
        total = self.cpu_user + self.cpu_sys
        for p in self.procs:
            if p.returncode is None:
                total += _proc_cpu(p.pid)
        return total

    def dead(self) -> str | None:
        """Why a process has exited already (with its log's tail), else None."""
        for p, log in zip(self.procs, self.logs, strict=False):
            self._try_reap(p)
            if p.returncode is not None:
                return f"flow process exited early with code {p.returncode}; log {log}:\n{_tail(log)}"
        return None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM every process group, SIGKILL what is left after ``grace``; sum their CPU time."""
        for p in self.procs:
            if p.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.procs:
            while not self._try_reap(p):
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(p.pid, signal.SIGKILL)
                    deadline = time.monotonic() + 10
                time.sleep(0.02)

    def _try_reap(self, p: subprocess.Popen[bytes]) -> bool:
        """Reap ``p`` if it has exited (``wait4``, adding its CPU time); True once reaped."""
        if p.returncode is not None:
            return True
        try:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: its CPU time is unknown
            p.returncode = -1
            return True
        if pid == 0:
            return False
        _LIVE.discard(p)
        self.cpu_user += usage.ru_utime
        self.cpu_sys += usage.ru_stime
        p.returncode = os.waitstatus_to_exitcode(status)
        return True


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float:
    """Utime + stime of a live process from ``/proc`` (0 where unreadable)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "<no log>"
    return "\n".join(text.splitlines()[-lines:])


# -- input ----------------------------------------------------------------------------


def prefill(bootstrap: str, topic: str, cell: Cell, progress: Progress) -> float:
    """Produce the cell's messages (send time now, sequence 0..N-1); returns seconds taken."""
    n = cell.messages or 0
    codec = codec_for(cell.serde)
    keys = KeyChooser(cell.keys, cell.key_space, seed=1)
    failures: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            "partitioner": "murmur2_random",
            "on_delivery": on_delivery,
        }
    )
    t0 = time.perf_counter()
    raw = cell.serde == "none"
    pad = b"x" * (cell.message_size - HEADER.size)
    pack = HEADER.pack
    produce = producer.produce
    for i in range(n):
        now = time.time_ns()
        value = pack(now, i) + pad if raw else codec.encode(now, i, cell.message_size)
        while True:
            try:
                produce(topic, value, keys.next())
                break
            except BufferError:
                producer.poll(0.01)
        if i % 50_000 == 0:
            producer.poll(0)
            progress.cell_progress("prefill", i, n)
    left = producer.flush(120)
    if failures or left:
        raise CellFailed(f"pre-filling the input failed: {len(failures)} failed, {left} not acknowledged")
    progress.cell_progress("prefill", n, n)
    return time.perf_counter() - t0


def _send_probes(bootstrap: str, topic: str, codec: Codec, size: int, partitions: int, round_: int) -> None:
    """One probe message into each input partition (its number in the sequence number)."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "log_level": 3})
    for part in range(partitions):
        p.produce(
            topic, codec.encode(time.time_ns(), PROBE_BIT | (part << 20) | round_, size), partition=part
        )
    p.flush(10)


# -- metrics --------------------------------------------------------------------------


def _warmup_fraction(warmup: float | str, span: float) -> float:
    """The excluded share of a cell: ``"10%"`` -> 0.1, seconds -> seconds / span."""
    if isinstance(warmup, str):
        return float(warmup.rstrip("%")) / 100.0
    return min(0.95, warmup / span) if span > 0 else 0.0


def steady_rate(times: list[float], warmup: float | str) -> tuple[float | None, int, float]:
    """Messages per second over the steady window of sorted arrival ``times`` (seconds).

    The window starts after the warm-up (a share of the messages, or seconds
    after the first one) and ends at the last message.

    Returns:
        ``(rate, messages_in_window, window_seconds)``; rate is None when the
        window is too short to measure (under 2 messages or 1 ms).
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


def _throughput_metrics(reader: Reader, cell: Cell, flow: FlowProcesses) -> dict[str, Any]:
    created = sorted(t / 1000.0 for t in reader.created_ms)
    arrived = sorted(t / 1e9 for t in reader.arrived)
    rate, in_window, window = steady_rate(created, cell.warmup)
    reader_rate, _, _ = steady_rate(arrived, cell.warmup)
    key_bytes = 0 if cell.keys == "none" else len(b"key-00000000")
    out: dict[str, Any] = {
        "msgs_per_s": round(rate, 1) if rate is not None else None,
        "mb_per_s": round(rate * (cell.message_size + key_bytes) / 1e6, 3) if rate is not None else None,
        "reader_msgs_per_s": round(reader_rate, 1) if reader_rate is not None else None,
        "steady_messages": in_window,
        "steady_seconds": round(window, 4),
        "startup_s": round(arrived[0] - flow.started, 3) if arrived else None,
        "wall_s": round(arrived[-1] - flow.started, 3) if arrived else None,
    }
    return out


def _busy_cpu(samples: list[tuple[float, float]], created_ms: list[int]) -> dict[str, Any]:
    """CPU of the flow while it wrote its output, per message, and its share of a core.

    The window runs from the first to the last output message's producer
    timestamp; the flow's CPU (sampled every 50 ms) is interpolated at both
    ends. Start-up (imports, building the flow, joining the cluster) is left
    out: what remains is the per-message cost, comparable between variants
    even on a busy machine where wall-clock throughput is not. Needs a window
    of a few hundred milliseconds to be meaningful (/proc counts CPU in 10 ms
    ticks).
    """
    if len(samples) < 2 or len(created_ms) < 2:
        return {}
    t0, t1 = created_ms[0] / 1000.0, created_ms[-1] / 1000.0
    wall = t1 - t0
    if wall < 0.2:
        return {}

    def cpu_at(t: float) -> float:
        prev = samples[0]
        for cur in samples[1:]:
            if cur[0] >= t:
                if cur[0] == prev[0]:
                    return cur[1]
                return prev[1] + (cur[1] - prev[1]) * (t - prev[0]) / (cur[0] - prev[0])
            prev = cur
        return samples[-1][1]

    cpu = cpu_at(t1) - cpu_at(t0)
    msgs = len(created_ms)
    if cpu <= 0:
        return {}
    return {
        "busy_cpu_s": round(cpu, 3),
        "busy_cpu_us_per_msg": round(cpu / msgs * 1e6, 3),
        "msgs_per_cpu_s": round(msgs / cpu, 1),
        "busy_core_share": round(cpu / wall, 3),
    }


def _latency_metrics(reader: Reader, start_ns: int, end_ns: int, warmup: float | str) -> dict[str, Any]:
    span = (end_ns - start_ns) / 1e9
    cut = start_ns + int(_warmup_fraction(warmup, span) * span * 1e9)
    hist = LatencyHistogram()
    per_second: dict[int, list[int]] = {}
    for t, a in zip(reader.sent, reader.arrived, strict=True):
        lat = a - t
        sec = (t - start_ns) // 1_000_000_000
        per_second.setdefault(int(sec), []).append(lat)
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
        "timeline": timeline,
    }


# -- one cell -------------------------------------------------------------------------


def _wait_for_output(
    reader: Reader,
    flow: FlowProcesses,
    expected: int,
    deadline: float,
    progress: Progress,
    phase: str = "running",
    samples: list[tuple[float, float]] | None = None,
) -> None:
    """Block until ``expected`` distinct messages came out; raise CellFailed on a stall or death.

    ``samples`` receives ``(wall time, flow CPU seconds)`` pairs every 50 ms.
    """
    launched = time.monotonic()
    last_count = -1
    last_change = time.monotonic()
    cpu_now = getattr(flow, "cpu_now", None)
    while True:
        _check_stop()
        got = reader.unique
        progress.cell_progress(phase, got, expected)
        if cpu_now is not None and samples is not None:
            samples.append((time.time(), cpu_now()))
        if got >= expected:
            return
        if reader.errors:
            raise CellFailed(f"reading the output failed: {reader.errors[0]}")
        why = flow.dead()
        if why:
            raise CellFailed(why)
        now = time.monotonic()
        if got != last_count:
            last_count, last_change = got, now
        if got == 0 and now - launched > STARTUP_SECONDS:
            raise CellFailed(f"no output after {STARTUP_SECONDS:.0f}s (0 of {expected} messages)")
        if got > 0 and now - last_change > STALL_SECONDS:
            raise CellFailed(
                f"lost or stuck messages: {expected - got} of {expected} never arrived "
                f"(no new output for {STALL_SECONDS:.0f}s, the flow still running)"
            )
        if now > deadline:
            raise CellFailed(f"timed out: {got} of {expected} messages arrived before the cell's timeout")
        time.sleep(0.05)


def _admin_conf(bootstrap: str) -> dict[str, Any]:
    # librdkafka's info-level chatter (BGQUEUE ...) would tear the progress bars.
    return {"bootstrap.servers": bootstrap, "log_level": 3}


def _create_topics(bootstrap: str, partitions: int, replication: int) -> tuple[str, str]:
    from bytewax_kafka.testing import create_topic

    tag = uuid.uuid4().hex[:12]
    conf = _admin_conf(bootstrap)
    src = create_topic(conf, f"bench-in-{tag}", partitions=partitions, replication_factor=replication)
    dst = create_topic(conf, f"bench-out-{tag}", partitions=partitions, replication_factor=replication)
    return src, dst


def _loadavg() -> float | None:
    """The machine's 1-minute load average: other work on the machine skews timings."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _cell_timeout(cell: Cell) -> float:
    if cell.timeout is not None:
        return cell.timeout
    if cell.mode == "max-rate":
        return 120.0 + (cell.messages or 0) / 5_000.0
    return 120.0 + 2 * (cell.duration or 10.0)


def run_cell(
    cell: Cell,
    bootstrap: str,
    *,
    replication: int = 1,
    log_dir: Path,
    progress: Progress | None = None,
) -> CellResult:
    """Run one cell on a running broker; never raises for a measurement failure.

    Returns:
        A result with status ``ok``, or ``failed`` with the reason.
    """
    progress = progress or QuietProgress()
    result = CellResult(cell=cell, status="failed")
    load_before = _loadavg()
    src = dst = None
    flow: FlowProcesses | None = None
    reader: Reader | None = None
    try:
        src, dst = _create_topics(bootstrap, cell.partitions, replication)
        codec = codec_for(cell.serde)
        deadline = time.monotonic() + _cell_timeout(cell)
        flow = FlowProcesses(cell, bootstrap, src, dst, log_dir)
        result.commands = [list(c) for c in flow.commands]
        result.logs = [str(p) for p in flow.logs]
        if cell.mode == "max-rate":
            prefill_s = prefill(bootstrap, src, cell, progress)
            reader = Reader(bootstrap, dst, cell.partitions, codec)
            reader.start()
            flow.start()
            expected = cell.messages or 0
            samples: list[tuple[float, float]] = [(time.time(), 0.0)]
            _wait_for_output(reader, flow, expected, deadline, progress, samples=samples)
            samples.append((time.time(), flow.cpu_now()))
            flow.stop()
            reader.stop()
            metrics = _throughput_metrics(reader, cell, flow)
            metrics["prefill_s"] = round(prefill_s, 3)
            metrics.update(_busy_cpu(samples, sorted(reader.created_ms)))
        else:
            reader = Reader(bootstrap, dst, cell.partitions, codec)
            reader.start()
            flow.start()
            _wait_until_reading(bootstrap, src, codec, cell, reader, flow, deadline, progress)
            load = _run_load(bootstrap, src, cell, log_dir, progress, flow)
            result.load = load
            expected = int(load["delivered"])
            if load.get("failed"):
                raise CellFailed(f"the load generator had {load['failed']} failed deliveries")
            _wait_for_output(reader, flow, expected, deadline, progress, phase="draining")
            flow.stop()
            reader.stop()
            metrics = _throughput_metrics(reader, cell, flow)
            metrics["offered_msgs_per_s"] = cell.rate
            metrics["sent_msgs_per_s"] = load.get("sent_msgs_per_s")
            metrics.update(_latency_metrics(reader, int(load["start_ns"]), int(load["end_ns"]), cell.warmup))
        metrics.update(
            {
                "expected": expected,
                "received": reader.unique,
                "duplicates": reader.duplicates,
                "missing": max(0, expected - reader.unique),
                "cpu_s": round(flow.cpu_user + flow.cpu_sys, 3),
                "cpu_user_s": round(flow.cpu_user, 3),
                "cpu_sys_s": round(flow.cpu_sys, 3),
                "cpu_us_per_msg": round((flow.cpu_user + flow.cpu_sys) / expected * 1e6, 3)
                if expected
                else None,
            }
        )
        metrics["loadavg_before"] = load_before
        metrics["loadavg_after"] = _loadavg()
        result.metrics = metrics
        result.status = "ok"
    except CellFailed as exc:
        result.reason = str(exc)
        if reader is not None:
            result.metrics.update({"received": reader.unique, "duplicates": reader.duplicates})
    except Exception as exc:
        result.reason = f"{type(exc).__name__}: {exc}"
    finally:
        if flow is not None:
            flow.stop()
        if reader is not None and reader.is_alive():
            reader.stop()
        if src and dst:
            with contextlib.suppress(Exception):
                from bytewax_kafka.testing import delete_topics

                delete_topics(_admin_conf(bootstrap), [src, dst], timeout=10)
    return result


def _wait_until_reading(
    bootstrap: str,
    src: str,
    codec: Codec,
    cell: Cell,
    reader: Reader,
    flow: FlowProcesses,
    deadline: float,
    progress: Progress,
) -> None:
    """Send probes until one from every input partition came out: the flow reads them all.

    Until then a partition may still be starting (its offsets resolved, its
    fetches begun), and the first seconds of load would measure that.
    """
    i = 0
    started = time.monotonic()
    while len(reader.probe_partitions) < cell.partitions:
        _check_stop()
        progress.cell_progress("starting", len(reader.probe_partitions), cell.partitions)
        why = flow.dead()
        if why:
            raise CellFailed(why)
        if time.monotonic() - started > STARTUP_SECONDS or time.monotonic() > deadline:
            raise CellFailed(
                f"the flow passed probes of {len(reader.probe_partitions)} of {cell.partitions} "
                f"partitions within {STARTUP_SECONDS:.0f}s"
            )
        _send_probes(bootstrap, src, codec, cell.message_size, cell.partitions, i)
        i += 1
        for _ in range(10):
            if len(reader.probe_partitions) >= cell.partitions:
                break
            time.sleep(0.05)
    time.sleep(0.5)  # let every partition's fetch settle


def _run_load(
    bootstrap: str, src: str, cell: Cell, log_dir: Path, progress: Progress, flow: FlowProcesses
) -> dict[str, Any]:
    """Run locust headless (:mod:`.load`) as a subprocess; its summary as a dict."""
    summary = log_dir / f"{cell.id}-load.json"
    log = log_dir / f"{cell.id}-load.log"
    cmd = [
        sys.executable,
        "-m",
        "bytewax_kafka.bench.load",
        "--bootstrap",
        bootstrap,
        "--topic",
        src,
        "--rate",
        str(cell.rate),
        "--duration",
        str(cell.duration),
        "--shape",
        cell.shape,
        "--message-size",
        str(cell.message_size),
        "--serde",
        cell.serde,
        "--keys",
        cell.keys,
        "--key-space",
        str(cell.key_space),
        "--ramp-start",
        str(cell.ramp_start),
        "--spike-factor",
        str(cell.spike_factor),
        "--spike-seconds",
        str(cell.spike_seconds),
        "--summary",
        str(summary),
    ]
    if cell.users:
        cmd += ["--users", str(cell.users)]
    duration = float(cell.duration or 10.0)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        _LIVE.add(proc)
        t0 = time.monotonic()
        try:
            while proc.poll() is None:
                _check_stop()
                elapsed = time.monotonic() - t0
                progress.cell_progress("load", int(min(elapsed, duration)), int(duration))
                why = flow.dead()
                if why:
                    raise CellFailed(why)
                if elapsed > duration + 90:
                    raise CellFailed(f"the load generator did not finish within {duration + 90:.0f}s")
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            _LIVE.discard(proc)
    if proc.returncode != 0 or not summary.exists():
        raise CellFailed(f"the load generator failed (exit {proc.returncode}); log {log}:\n{_tail(log)}")
    data: dict[str, Any] = json.loads(summary.read_text())
    return data


# -- many cells -----------------------------------------------------------------------


@contextlib.contextmanager
def _broker(spec: str) -> Iterator[Any]:
    from bytewax_kafka.testing import broker_from_spec

    broker = broker_from_spec(spec)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _replication(broker: Any) -> int:
    from confluent_kafka.admin import AdminClient

    try:
        md = AdminClient(broker.client_config()).list_topics(timeout=10)
        return max(1, min(3, len(md.brokers)))
    except Exception:
        return 1


def run_cells(
    cells: list[Cell],
    *,
    log_dir: Path,
    progress: Progress | None = None,
    on_result: Callable[[CellResult], None] | None = None,
) -> tuple[list[CellResult], dict[str, dict[str, Any]]]:
    """Run cells broker by broker (each broker started once, stopped after its cells).

    A broker that cannot run here (no Docker for ``redpanda``, no Java for
    ``kafka``) marks its cells ``skipped`` with the reason. Every flow and
    load process is gone when this returns, or raises (``KeyboardInterrupt``
    after :func:`request_stop`).

    Returns:
        The results in cell order, and what was learnt of each broker
        (``spec``, ``kind``, ``describe``).
    """
    run = _CellLoop(cells, log_dir, progress or QuietProgress(), on_result)
    try:
        for spec in run.order:
            _check_stop()
            run.broker(spec)
    finally:
        kill_children()
    return run.results, run.brokers


class _CellLoop:
    def __init__(
        self,
        cells: list[Cell],
        log_dir: Path,
        progress: Progress,
        on_result: Callable[[CellResult], None] | None,
    ) -> None:
        self.cells = cells
        self.log_dir = log_dir
        self.progress = progress
        self.on_result = on_result
        self.results: list[CellResult] = []
        self.brokers: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        for c in cells:
            if c.broker not in self.order:
                self.order.append(c.broker)

    def _start(self, c: Cell) -> None:
        self.progress.cell_started(c, len(self.results) + 1, len(self.cells))

    def _record(self, c: Cell, r: CellResult) -> None:
        self.results.append(r)
        self.progress.cell_finished(c, r)
        if self.on_result:
            self.on_result(r)

    def broker(self, spec: str) -> None:
        from bytewax_kafka.testing import BrokerUnavailable

        mine = [c for c in self.cells if c.broker == spec]
        done: set[str] = set()
        self.progress.log(f"starting broker {spec}")
        try:
            with _broker(spec) as broker:
                info = {"spec": spec, "kind": broker.kind, "describe": broker.describe()}
                self.brokers[spec] = info
                self.progress.log(f"broker ready: {info['describe']}")
                replication = _replication(broker)
                for c in mine:
                    _check_stop()
                    self._start(c)
                    r = run_cell(
                        c,
                        broker.bootstrap_servers,
                        replication=replication,
                        log_dir=self.log_dir,
                        progress=self.progress,
                    )
                    _check_stop()  # an interrupted cell is not a result
                    r.broker = info
                    done.add(c.id)
                    self._record(c, r)
        except BrokerUnavailable as exc:
            self.brokers[spec] = {"spec": spec, "kind": spec, "describe": None, "unavailable": str(exc)}
            for c in mine:
                if c.id not in done:
                    self._start(c)
                    self._record(
                        c, CellResult(cell=c, status="skipped", reason=f"broker {spec} unavailable: {exc}")
                    )
        except Exception as exc:
            _check_stop()
            self.brokers.setdefault(spec, {"spec": spec, "kind": spec, "describe": None})
            self.brokers[spec]["error"] = f"{type(exc).__name__}: {exc}"
            for c in mine:
                if c.id not in done:
                    self._start(c)
                    reason = f"broker {spec} failed: {type(exc).__name__}: {exc}"
                    self._record(c, CellResult(cell=c, status="failed", reason=reason))
