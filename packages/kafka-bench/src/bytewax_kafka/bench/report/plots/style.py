"""What every plot shares: the Agg backend, variant colours, formatters, spread bars, titles, saving."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from bytewax_kafka.bench.define.variants import VARIANTS, variant_label
from bytewax_kafka.bench.report.metrics import Metric

__all__ = [
    "Written",
    "bars",
    "color",
    "finish",
    "log_if_wide",
    "matrices",
    "plain_ticks",
    "plt",
    "slug",
    "thousands",
    "varying",
]

#: ``(title, path)`` of each plot written.
Written = list[tuple[str, Path]]

#: Config fields that never tell rows apart in a plot.
_IGNORED = {"matrix", "id", "repetition", "messages", "duration", "timeout", "users", "variant"}


def color(variant: str) -> str:
    """The variant's colour (grey for one the registry does not know)."""
    v = VARIANTS.get(variant)
    return v.color if v is not None else "tab:gray"


def thousands(v: float, _pos: Any = None) -> str:
    """``1.2M``, ``350k``, ``12``."""
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:g}"


def slug(text: str) -> str:
    """A file-name-safe form of ``text``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def matrices(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Summary rows by matrix, in order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["config"]["matrix"], []).append(r)
    return out


def varying(rows: Sequence[dict[str, Any]], exclude: Iterable[str] = ()) -> list[str]:
    """Config fields whose value differs between ``rows``."""
    skip = set(exclude) | _IGNORED
    keys = [k for k in rows[0]["config"] if k not in skip] if rows else []
    return [k for k in keys if len({repr(r["config"].get(k)) for r in rows}) > 1]


def plain_ticks(ax: Axes) -> None:
    """Plain numbers on the y axis (``20``, not ``2x10^1``); minor ticks labelled on a short log axis only."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    low, high = ax.get_ylim()
    short = ax.get_yscale() == "log" and low > 0 and high / low < 20
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _p: f"{v:g}" if short else ""))


def log_if_wide(ax: Axes, values: Sequence[float], axis: str = "y") -> bool:
    """A log scale when positive values span more than 30x; plain numbers as tick labels either way."""
    positive = [v for v in values if v > 0]
    wide = bool(positive) and max(positive) / min(positive) > 30
    if axis == "y":
        if wide:
            ax.set_yscale("log")
        elif positive:
            ax.set_ylim(0, max(positive) * 1.15)
        plain_ticks(ax)
    return wide


def bars(
    ax: Axes,
    groups: Sequence[Any],
    variants: Sequence[str],
    get: Any,
    metric: Metric,
    *,
    label_groups: bool = True,
) -> None:
    """Grouped bars of ``metric``: a group per ``groups`` value, a bar per variant, whiskers and dots.

    The whiskers are the min-max over repetitions, the dots the repetitions.

    ``get(group, variant)`` returns the metric's spread dict (or None).
    """
    width = 0.8 / max(1, len(variants))
    everything: list[float] = []
    for i, v in enumerate(variants):
        xs, ys, lo, hi, dots_x, dots_y = [], [], [], [], [], []
        for gi, g in enumerate(groups):
            s = get(g, v)
            if not s:
                continue
            x = gi + (i - (len(variants) - 1) / 2) * width
            xs.append(x)
            ys.append(s["median"])
            lo.append(s["median"] - s["min"])
            hi.append(s["max"] - s["median"])
            everything += [s["min"], s["max"]]
            for val in s.get("values") or []:
                dots_x.append(x)
                dots_y.append(val)
        if not xs:
            continue
        ax.bar(xs, ys, width=width * 0.92, color=color(v), label=variant_label(v), alpha=0.85)
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="black", capsize=3, linewidth=1)
        ax.scatter(dots_x, dots_y, s=10, color="black", zorder=3, alpha=0.6)
        for x, y in zip(xs, ys, strict=True):
            # Beside the whisker, just above the bar's top: readable however thin the bar.
            text = thousands(y) if metric.unit == "msg/s" else metric.format(y)
            ax.annotate(
                text,
                (x + width * 0.06, y),
                ha="left",
                va="bottom",
                fontsize=7,
                xytext=(0, 1),
                textcoords="offset points",
            )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([str(g) for g in groups] if label_groups else [""] * len(groups), fontsize=8)
    positive = [v for v in everything if v > 0]
    if positive and max(positive) / min(positive) > 30:
        ax.set_yscale("log")
        ax.set_ylim(min(positive) / 2, max(positive) * 2)
        plain_ticks(ax)
        ax.set_ylabel(metric.axis_label().replace(f"({metric.unit}", f"({metric.unit}, log scale", 1))
    else:
        ax.set_ylabel(metric.axis_label())
        if metric.unit == "msg/s":
            ax.yaxis.set_major_formatter(FuncFormatter(thousands))
        ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
    ax.grid(True, axis="y", alpha=0.3)


def finish(
    fig: Any,
    title: str,
    subtitle: str,
    path: Path,
    *,
    legend_ax: Axes | None = None,
    top_legend: Axes | None = None,
) -> None:
    """Title, a wrapped subtitle at the bottom, the legend, tight layout; save and close.

    ``top_legend``: the legend of that axes goes in one row under the title,
    clear of the bars.
    """
    fig.suptitle(title, fontsize=12)
    top = 0.95
    if top_legend is not None:
        handles, labels = top_legend.get_legend_handles_labels()
        if handles:
            fig.legend(
                handles,
                labels,
                loc="upper center",
                ncol=min(4, len(handles)),
                fontsize=9,
                bbox_to_anchor=(0.5, 0.945),
                frameon=False,
            )
            top = 0.88
    if subtitle:
        fig.text(
            0.5,
            0.005,
            "\n".join(textwrap.wrap(subtitle, 120)),
            ha="center",
            va="bottom",
            fontsize=8,
            color="dimgray",
        )
    if legend_ax is not None:
        handles, labels = legend_ax.get_legend_handles_labels()
        if handles:
            legend_ax.legend(handles, labels, fontsize=8, loc="best")
    fig.tight_layout(rect=(0, 0.06 if subtitle else 0, 1, top))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def shared(rows: Sequence[dict[str, Any]], exclude: Iterable[str] = ()) -> str:
    """What every row of a plot shares, for its subtitle: the cell label less what varies."""
    if not rows:
        return ""
    from bytewax_kafka.bench.define.cell import cell_label

    vary = [*exclude, *varying(rows, exclude)]
    return cell_label(rows[0]["config"], variant=False, omit=vary)
