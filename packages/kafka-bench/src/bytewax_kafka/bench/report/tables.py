"""Markdown tables built from the metric registry: one builder for every table of a report.

A table is a list of columns; a metric column shows each row's median with
its min-max range over the repetitions, e.g. ``3.41 (3.30-3.52)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bytewax_kafka.bench.define.variants import variant_label
from bytewax_kafka.bench.report.metrics import METRICS, RATIOS, Metric, Ratio

__all__ = [
    "MODE_COLUMNS",
    "Column",
    "markdown_table",
    "metric_column",
    "mode_table",
    "ratio_column",
    "text_column",
]


@dataclass(frozen=True)
class Column:
    """One column: its header, alignment and how a row shows in it."""

    header: str
    cell: Callable[[Any], str]
    right: bool = True


def _range(fmt: Callable[[float | None], str], s: dict[str, Any] | None) -> str:
    if not s:
        return ""
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}-{fmt(s['max'])})"


def metric_column(name: str) -> Column:
    """Median (min-max) of a metric of :data:`~bytewax_kafka.bench.report.metrics.METRICS`."""
    m: Metric = METRICS[name]
    return Column(m.header(), lambda row: _range(m.format, (row.get("metrics") or {}).get(name)))


def ratio_column(name: str) -> Column:
    """Median (min-max) of a ratio of :data:`~bytewax_kafka.bench.report.metrics.RATIOS`."""
    r: Ratio = RATIOS[name]
    return Column(r.label, lambda row: _range(r.format, (row.get("ratios") or {}).get(name)))


def text_column(header: str, get: Callable[[dict[str, Any]], Any], *, right: bool = False) -> Column:
    """A column of plain text."""
    return Column(header, lambda row: "" if get(row) is None else str(get(row)), right)


def markdown_table(columns: Sequence[Column], rows: Sequence[Any]) -> list[str]:
    """The lines of a Markdown table (columns empty in every row are left out)."""
    cells = [[c.cell(r) for c in columns] for r in rows]
    keep = [i for i in range(len(columns)) if any(row[i] for row in cells)]
    out = [
        "| " + " | ".join(columns[i].header for i in keep) + " |",
        "|" + "|".join("---:" if columns[i].right else "---" for i in keep) + "|",
    ]
    for row in cells:
        out.append("| " + " | ".join(row[i].replace("|", "\\|").replace("\n", " ") for i in keep) + " |")
    return out


#: The metrics each mode's detail table shows, primary figure first.
MODE_COLUMNS: dict[str, tuple[str, ...]] = {
    "max-rate": (
        "busy_cpu_us_per_msg",
        "msgs_per_s",
        "mb_per_s",
        "busy_core_share",
        "run_queue_share",
        "window_s",
        "startup_s",
        "peak_rss_mib",
        "loadavg_before",
    ),
    "fixed-rate": (
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_p99_9_ms",
        "latency_max_ms",
        "busy_cpu_us_per_msg",
        "sent_msgs_per_s",
        "busy_core_share",
        "run_queue_share",
        "window_s",
        "loadavg_before",
    ),
    "max-sustainable": (
        "max_sustainable_msgs_per_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "busy_cpu_us_per_msg",
        "run_queue_share",
        "loadavg_before",
    ),
    "backlog-drain": (
        "backlog_drain_s",
        "drain_msgs_per_s",
        "latency_p99_ms",
        "busy_cpu_us_per_msg",
        "run_queue_share",
        "loadavg_before",
    ),
}


def mode_table(rows: Sequence[dict[str, Any]], mode: str, *, with_config: bool) -> list[str]:
    """The detail table of one matrix's summary rows: variant (and config), then the mode's metrics."""
    cols: list[Column] = []
    if with_config:
        cols.append(text_column("cell", lambda r: r["label"]))
    cols.append(text_column("variant", lambda r: variant_label(r["config"]["variant"])))
    cols += [metric_column(name) for name in MODE_COLUMNS[mode]]
    cols.append(text_column("ok / runs", lambda r: f"{r['ok']}/{len(r['cells'])}", right=True))
    return markdown_table(cols, rows)
