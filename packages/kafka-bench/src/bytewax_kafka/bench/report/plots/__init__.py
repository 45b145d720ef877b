"""Plots of a run (matplotlib, Agg backend, PNG), chosen by what each matrix varies.

Every plot is titled, its axes say their unit and which way is better, and
every figure carries its spread over the repetitions (error bars, or a dot
per repetition). :func:`write_plots` draws what a run's data supports;
:func:`~bytewax_kafka.bench.report.plots.runs.runs_plot` lines several runs up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bytewax_kafka.bench.report.plots.latency import latency_plots
from bytewax_kafka.bench.report.plots.runs import runs_plot
from bytewax_kafka.bench.report.plots.style import Written
from bytewax_kafka.bench.report.plots.throughput import throughput_plots

__all__ = ["runs_plot", "write_plots"]


def write_plots(doc: Any, out: Path) -> Written:
    """Draw every plot the run's data supports into ``out``; ``(title, path)`` of each.

    ``doc`` is a :class:`~bytewax_kafka.bench.report.document.Results`.
    """
    out.mkdir(parents=True, exist_ok=True)
    return [*throughput_plots(doc.summary, out), *latency_plots(doc.summary, doc.cells, out)]
