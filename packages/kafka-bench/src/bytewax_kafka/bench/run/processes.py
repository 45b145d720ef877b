"""The flow's processes: started from a variant's launch, sampled with psutil, stopped for good.

Every child (flow or load generator) runs in its own process group and is
registered until reaped, so an interrupted run kills them all
(:func:`kill_children`). :class:`FlowProcesses` samples its processes every
50 ms while a cell runs: CPU seconds (user + system, all threads) and
resident memory through psutil, and on Linux each thread's time on a core
and time waiting for one (``/proc/<pid>/task/<tid>/schedstat``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bytewax_kafka.bench.define.cell import Cell
from bytewax_kafka.bench.define.handoff import Handoff
from bytewax_kafka.bench.define.variants import VARIANTS

__all__ = ["FlowProcesses", "Sample", "check_stop", "kill_children", "register", "request_stop", "tail"]

#: Child processes (flows, load generators) still running, each in its own
#: session: killed by :func:`kill_children` when a run is interrupted.
_LIVE: set[subprocess.Popen[bytes]] = set()
#: Set by :func:`request_stop` (a signal handler): stop after the current step.
_STOP_REQUESTED = threading.Event()


def request_stop() -> None:
    """Ask the running cells to stop (from a signal handler); the run ends as interrupted."""
    _STOP_REQUESTED.set()


def check_stop() -> None:
    """Raise ``KeyboardInterrupt`` once a stop was requested."""
    if _STOP_REQUESTED.is_set():
        raise KeyboardInterrupt


def register(proc: subprocess.Popen[bytes]) -> None:
    """Track a child until :func:`unregister` (or :func:`kill_children`)."""
    _LIVE.add(proc)


def unregister(proc: subprocess.Popen[bytes]) -> None:
    """Stop tracking a reaped child."""
    _LIVE.discard(proc)


def kill_children() -> None:
    """SIGKILL every flow and load process group still running, and reap them."""
    for p in list(_LIVE):
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
        _LIVE.discard(p)


def tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` of a log file (``<no log>`` when unreadable)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "<no log>"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Sample:
    """The flow's processes at one moment."""

    t: float  # wall clock, seconds since the epoch
    cpu_s: float  # user + system seconds so far, all processes
    rss: int  # resident bytes, all processes
    #: ``(pid, tid) -> (ns on a core, ns waiting for one)``; empty where schedstat is unreadable.
    sched: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)


def _schedstat(pid: int) -> dict[tuple[int, int], tuple[int, int]]:
    out: dict[tuple[int, int], tuple[int, int]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                on, wait, _slices = f.read().split()
        except (OSError, ValueError):
            continue
        out[(pid, int(tid))] = (int(on), int(wait))
    return out


class FlowProcesses:
    """The flow side of a cell: its process(es), each in its own process group, logging to a file."""

    def __init__(self, cell: Cell, bootstrap: str, src: str, dst: str, log_dir: Path) -> None:
        self.cell = cell
        specs = VARIANTS[cell.variant].launch.processes(cell.workers, cell.processes, cell.epoch_interval)
        python = cell.flow_python
        self.commands = [
            [python, *s.argv[1:]] if python and s.argv[0] == sys.executable else s.argv for s in specs
        ]
        self.envs = [
            {
                **os.environ,
                **Handoff(cell, bootstrap, src, dst, process_index=s.index, processes=s.count).env(),
                "PYTHONUNBUFFERED": "1",
            }
            for s in specs
        ]
        many = len(specs) > 1
        self.logs = [
            log_dir / f"{cell.id}-{cell.variant}{f'-{i}' if many else ''}.log" for i in range(len(specs))
        ]
        self.procs: list[subprocess.Popen[bytes]] = []
        self._ps: list[psutil.Process] = []
        self.samples: list[Sample] = []
        self.started = 0.0
        self.exit_codes: list[int | None] = []

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
            register(proc)
            with contextlib.suppress(psutil.Error):
                self._ps.append(psutil.Process(proc.pid))
        self.sample()

    def sample(self) -> Sample:
        """Record (and return) CPU, memory and per-thread scheduling of the live processes now."""
        cpu, rss = 0.0, 0
        sched: dict[tuple[int, int], tuple[int, int]] = {}
        for p in self._ps:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    cpu += t.user + t.system
                    rss += p.memory_info().rss
            except psutil.Error:
                continue
            sched.update(_schedstat(p.pid))
        if self.samples and cpu < self.samples[-1].cpu_s:  # a process is gone: keep what it had used
            cpu = self.samples[-1].cpu_s
        s = Sample(time.time(), cpu, rss, sched)
        self.samples.append(s)
        return s

    @property
    def cpu_s(self) -> float:
        """CPU seconds of the flow's processes at the last sample."""
        return self.samples[-1].cpu_s if self.samples else 0.0

    @property
    def peak_rss(self) -> int:
        """The most resident memory seen, in bytes."""
        return max((s.rss for s in self.samples), default=0)

    def dead(self) -> str | None:
        """Why a process has exited already (with its log's tail), else None."""
        for p, log in zip(self.procs, self.logs, strict=False):
            code = p.poll()
            if code is not None:
                unregister(p)
                return f"flow process exited early with code {code}; log {log}:\n{tail(log)}"
        return None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM every process group, SIGKILL what is left after ``grace``; reap them."""
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.procs:
            try:
                p.wait(max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(10)
            unregister(p)
        self.exit_codes = [p.returncode for p in self.procs]
