"""Plots of the cells that offer a rate: latency by rate or by variant, its distribution, over time.

- Several offered rates: p50 and p99 against the rate. One rate: p50, p99
  and p99.9 per variant as bars (no "vs rate" plot of a single rate).
- The latency distribution (CDF) of each configuration, every repetition's
  histogram merged, on a log-scale latency axis.
- Ramp and spike loads, and backlog drains: latency over time.
- Max-sustainable searches: the rate found per variant, and each step tried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.ticker import FuncFormatter

from bytewax_kafka.bench.define.variants import VARIANTS, variant_label
from bytewax_kafka.bench.latency import LatencyHistogram
from bytewax_kafka.bench.report.metrics import METRICS
from bytewax_kafka.bench.report.plots.style import (
    Written,
    bars,
    color,
    finish,
    log_if_wide,
    matrices,
    plain_ticks,
    plt,
    shared,
    slug,
    thousands,
)

__all__ = ["latency_plots"]

_PERCENTILES = ("latency_p50_ms", "latency_p99_ms", "latency_p99_9_ms")
_CDF_TICKS = (50.0, 90.0, 99.0, 99.9, 99.99)


def _ordered(variants: set[str]) -> list[str]:
    return [v for v in VARIANTS if v in variants] + sorted(variants - set(VARIANTS))


def _vs_rate(rows: list[dict[str, Any]], matrix: str, out: Path) -> tuple[str, Path]:
    fig, ax = plt.subplots(figsize=(9, 5))
    values = []
    for v in _ordered({r["config"]["variant"] for r in rows}):
        mine = sorted((r for r in rows if r["config"]["variant"] == v), key=lambda r: r["config"]["rate"])
        for name, style in (("latency_p50_ms", "--"), ("latency_p99_ms", "-")):
            pts = [(r["config"]["rate"], r["metrics"][name]) for r in mine if name in r["metrics"]]
            if not pts:
                continue
            ys = [p[1]["median"] for p in pts]
            values += [p[1]["min"] for p in pts] + [p[1]["max"] for p in pts]
            err = [[p[1]["median"] - p[1]["min"] for p in pts], [p[1]["max"] - p[1]["median"] for p in pts]]
            ax.errorbar(
                [p[0] for p in pts],
                ys,
                yerr=err,
                capsize=3,
                marker="o",
                linestyle=style,
                color=color(v),
                label=f"{variant_label(v)} {METRICS[name].label.split()[0]}",
            )
    log = log_if_wide(ax, values)
    ax.set_xlabel("offered rate (messages/s)")
    ax.xaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_xticks(sorted({r["config"]["rate"] for r in rows}))
    ax.set_ylabel(f"end-to-end latency (ms{', log scale' if log else ''}, lower is better)")
    ax.grid(True, alpha=0.3)
    title = f"Latency vs offered rate (matrix {matrix})"
    path = out / f"latency_{slug(matrix)}_vs_rate.png"
    finish(
        fig,
        title,
        shared(rows, exclude=["rate"]) + "; dashed p50, solid p99, bars: min-max",
        path,
        legend_ax=ax,
    )
    return title, path


def _by_variant(rows: list[dict[str, Any]], matrix: str, out: Path) -> tuple[str, Path]:
    variants = _ordered({r["config"]["variant"] for r in rows})
    labels = [METRICS[n].label.split()[0] for n in _PERCENTILES]
    fig, ax = plt.subplots(figsize=(max(8.0, 2.2 * len(variants) + 3), 5))

    def get(g: str, v: str) -> dict[str, Any] | None:
        name = _PERCENTILES[labels.index(g)]
        for r in rows:
            if r["config"]["variant"] == v:
                found: dict[str, Any] | None = r["metrics"].get(name)
                return found
        return None

    bars(ax, labels, variants, get, METRICS["latency_p99_ms"])
    log = ", log scale" if ax.get_yscale() == "log" else ""
    ax.set_ylabel(f"end-to-end latency (ms{log}, lower is better)")
    ax.set_xlabel("percentile")
    title = f"Latency percentiles by connector (matrix {matrix})"
    path = out / f"latency_{slug(matrix)}.png"
    finish(
        fig,
        title,
        shared(rows) + "; bars: medians, whiskers: min-max, dots: repetitions",
        path,
        top_legend=ax,
    )
    return title, path


def _nines(p: float) -> float:
    return 1.0 / (1.0 - min(p, 99.999) / 100.0)


def _cdf(cells: list[dict[str, Any]], matrix: str, out: Path) -> tuple[str, Path] | None:
    merged: dict[str, tuple[dict[str, Any], LatencyHistogram]] = {}
    for c in cells:
        enc = (c.get("metrics") or {}).get("latency_hdr")
        if not enc:
            continue
        from bytewax_kafka.bench.define.cell import cell_label

        key = cell_label({**c["config"]})
        h = LatencyHistogram.decode(enc)
        if key in merged:
            merged[key][1].add(h)
        else:
            merged[key] = (c["config"], h)
    if not merged:
        return None
    fig, ax = plt.subplots(figsize=(9, 5))
    values = []
    for key, (cfg, h) in sorted(
        merged.items(),
        key=lambda kv: list(VARIANTS).index(kv[1][0]["variant"]) if kv[1][0]["variant"] in VARIANTS else 99,
    ):
        pts = [(p, v) for p, v in h.cdf() if 0 < p < 100.0]
        values += [v for _, v in pts]
        label = (
            key
            if len(merged) > len({c["variant"] for c, _ in merged.values()})
            else variant_label(cfg["variant"])
        )
        ax.plot(
            [_nines(p) for p, _ in pts],
            [v for _, v in pts],
            label=label,
            color=color(cfg["variant"]),
            marker=".",
        )
    ax.set_xscale("log")
    ax.set_xticks([_nines(p) for p in _CDF_TICKS])
    ax.set_xticklabels([f"{p:g}%" for p in _CDF_TICKS])
    ax.set_xlim(_nines(1.0), _nines(99.99))
    ax.set_xlabel("percentile (scale of 1/(1-p))")
    ax.set_yscale("log")
    plain_ticks(ax)
    ax.set_ylabel("end-to-end latency (ms, log scale, lower is better)")
    ax.grid(True, which="both", alpha=0.3)
    title = f"Latency distribution, every repetition merged (matrix {matrix})"
    path = out / f"latency_{slug(matrix)}_cdf.png"
    finish(
        fig,
        title,
        "latency from each message's intended send time to its arrival (no coordinated omission)",
        path,
        legend_ax=ax,
    )
    return title, path


def _timeline(c: dict[str, Any], out: Path) -> tuple[str, Path] | None:
    tl = (c.get("metrics") or {}).get("timeline") or []
    if len(tl) < 2:
        return None
    cfg = c["config"]
    fig, ax = plt.subplots(figsize=(9, 5))
    ts = [p["t"] for p in tl]
    ax.plot(ts, [p["p50_ms"] for p in tl], label="p50", color="tab:blue", marker=".")
    ax.plot(ts, [p["p99_ms"] for p in tl], label="p99", color="tab:red", marker=".")
    ax.plot(ts, [p["max_ms"] for p in tl], label="max", color="tab:gray", linestyle=":")
    log = log_if_wide(ax, [float(p[k]) for p in tl for k in ("p50_ms", "p99_ms", "max_ms")])
    ax.set_xlabel("seconds since the load started (by intended send time)")
    ax.set_ylabel(f"end-to-end latency (ms{', log scale' if log else ''}, lower is better)")
    ax2 = ax.twinx()
    ax2.bar(
        ts, [p["messages"] for p in tl], alpha=0.15, color="tab:green", width=0.9, label="offered messages"
    )
    ax2.set_ylabel("messages offered per second")
    ax2.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.grid(True, alpha=0.3)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    what = "backlog drain" if cfg["mode"] == "backlog-drain" else f"{cfg['shape']} load"
    title = f"Latency over time, {what}: {variant_label(cfg['variant'])}, cell {c['id']}"
    path = out / f"timeline_{c['id']}_{cfg['variant']}.png"
    from bytewax_kafka.bench.define.cell import cell_label

    finish(fig, title, cell_label(cfg, variant=False), path)
    return title, path


def _search(rows: list[dict[str, Any]], cells: list[dict[str, Any]], matrix: str, out: Path) -> Written:
    variants = _ordered({r["config"]["variant"] for r in rows})
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    bars(
        left,
        ["max sustainable"],
        variants,
        lambda g, v: next(
            (r["metrics"].get("max_sustainable_msgs_per_s") for r in rows if r["config"]["variant"] == v),
            None,
        ),
        METRICS["max_sustainable_msgs_per_s"],
        label_groups=False,
    )
    values: list[float] = []
    for c in cells:
        v = c["config"]["variant"]
        pts: list[tuple[int, float, bool]] = sorted(
            (s["rate"], float(s["latency"]["p99_ms"]), bool(s["kept_up"]))
            for s in c.get("steps") or []
            if (s.get("latency") or {}).get("p99_ms") is not None
        )
        if pts:
            right.plot([p[0] for p in pts], [p[1] for p in pts], color=color(v), alpha=0.3, linewidth=1)
        for rate, p99, kept in pts:
            values.append(p99)
            right.scatter(rate, p99, color=color(v), marker="o" if kept else "x", s=30)
    for v in variants:
        right.scatter([], [], color=color(v), marker="o", label=f"{variant_label(v)}: kept up")
        right.scatter([], [], color=color(v), marker="x", label=f"{variant_label(v)}: missed")
    limit = rows[0]["config"].get("sustain_p99_ms")
    if limit:
        right.axhline(limit, color="dimgray", linestyle="--", linewidth=1, label=f"p99 limit {limit:g} ms")
        values.append(limit)
    log_if_wide(right, values)
    right.set_xlabel("offered rate (messages/s)")
    right.xaxis.set_major_formatter(FuncFormatter(thousands))
    right.set_ylabel("p99 latency in the step (ms, lower is better)")
    right.grid(True, alpha=0.3)
    right.legend(fontsize=7, loc="best")
    title = f"Max sustainable rate and the steps of its search (matrix {matrix})"
    path = out / f"max_sustainable_{slug(matrix)}.png"
    finish(fig, title, shared(rows), path, top_legend=left)
    return [(title, path)]


def latency_plots(summary: list[dict[str, Any]], cells: list[dict[str, Any]], out: Path) -> Written:
    """Every latency plot the run's cells support."""
    ok_rows = [r for r in summary if r["ok"]]
    ok_cells = [c for c in cells if c.get("status") == "ok"]
    written: Written = []
    for matrix, rows in matrices(r for r in ok_rows if r["config"]["mode"] == "fixed-rate").items():
        steady = [r for r in rows if r["config"]["shape"] == "steady"]
        if steady:
            rates = {r["config"]["rate"] for r in steady}
            written.append(
                _vs_rate(steady, matrix, out) if len(rates) > 1 else _by_variant(steady, matrix, out)
            )
        mine = [
            c for c in ok_cells if c["config"]["matrix"] == matrix and c["config"]["mode"] == "fixed-rate"
        ]
        cdf = _cdf([c for c in mine if c["config"]["shape"] == "steady"], matrix, out)
        if cdf:
            written.append(cdf)
    for matrix, rows in matrices(r for r in ok_rows if r["config"]["mode"] == "max-sustainable").items():
        written += _search(rows, [c for c in ok_cells if c["config"]["matrix"] == matrix], matrix, out)
    seen: set[str] = set()
    for c in ok_cells:
        cfg = c["config"]
        moving = cfg["mode"] == "backlog-drain" or (cfg["mode"] == "fixed-rate" and cfg["shape"] != "steady")
        key = f"{cfg['matrix']}/{cfg['variant']}/{cfg['shape']}/{cfg.get('rate')}"
        if moving and key not in seen:  # the first repetition of each
            seen.add(key)
            t = _timeline(c, out)
            if t:
                written.append(t)
    return written
