"""A comparison plot for several runs: the primary figure of their common configurations, run beside run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bytewax_kafka.bench.define.variants import variant_label
from bytewax_kafka.bench.report.metrics import METRICS, PRIMARY
from bytewax_kafka.bench.report.plots.style import Written, finish, plt

__all__ = ["runs_plot"]

_RUN_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def runs_plot(docs: list[Any], out: Path, metric_name: str = PRIMARY) -> Written:
    """Grouped bars: a group per configuration and variant found in every run, a bar per run.

    ``docs`` are :class:`~bytewax_kafka.bench.report.document.Results`.
    """
    from bytewax_kafka.bench.report.compare import identity

    metric = METRICS[metric_name]
    per_run: list[dict[str, dict[str, Any]]] = []
    for d in docs:
        per_run.append({identity(r["config"]): r for r in d.summary if r["metrics"].get(metric_name)})
    common = [k for k in per_run[0] if all(k in p for p in per_run[1:])]
    if len(docs) < 2 or not common:
        return []
    common = common[:16]
    width = 0.8 / len(docs)
    fig, ax = plt.subplots(figsize=(max(9.0, 1.1 * len(common) + 3), 5.5))
    for i, (d, rows) in enumerate(zip(docs, per_run, strict=True)):
        xs, ys, lo, hi = [], [], [], []
        for gi, key in enumerate(common):
            s = rows[key]["metrics"][metric_name]
            xs.append(gi + (i - (len(docs) - 1) / 2) * width)
            ys.append(s["median"])
            lo.append(s["median"] - s["min"])
            hi.append(s["max"] - s["median"])
        ax.bar(
            xs, ys, width=width * 0.92, color=_RUN_COLORS[i % len(_RUN_COLORS)], label=d.run_id, alpha=0.85
        )
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="black", capsize=3, linewidth=1)
    labels = [
        f"{variant_label(per_run[0][k]['config']['variant'])}\n{per_run[0][k]['label']}".replace(" · ", "\n")
        for k in common
    ]
    ax.set_xticks(range(len(common)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel(metric.axis_label())
    ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
    ax.grid(True, axis="y", alpha=0.3)
    title = f"{metric.label[:1].upper()}{metric.label[1:]} run by run"
    path = out / f"runs_{metric_name}.png"
    finish(fig, title, "bars: medians, whiskers: min-max over each run's repetitions", path, legend_ax=ax)
    return [(title, path)]
