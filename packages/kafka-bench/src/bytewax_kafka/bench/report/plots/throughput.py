"""Plots of max-rate matrices: busy CPU per message and throughput, beside each other.

The plot follows the matrix: a numeric axis that varies (batch size,
partitions, workers, processes, value size) gets lines over it; otherwise
grouped bars, by the categorical axis that varies (broker, serde, keys,
guarantee) or by variant alone. Every point carries its min-max range over
the repetitions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.ticker import FuncFormatter

from bytewax_kafka.bench.define.variants import VARIANTS, variant_label
from bytewax_kafka.bench.report.metrics import METRICS, PRIMARY
from bytewax_kafka.bench.report.plots.style import (
    Written,
    bars,
    color,
    finish,
    plt,
    shared,
    slug,
    thousands,
    varying,
)

__all__ = ["NUMERIC_AXES", "throughput_plots"]

#: Numeric axes a max-rate plot can have on its x axis, with their axis labels.
NUMERIC_AXES = {
    "batch_size": ("source batch size (messages, log scale)", True),
    "partitions": ("partitions (input and output topic)", False),
    "workers": ("worker threads per process (-w)", False),
    "processes": ("flow processes", False),
    "message_size": ("value size (bytes, log scale)", True),
}
#: Categorical axes, for grouped bars.
CATEGORIES = ("broker", "serde", "keys", "guarantee", "gc_threshold", "gc_tuning")
_PANELS = (PRIMARY, "msgs_per_s")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lines(rows: list[dict[str, Any]], x: str, name: str, matrix: str, out: Path) -> tuple[str, Path]:
    logx = NUMERIC_AXES[x][1]
    others = [k for k in varying(rows, exclude=[x])]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, metric_name in zip(axes, _PANELS, strict=True):
        metric = METRICS[metric_name]
        lines: dict[tuple[str, str], list[tuple[float, dict[str, Any]]]] = {}
        for r in rows:
            s = r["metrics"].get(metric_name)
            if s is None:
                continue
            extra = " ".join(f"{k}={r['config'][k]}" for k in others)
            lines.setdefault((r["config"]["variant"], extra), []).append((r["config"][x], s))
        styles = ["-", "--", ":", "-."]
        for i, ((variant, extra), pts) in enumerate(
            sorted(
                lines.items(),
                key=lambda kv: (list(VARIANTS).index(kv[0][0]) if kv[0][0] in VARIANTS else 99, kv[0][1]),
            )
        ):
            pts.sort(key=lambda p: p[0])
            xs = [p[0] for p in pts]
            ys = [p[1]["median"] for p in pts]
            err = [[p[1]["median"] - p[1]["min"] for p in pts], [p[1]["max"] - p[1]["median"] for p in pts]]
            ax.errorbar(
                xs,
                ys,
                yerr=err,
                marker="o",
                capsize=3,
                color=color(variant),
                linestyle=styles[i % len(styles)] if extra else "-",
                label=f"{variant_label(variant)} {extra}".strip(),
            )
        if logx:
            ax.set_xscale("log")
        ticks = sorted({r["config"][x] for r in rows})
        ax.set_xticks(ticks)
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _p: ""))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
        ax.set_xlabel(NUMERIC_AXES[x][0])
        ax.set_ylabel(metric.axis_label())
        if metric.unit == "msg/s":
            ax.yaxis.set_major_formatter(FuncFormatter(thousands))
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    axes[1].legend(fontsize=8, loc="best")
    title = f"{_cap(METRICS[PRIMARY].label)} and throughput vs {x.replace('_', ' ')} (matrix {matrix})"
    path = out / f"max_rate_{slug(matrix)}_vs_{x}.png"
    finish(fig, title, shared(rows, exclude=[x]) + "; medians, bars: min-max over repetitions", path)
    return title, path


def _bars(rows: list[dict[str, Any]], group: str | None, matrix: str, out: Path) -> tuple[str, Path]:
    groups = sorted({r["config"][group] for r in rows}, key=str) if group else ["all"]
    variants = [v for v in VARIANTS if any(r["config"]["variant"] == v for r in rows)]
    variants += sorted({r["config"]["variant"] for r in rows} - set(variants))

    def get(g: Any, v: str, metric_name: str) -> dict[str, Any] | None:
        for r in rows:
            if r["config"]["variant"] == v and (group is None or r["config"][group] == g):
                found: dict[str, Any] | None = r["metrics"].get(metric_name)
                return found
        return None

    width = max(11.0, 1.3 * len(groups) * len(variants) + 4)
    fig, axes = plt.subplots(1, 2, figsize=(width, 5))
    for ax, metric_name in zip(axes, _PANELS, strict=True):
        bars(
            ax,
            groups,
            variants,
            lambda g, v, m=metric_name: get(g, v, m),
            METRICS[metric_name],
            label_groups=group is not None,
        )
        if group:
            ax.set_xlabel(group.replace("_", " "))
    what = f" by {group.replace('_', ' ')}" if group else " by connector"
    title = f"{_cap(METRICS[PRIMARY].label)} and throughput{what} (matrix {matrix})"
    path = out / f"max_rate_{slug(matrix)}.png"
    finish(
        fig,
        title,
        shared(rows, exclude=[group] if group else [])
        + "; bars: medians, whiskers: min-max, dots: repetitions",
        path,
        top_legend=axes[0],
    )
    return title, path


def throughput_plots(summary: list[dict[str, Any]], out: Path) -> Written:
    """One plot per max-rate matrix, chosen by what the matrix varies."""
    from bytewax_kafka.bench.report.plots.style import matrices

    written: Written = []
    for matrix, rows in matrices(r for r in summary if r["ok"] and r["config"]["mode"] == "max-rate").items():
        vary = varying(rows)
        numeric = [x for x in NUMERIC_AXES if x in vary]
        if numeric:
            for x in numeric:
                written.append(_lines(rows, x, PRIMARY, matrix, out))
            continue
        cats = [c for c in CATEGORIES if c in vary]
        written.append(_bars(rows, cats[0] if cats else None, matrix, out))
    return written
