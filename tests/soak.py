"""Soak run: kafka-bench offers a fixed rate for a long time; this samples the flow process's memory.

kafka-bench (its shipped ``soak`` scenario) runs the flow as its own process, offers
the rate with locust, reads the output back (a lost message fails the cell)
and records throughput and end-to-end latency. It does not watch memory, so
this script starts it, finds the flow process among its children, and
samples that process's resident memory (``VmRSS``) and thread count from
``/proc`` every second. It reports the peak, the drift (median of the last
fifth of the steady samples minus median of the first fifth) and the slope
(least squares, MiB per minute), with kafka-bench's latency figures: with
the rate held, a growing lag would show as a growing latency.

Usage (from the repository root)::

    uv run python tests/soak.py                          # 10 minutes at 5,000 msg/s on Apache Kafka
    uv run python tests/soak.py --duration 60 --rate 5000 --broker external=127.0.0.1:9092

``tests/test_soak.py`` runs the short version in CI.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "soak"
MIB = 1024.0


def _status(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            out[key] = value.strip()
    except OSError:
        pass
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            ppid = _status(int(entry.name)).get("PPid")
            if ppid is not None:
                parents[int(entry.name)] = int(ppid)
    found, frontier = [], {root}
    while frontier:
        children = {pid for pid, ppid in parents.items() if ppid in frontier}
        found.extend(children)
        frontier = children
    return sorted(found)


class Sampler(threading.Thread):
    """Samples the memory of the ``bytewax.run`` processes below ``root`` every ``every`` seconds."""

    def __init__(self, root: int, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.every = every
        #: (seconds since the flow was first seen, VmRSS KiB, threads) per sample.
        self.samples: list[tuple[float, int, int]] = []
        self.flow_pids: set[int] = set()
        self._halt = threading.Event()
        self._t0: float | None = None

    def run(self) -> None:
        while not self._halt.wait(self.every):
            pids = [p for p in _descendants(self.root) if "bytewax.run" in _cmdline(p)]
            if not pids:
                continue
            rss = threads = 0
            for pid in pids:
                st = _status(pid)
                rss += int(st.get("VmRSS", "0 kB").split()[0])
                threads += int(st.get("Threads", "0"))
            if self._t0 is None:
                self._t0 = time.monotonic()
            self.flow_pids.update(pids)
            self.samples.append((time.monotonic() - self._t0, rss, threads))

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def memory_figures(samples: list[tuple[float, int, int]], skip_s: float) -> dict[str, Any]:
    """Peak, drift and slope of the flow's memory; drift and slope leave out the first ``skip_s``."""
    if not samples:
        return {}
    steady = [s for s in samples if s[0] >= skip_s] or samples
    fifth = max(1, len(steady) // 5)
    first = statistics.median(s[1] for s in steady[:fifth]) / MIB
    last = statistics.median(s[1] for s in steady[-fifth:]) / MIB
    return {
        "samples": len(samples),
        "rss_start_mib": round(samples[0][1] / MIB, 1),
        "rss_peak_mib": round(max(s[1] for s in samples) / MIB, 1),
        "rss_steady_first_mib": round(first, 1),
        "rss_steady_last_mib": round(last, 1),
        "rss_drift_mib": round(last - first, 1),
        "rss_slope_mib_per_min": round(_slope([(s[0] / 60, s[1] / MIB) for s in steady]), 2),
        "threads_steady_first": steady[0][2],
        "threads_max": max(s[2] for s in samples),
        "threads_last": samples[-1][2],
    }


def run_soak(
    *,
    duration: float,
    rate: int,
    broker: str | None = None,
    output: Path,
    run_id: str = "soak",
    scenario: str | Path = SCENARIO,
) -> dict[str, Any]:
    """Run ``scenario`` through kafka-bench for ``duration`` s at ``rate`` msg/s; the figures.

    Raises:
        RuntimeError: When kafka-bench fails (a lost message, a crashed flow).
    """
    bench = shutil.which("kafka-bench") or str(Path(sys.executable).parent / "kafka-bench")
    cmd = [
        bench,
        "run",
        str(scenario),
        "--set",
        f"duration={duration:g}",
        "--set",
        f"rate={rate}",
        "--output",
        str(output),
        "--run-id",
        run_id,
        "--no-plots",
        "-q",
    ]
    if broker:
        cmd += ["--broker", broker]
    log = output / f"{run_id}.console.log"
    output.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        sampler = Sampler(proc.pid)
        sampler.start()
        try:
            code = proc.wait(timeout=duration + 600)
        finally:
            sampler.stop()
    results = output / run_id / "results.json"
    if code != 0 or not results.exists():
        raise RuntimeError(f"kafka-bench exited {code}:\n{log.read_text(errors='replace')[-3000:]}")
    cell = json.loads(results.read_text())["cells"][0]
    if cell["status"] != "ok":
        raise RuntimeError(f"kafka-bench cell {cell['status']}: {cell.get('reason')}")
    metrics = cell["metrics"]
    latency = metrics.get("latency", {})
    return {
        "duration_s": duration,
        "rate": rate,
        "broker": cell["config"]["broker"],
        "wall_s": round(time.monotonic() - started, 1),
        "sent_msgs_per_s": metrics.get("sent_msgs_per_s"),
        "msgs_per_s": metrics.get("msgs_per_s"),
        "messages": latency.get("count"),
        "latency_p50_ms": latency.get("p50_ms"),
        "latency_p99_ms": latency.get("p99_ms"),
        "latency_max_ms": latency.get("max_ms"),
        **memory_figures(sampler.samples, skip_s=max(15.0, duration * 0.1)),
        "results": str(results),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: run the soak and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of offered load [600]")
    parser.add_argument("--rate", type=int, default=5000, help="offered msg/s [5000]")
    parser.add_argument("--broker", help="kafka-bench broker (default: the scenario's, Apache Kafka)")
    parser.add_argument("--output", type=Path, default=ROOT / "results", help="run folder parent [results]")
    parser.add_argument("--run-id", default=f"soak-{time.strftime('%Y%m%d-%H%M%S')}")
    args = parser.parse_args(argv)
    figures = run_soak(
        duration=args.duration, rate=args.rate, broker=args.broker, output=args.output, run_id=args.run_id
    )
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
