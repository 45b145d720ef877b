"""The load generator as a subprocess: ``python -m bytewax_kafka.bench.load`` with the cell handed to it.

Locust monkey-patches its process with gevent, so it never runs inside the
runner. :class:`LoadRun` starts it and lets the caller watch it (a
max-sustainable search reads the output while the load runs); :func:`run_load`
runs it to its end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bytewax_kafka.bench.define.cell import Cell
from bytewax_kafka.bench.define.handoff import Handoff
from bytewax_kafka.bench.errors import CellFailed
from bytewax_kafka.bench.run.processes import check_stop, register, tail, unregister
from bytewax_kafka.bench.run.progress import Progress

__all__ = ["LoadRun", "run_load"]


class LoadRun:
    """One run of the load generator, offering ``rate`` (default: the cell's) for the cell's duration."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        cell: Cell,
        log_dir: Path,
        *,
        rate: int | None = None,
        tag: str = "",
        seq_base: int = 0,
    ) -> None:
        name = f"{cell.id}-load{tag}"
        self.summary = log_dir / f"{name}.json"
        self.log = log_dir / f"{name}.log"
        self.duration = float(cell.duration or 10.0)
        h = Handoff(cell, bootstrap, topic, summary=str(self.summary), rate=rate, seq_base=seq_base)
        self.env = {**os.environ, **h.env(), "PYTHONUNBUFFERED": "1"}
        self.command = [sys.executable, "-m", "bytewax_kafka.bench.load"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.t0 = 0.0

    def start(self) -> None:
        """Start the generator."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        register(self.proc)
        self.t0 = time.monotonic()

    @property
    def elapsed(self) -> float:
        """Seconds since :meth:`start`."""
        return time.monotonic() - self.t0

    def running(self) -> bool:
        """Whether the generator is still running.

        Raises:
            CellFailed: When it ran far past its duration.
        """
        assert self.proc is not None
        if self.proc.poll() is not None:
            return False
        if self.elapsed > self.duration + 90:
            self.kill()
            raise CellFailed(f"the load generator did not finish within {self.duration + 90:.0f}s")
        return True

    def kill(self) -> None:
        """SIGKILL it (when the cell failed)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc is not None:
            unregister(self.proc)

    def watch(
        self, flow: Any, progress: Progress, phase: Callable[[], tuple[str, int, int | None]]
    ) -> dict[str, Any]:
        """Wait for the generator's end, sampling the flow and failing if it dies; its summary.

        ``phase()`` gives what to show: a phase name and counts.

        Raises:
            CellFailed: When the flow died or the generator failed.
        """
        try:
            while self.running():
                check_stop()
                progress.cell_progress(*phase())
                flow.sample()
                why = flow.dead()
                if why:
                    raise CellFailed(why)
                time.sleep(0.1)
        except BaseException:
            self.kill()
            raise
        return self.result()

    def result(self) -> dict[str, Any]:
        """What the generator reported, once it exited.

        Raises:
            CellFailed: When it failed or had failed deliveries.
        """
        assert self.proc is not None
        code = self.proc.wait()
        unregister(self.proc)
        if code != 0 and not self.summary.exists():
            raise CellFailed(f"the load generator failed (exit {code}); log {self.log}:\n{tail(self.log)}")
        if not self.summary.exists():
            raise CellFailed(f"the load generator wrote no summary; log {self.log}:\n{tail(self.log)}")
        data: dict[str, Any] = json.loads(self.summary.read_text())
        if data.get("failed"):
            raise CellFailed(
                f"the load generator had {data['failed']} failed deliveries: {data.get('first_error')}"
            )
        return data


def run_load(
    bootstrap: str, topic: str, cell: Cell, log_dir: Path, progress: Progress, flow: Any
) -> dict[str, Any]:
    """Run the generator to its end, watching that the flow stays alive; its summary.

    Raises:
        CellFailed: When the flow died or the generator failed.
    """
    load = LoadRun(bootstrap, topic, cell, log_dir)
    load.start()
    return load.watch(
        flow, progress, lambda: ("load", int(min(load.elapsed, load.duration)), int(load.duration))
    )
