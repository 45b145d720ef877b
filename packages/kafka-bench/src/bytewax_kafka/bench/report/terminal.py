"""The terminal: rich progress bars while a run goes, one line per cell, the summary at the end."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bytewax_kafka.bench.define.cell import Cell, CellResult
from bytewax_kafka.bench.define.variants import variant_label
from bytewax_kafka.bench.report.metrics import METRICS
from bytewax_kafka.bench.report.summary import HEADLINE_METRICS

__all__ = ["RichProgress", "describe_result", "print_summary"]

#: The figures one cell's line shows, by mode.
_CELL_LINE = {
    "max-rate": ("busy_cpu_us_per_msg", "msgs_per_s"),
    "fixed-rate": ("latency_p50_ms", "latency_p99_ms", "busy_cpu_us_per_msg"),
    "max-sustainable": ("max_sustainable_msgs_per_s", "latency_p99_ms"),
    "backlog-drain": ("backlog_drain_s", "latency_p99_ms"),
}


def describe_result(result: CellResult) -> str:
    """One line: the cell's headline figures (from the metric registry), or why it failed or was skipped."""
    if result.status != "ok":
        reason = (result.reason or "").splitlines()[0] if result.reason else ""
        return f"{result.status.upper()}: {reason}"
    parts = []
    for name in _CELL_LINE[result.cell.mode]:
        m = METRICS[name]
        v = m.value(result.metrics)
        if v is not None:
            parts.append(f"{m.label} {m.format(v)} {m.unit}".rstrip())
    parts.append(f"{result.metrics.get('received', 0):,}/{result.metrics.get('expected', 0):,} msgs")
    text = ", ".join(parts)
    if result.notices:
        text += " [flagged: " + "; ".join(n.split(":")[0] for n in result.notices) + "]"
    return text


class RichProgress:
    """A :class:`~bytewax_kafka.bench.run.progress.Progress` drawing rich progress bars on stderr."""

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
        self._label = ""

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def cell_started(self, cell: Cell, index: int, total: int) -> None:
        """Show the cell being run."""
        self._label = cell.label()
        self.progress.update(self.run_task, description=f"cell {index}/{total}")
        self.progress.update(
            self.cell_task, description=f"  {self._label}", completed=0, total=None, visible=True
        )

    def cell_progress(self, phase: str, done: int, total: int | None) -> None:
        """Update the cell's bar: phase and counts."""
        self.progress.update(
            self.cell_task, description=f"  {self._label} [{phase}]", completed=done, total=total
        )

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

    def notice(self, message: str) -> None:
        """Print a notice the reader must not miss."""
        self.progress.console.print(f"[bold yellow]notice:[/] {message}", highlight=False)


def print_summary(console: Console, doc: Any) -> None:
    """The run's summary on the terminal: notices, then each configuration's headline figures.

    One row per figure: the median over repetitions (min-max), and ours
    over each baseline.
    """
    for n in doc.notices:
        console.print(f"[bold yellow]notice:[/] {n}", highlight=False)
    rows = [r for r in doc.summary if r["ok"]]
    if not rows:
        return
    t = Table(title="summary: medians over repetitions (min-max)")
    for col in ("variant", "figure", "median (min-max)", "vs built-in", "vs raw loop"):
        t.add_column(col, justify="right" if col.startswith(("median", "vs")) else "left")
    last = None
    for r in rows:
        cell = f"{r['config']['matrix']}: {r['label']}"
        if cell != last:
            t.add_section()
            t.add_row(f"[bold]{cell}[/]")
            last = cell
        for name in HEADLINE_METRICS[r["config"]["mode"]]:
            s = r["metrics"].get(name)
            if s is None:
                continue
            m = METRICS[name]
            ratios = [r["ratios"].get(f"{name}_vs_{short}") for short in ("builtin", "raw")]
            t.add_row(
                variant_label(r["config"]["variant"]),
                f"{m.label} ({m.unit})" if m.unit else m.label,
                f"{m.format(s['median'])} ({m.format(s['min'])}-{m.format(s['max'])})",
                *(f"{x['median']:.2f}x ({x['min']:.2f}-{x['max']:.2f})" if x else "" for x in ratios),
            )
    console.print(t)
