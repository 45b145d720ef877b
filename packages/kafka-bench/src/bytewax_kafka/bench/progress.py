"""Progress on the terminal with rich: a bar for the run, a bar for the current cell."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bytewax_kafka.bench.matrix import Cell
from bytewax_kafka.bench.runner import CellResult

__all__ = ["RichProgress", "describe_result"]


def describe_result(result: CellResult) -> str:
    """One line: the cell's headline numbers, or why it failed or was skipped."""
    m = result.metrics
    if result.status != "ok":
        reason = (result.reason or "").splitlines()[0] if result.reason else ""
        return f"{result.status.upper()}: {reason}"
    parts = []
    if m.get("msgs_per_s") is not None:
        parts.append(f"{m['msgs_per_s']:,.0f} msg/s ({m.get('mb_per_s', 0):.1f} MB/s)")
    lat = m.get("latency") or {}
    if lat.get("p99_ms") is not None:
        parts.append(f"p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, max {lat['max_ms']:.1f} ms")
    if m.get("busy_cpu_us_per_msg") is not None:
        parts.append(f"{m['busy_cpu_us_per_msg']:.2f} CPU µs/msg")
    elif m.get("cpu_s") is not None:
        parts.append(f"CPU {m['cpu_s']:.1f} s")
    parts.append(f"{m.get('received', 0):,}/{m.get('expected', 0):,} msgs")
    return ", ".join(parts)


class RichProgress:
    """A :class:`~bytewax_kafka.bench.runner.Progress` drawing rich progress bars on stderr."""

    def __init__(self, total: int, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.run_task = self.progress.add_task("cells", total=total)
        self.cell_task = self.progress.add_task("", total=None, visible=False)
        self._cell: Cell | None = None

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def cell_started(self, cell: Cell, index: int, total: int) -> None:
        """Show the cell being run."""
        self._cell = cell
        self.progress.update(self.run_task, description=f"cell {index}/{total}")
        self.progress.update(
            self.cell_task, description=f"  {cell.label()}", completed=0, total=None, visible=True
        )

    def cell_progress(self, phase: str, done: int, total: int | None) -> None:
        """Update the cell's bar: phase and counts."""
        label = self._cell.label() if self._cell else ""
        self.progress.update(self.cell_task, description=f"  {label} [{phase}]", completed=done, total=total)

    def cell_finished(self, cell: Cell, result: CellResult) -> None:
        """Print the cell's line and advance the run's bar."""
        style = {"ok": "green", "failed": "bold red", "skipped": "yellow"}.get(result.status, "")
        self.progress.console.print(
            f"[{style}]{cell.id}[/] {cell.label()}: {describe_result(result)}", highlight=False
        )
        self.progress.update(self.cell_task, visible=False)
        self.progress.advance(self.run_task)

    def log(self, message: str) -> None:
        """Print a line above the bars."""
        self.progress.console.print(f"[dim]{message}[/]", highlight=False)
