"""Plots of a run (matplotlib, Agg backend, PNG): each titled, axes labelled with units, legends.

Every function takes a results document (``results.json`` loaded) and a
folder, draws what the run's data supports (a plot needs at least two x
values, or several bars) and returns the ``(title, path)`` pairs written:

- throughput vs batch size (a line per variant / worker / process count)
- throughput vs partitions
- throughput vs workers (threads, a line per process count)
- throughput by broker and variant (the broker comparison; bars)
- throughput by serde and variant (bars)
- latency percentiles vs offered rate
- latency CDF (percentile on a "nines" axis)
- latency and offered rate over time (ramp and spike shapes)
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

__all__ = ["write_plots"]

_VARIANT_COLORS = {
    "ours": "tab:blue",
    "ours-core": "tab:cyan",
    "builtin": "tab:orange",
    "builtin-core": "tab:brown",
    "raw": "tab:green",
}
_PCT_STYLES = {
    "latency_p50_ms": ("p50", "-", "o"),
    "latency_p90_ms": ("p90", "--", "s"),
    "latency_p99_ms": ("p99", "-.", "^"),
    "latency_p99_9_ms": ("p99.9", ":", "v"),
}
#: Config fields never used to tell lines apart.
_IGNORED = {"matrix", "id", "repetition", "messages", "duration", "timeout", "users"}
_ORDER = [
    "variant",
    "broker",
    "workers",
    "processes",
    "partitions",
    "batch_size",
    "serde",
    "message_size",
    "rate",
]
_SHORT = {
    "workers": "w",
    "processes": "procs",
    "partitions": "p",
    "batch_size": "bs",
    "message_size": "size",
    "rate": "rate",
}


def _thousands(v: float, _pos: Any = None) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:g}"


def _ok_rows(doc: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    return [r for r in doc.get("summary", []) if r.get("ok") and r["config"].get("mode") == mode]


def _varying(rows: list[dict[str, Any]], exclude: Iterable[str]) -> list[str]:
    skip = set(exclude) | _IGNORED
    keys = [k for k in rows[0]["config"] if k not in skip] if rows else []
    out = [k for k in keys if len({repr(r["config"].get(k)) for r in rows}) > 1]
    return sorted(out, key=lambda k: _ORDER.index(k) if k in _ORDER else len(_ORDER))


def _label(config: dict[str, Any], fields: list[str]) -> str:
    parts = []
    for f in fields:
        v = config.get(f)
        if f in ("variant", "broker", "serde", "shape", "keys"):
            parts.append(str(v))
        else:
            parts.append(f"{_SHORT.get(f, f)}={v:,}" if isinstance(v, int) else f"{_SHORT.get(f, f)}={v}")
    return " ".join(parts) or "all"


def _lines(rows: list[dict[str, Any]], x: str, y: str) -> dict[str, tuple[str, list[tuple[Any, float]]]]:
    """Group rows into lines over ``x``: {line key: (variant, [(x, y)...])}."""
    fields = _varying(rows, exclude=[x])
    if "variant" not in fields:
        fields = ["variant", *fields]
    lines: dict[str, tuple[str, list[tuple[Any, float]]]] = {}
    for r in rows:
        if r.get(y) is None:
            continue
        label = _label(r["config"], fields)
        lines.setdefault(label, (r["config"]["variant"], []))[1].append((r["config"][x], float(r[y])))
    for _, pts in lines.values():
        pts.sort(key=lambda p: p[0])
    return lines


def _subtitle(doc: dict[str, Any], rows: list[dict[str, Any]], exclude: Iterable[str]) -> str:
    """The parameters every plotted row shares, for the title."""
    if not rows:
        return ""
    common = []
    skip = (
        set(exclude)
        | _IGNORED
        | {"variant", "mode", "warmup", "ramp_start", "spike_factor", "spike_seconds", "key_space"}
    )
    keys = [*_ORDER, "keys"] + (["shape"] if rows[0]["config"].get("mode") == "fixed-rate" else [])
    for k in keys:
        if k in skip or k not in rows[0]["config"]:
            continue
        vals = {repr(r["config"].get(k)) for r in rows}
        if len(vals) == 1:
            v = rows[0]["config"][k]
            if v is None:
                continue
            if k == "message_size":
                common.append(f"{v} B values")
            elif k == "rate":
                common.append(f"{v:,} msg/s")
            elif k == "keys":
                common.append("keyless" if v == "none" else f"{v} keys")
            elif k in ("broker", "serde", "shape"):
                if k == "serde" and v == "none":
                    continue
                common.append(f"{k} {v}")
            else:
                common.append(f"{_SHORT.get(k, k)}={v}")
    return ", ".join(common)


def _finish(fig: Any, ax: Axes, title: str, sub: str, path: Path, *, legend: bool = True) -> None:
    ax.set_title(title, fontsize=12, loc="center")
    if sub:
        fig.text(
            0.5,
            0.005,
            "\n".join(textwrap.wrap(sub, 110)),
            ha="center",
            va="bottom",
            fontsize=8,
            color="dimgray",
        )
    ax.grid(True, which="major", alpha=0.3)
    handles, _labels = ax.get_legend_handles_labels()
    if legend and handles:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout(rect=(0, 0.05 if sub else 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _latency_axis(ax: Axes, values: list[float]) -> str:
    """Log scale when the values span more than a decade and a half; plain numbers either way."""
    positive = [v for v in values if v > 0]
    log = bool(positive) and max(positive) / min(positive) > 30
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _p: ""))
    else:
        ax.set_ylim(bottom=0, top=max(values) * 1.15 if values else 1)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    return ", log scale" if log else ""


_VARIANT_CMAPS = {
    "ours": "Blues",
    "ours-core": "GnBu",
    "builtin": "Oranges",
    "builtin-core": "YlOrBr",
    "raw": "Greens",
}


def _shades(variant: str, n: int) -> list[Any]:
    """``n`` colours for one variant's lines: its own colour alone, else shades of its colour map."""
    if n == 1:
        return [_VARIANT_COLORS.get(variant, "tab:gray")]
    cmap = plt.get_cmap(_VARIANT_CMAPS.get(variant, "Greys"))
    return [cmap(0.45 + 0.5 * i / (n - 1)) for i in range(n)]


def _by_matrix(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["config"]["matrix"], []).append(r)
    return out


def _legend(ax: Axes, fig: Any, count: int) -> None:
    if count > 6:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    elif count:
        ax.legend(fontsize=8, loc="best")


def _throughput_vs(
    doc: dict[str, Any], out: Path, x: str, xlabel: str, stem: str, title: str, logx: bool
) -> list[tuple[str, Path]]:
    """One plot per matrix in which ``x`` takes several values; a line per other setting."""
    per = {
        name: rows
        for name, rows in _by_matrix(_ok_rows(doc, "max-rate")).items()
        if len({r["config"][x] for r in rows}) >= 2
    }
    written: list[tuple[str, Path]] = []
    for name, rows in per.items():
        lines = {k: v for k, v in _lines(rows, x, "msgs_per_s").items() if len(v[1]) >= 2}
        if not lines:
            continue
        many = len(lines) > 6
        fig, ax = plt.subplots(figsize=(10.5 if many else 8, 5))
        by_variant: dict[str, list[str]] = {}
        for label, (variant, _pts) in sorted(lines.items(), key=lambda kv: _natural(kv[0])):
            by_variant.setdefault(variant, []).append(label)
        for variant in [v for v in _VARIANT_COLORS if v in by_variant]:
            labels = by_variant[variant]
            for label, color in zip(labels, _shades(variant, len(labels)), strict=True):
                xs, ys = zip(*lines[label][1], strict=True)
                ax.plot(xs, ys, marker="o", label=label, color=color)
        if logx:
            ax.set_xscale("log")
        ax.set_xticks(sorted({r["config"][x] for r in rows}))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _p: ""))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("throughput (messages/s, steady state)")
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.set_ylim(bottom=0)
        _legend(ax, fig, len(lines))
        full = f"{title} (matrix {name})" if len(per) > 1 else title
        path = out / (f"{stem}_{_slug(name)}.png" if len(per) > 1 else f"{stem}.png")
        _finish(fig, ax, full, _subtitle(doc, rows, [x]), path, legend=False)
        written.append((full, path))
    return written


def _natural(label: str) -> list[Any]:
    """Sort key reading the numbers in a label as numbers (bs=100 before bs=1,000)."""
    return [
        int(t.replace(",", "")) if t.replace(",", "").isdigit() else t for t in re.split(r"([\d,]+)", label)
    ]


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)


def _group_order(value: Any) -> tuple[int, str]:
    order = [
        "none",
        "json",
        "avro",
        "registry-avro",
        "tansu",
        "kafka",
        "kafka-cluster",
        "redpanda",
        "kafka-container",
    ]
    return (order.index(value) if value in order else len(order), str(value))


def _bars(
    doc: dict[str, Any], out: Path, group: str, stem: str, title: str, xlabel: str
) -> list[tuple[str, Path]]:
    """Grouped bars of msg/s per ``group`` value and variant, for matrices where ``group`` varies.

    With no such matrix and ``group == "broker"``, the first max-rate matrix
    that varies nothing but the variant gets a plain per-connector bar chart.
    """
    rows_all = [r for r in _ok_rows(doc, "max-rate") if r.get("msgs_per_s") is not None]
    per = {n: rs for n, rs in _by_matrix(rows_all).items() if len({r["config"][group] for r in rs}) >= 2}
    if not per and group == "broker":
        for n, rs in _by_matrix(rows_all).items():
            if not _varying(rs, exclude=["variant"]) and len({r["config"]["variant"] for r in rs}) >= 2:
                per = {n: rs}
                break
    written: list[tuple[str, Path]] = []
    for name, rows in per.items():
        others = _varying(rows, exclude=[group, "variant"])
        if others:  # only the rows sharing the first row's other settings
            ref = rows[0]["config"]
            rows = [r for r in rows if all(r["config"].get(k) == ref.get(k) for k in others)]
        groups = sorted({r["config"][group] for r in rows}, key=_group_order)
        variants = [v for v in _VARIANT_COLORS if any(r["config"]["variant"] == v for r in rows)]
        fig, ax = plt.subplots(figsize=(max(6.5, 1.2 * len(groups) * len(variants)), 5))
        width = 0.8 / len(variants)
        for i, v in enumerate(variants):
            xs, ys = [], []
            for gi, g in enumerate(groups):
                match = [r for r in rows if r["config"]["variant"] == v and r["config"][group] == g]
                if match:
                    xs.append(gi + (i - (len(variants) - 1) / 2) * width)
                    ys.append(float(match[0]["msgs_per_s"]))
            bars = ax.bar(xs, ys, width=width, label=v, color=_VARIANT_COLORS.get(v))
            ax.bar_label(bars, labels=[_thousands(y) for y in ys], fontsize=8, padding=2)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([str(g) for g in groups])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("throughput (messages/s, steady state)")
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
        single = len(groups) == 1
        full = "Throughput by connector" if single else title
        if len(per) > 1:
            full += f" (matrix {name})"
        path = out / (f"{stem}_{_slug(name)}.png" if len(per) > 1 else f"{stem}.png")
        _finish(fig, ax, full, _subtitle(doc, rows, [] if single else [group]), path)
        written.append((full, path))
    return written


def _latency_vs_rate(doc: dict[str, Any], out: Path) -> list[tuple[str, Path]]:
    rows = [r for r in _ok_rows(doc, "fixed-rate") if r["config"].get("shape") == "steady"]
    if not rows:
        return []
    fields = _varying(rows, exclude=["rate"])
    if "variant" not in fields:
        fields = ["variant", *fields]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(_label(r["config"], fields), []).append(r)
    fig, ax = plt.subplots(figsize=(10.5 if 4 * len(groups) > 6 else 8, 5))
    cmap = plt.get_cmap("tab10")
    for gi, (label, members) in enumerate(sorted(groups.items())):
        members.sort(key=lambda r: r["config"]["rate"])
        variant = members[0]["config"]["variant"]
        color = _VARIANT_COLORS.get(variant) if len(groups) <= len(_VARIANT_COLORS) else cmap(gi % 10)
        for key, (pname, style, marker) in _PCT_STYLES.items():
            pts = [(r["config"]["rate"], r[key]) for r in members if r.get(key) is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, linestyle=style, marker=marker, color=color, label=f"{label} {pname}")
    scale = _latency_axis(ax, [float(r[k]) for r in rows for k in _PCT_STYLES if r.get(k) is not None])
    ax.set_xlabel("offered rate (messages/s)")
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    rates = sorted({r["config"]["rate"] for r in rows})
    ax.set_xticks(rates)
    if len(rates) == 1:
        ax.set_xlim(rates[0] * 0.5, rates[0] * 1.5)
    ax.set_ylabel(f"end-to-end latency (ms{scale})")
    title = "End-to-end latency percentiles vs offered rate"
    path = out / "latency_vs_rate.png"
    _legend(ax, fig, len(ax.get_legend_handles_labels()[0]))
    _finish(fig, ax, title, _subtitle(doc, rows, ["rate"]), path, legend=False)
    return [(title, path)]


def _nines(p: float) -> float:
    return 1.0 / (1.0 - min(p, 99.9999) / 100.0)


def _latency_cdf(doc: dict[str, Any], out: Path) -> list[tuple[str, Path]]:
    cells = [
        c
        for c in doc.get("cells", [])
        if c.get("status") == "ok"
        and c["config"].get("mode") == "fixed-rate"
        and (c.get("metrics") or {}).get("latency_cdf")
    ]
    if not cells:
        return []
    # One line per config: the first repetition.
    seen: set[str] = set()
    chosen = []
    for c in cells:
        key = repr(sorted((k, v) for k, v in c["config"].items() if k not in ("id", "repetition")))
        if key not in seen:
            seen.add(key)
            chosen.append(c)
    pseudo = [{"config": c["config"]} for c in chosen]
    fields = _varying(pseudo, exclude=[])
    if "variant" not in fields:
        fields = ["variant", *fields]
    many = len(chosen) > 6
    fig, ax = plt.subplots(figsize=(10.5 if many else 8, 5))
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for c in sorted(chosen, key=lambda c: _natural(_label(c["config"], fields))):
        by_variant.setdefault(c["config"]["variant"], []).append(c)
    for variant in [v for v in _VARIANT_COLORS if v in by_variant]:
        members = by_variant[variant]
        for c, color in zip(members, _shades(variant, len(members)), strict=True):
            pts = [(p, v) for p, v in c["metrics"]["latency_cdf"] if p < 100.0]
            ax.plot(
                [_nines(p) for p, _ in pts],
                [v for _, v in pts],
                label=_label(c["config"], fields),
                color=color,
                marker=".",
            )
    ax.set_xscale("log")
    ticks = [50.0, 90.0, 99.0, 99.9, 99.99, 99.999]
    ax.set_xticks([_nines(p) for p in ticks])
    ax.set_xticklabels([f"{p:g}%" for p in ticks])
    ax.set_xlim(1.0, _nines(99.999))
    ax.set_xlabel("percentile (log scale of 1/(1-p))")
    ax.set_ylabel("end-to-end latency (ms)")
    ax.set_ylim(bottom=0)
    title = "End-to-end latency distribution (from intended send time)"
    path = out / "latency_cdf.png"
    _legend(ax, fig, len(chosen))
    _finish(fig, ax, title, _subtitle(doc, pseudo, []), path, legend=False)
    return [(title, path)]


def _timelines(doc: dict[str, Any], out: Path) -> list[tuple[str, Path]]:
    written = []
    for c in doc.get("cells", []):
        cfg = c["config"]
        m = c.get("metrics") or {}
        if c.get("status") != "ok" or cfg.get("mode") != "fixed-rate" or cfg.get("shape") == "steady":
            continue
        tl = m.get("timeline") or []
        if len(tl) < 2:
            continue
        fig, ax = plt.subplots(figsize=(8, 5))
        ts = [p["t"] for p in tl]
        ax.plot(ts, [p["p50_ms"] for p in tl], label="p50 latency", color="tab:blue", marker=".")
        ax.plot(ts, [p["p99_ms"] for p in tl], label="p99 latency", color="tab:red", marker=".")
        ax.plot(ts, [p["max_ms"] for p in tl], label="max latency", color="tab:gray", linestyle=":")
        scale = _latency_axis(ax, [float(p[k]) for p in tl for k in ("p50_ms", "p99_ms", "max_ms")])
        ax.set_xlabel("time since load start (s, by intended send time)")
        ax.set_ylabel(f"end-to-end latency (ms{scale})")
        ax2 = ax.twinx()
        ax2.bar(
            ts, [p["messages"] for p in tl], alpha=0.15, color="tab:green", label="offered (msg/s)", width=0.9
        )
        ax2.set_ylabel("offered load (messages/s)")
        ax.set_zorder(ax2.get_zorder() + 1)  # lines over the bars
        ax.patch.set_visible(False)
        ax2.yaxis.set_major_formatter(FuncFormatter(_thousands))
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
        title = (
            f"Latency over time, {cfg['shape']} load up to {cfg['rate']:,} msg/s "
            f"({cfg['variant']}, cell {c['id']})"
        )
        path = out / f"timeline_{c['id']}_{cfg['variant']}_{cfg['shape']}.png"
        ax.set_title(
            f"{title}\n{cfg['broker']}, p={cfg['partitions']}, bs={cfg['batch_size']}, w={cfg['workers']}",
            fontsize=11,
        )
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append((title, path))
    return written


def write_plots(doc: dict[str, Any], out: Path) -> list[tuple[str, Path]]:
    """Draw every plot the run's data supports into ``out``; returns ``(title, path)`` pairs."""
    out.mkdir(parents=True, exist_ok=True)
    makers: list[Callable[[], list[tuple[str, Path]]]] = [
        lambda: _throughput_vs(
            doc,
            out,
            "batch_size",
            "source batch size (messages, log scale)",
            "throughput_vs_batch_size",
            "Throughput vs batch size",
            True,
        ),
        lambda: _throughput_vs(
            doc,
            out,
            "partitions",
            "partitions (input and output topic)",
            "throughput_vs_partitions",
            "Throughput vs partitions",
            False,
        ),
        lambda: _throughput_vs(
            doc,
            out,
            "workers",
            "worker threads per process (-w)",
            "throughput_vs_workers",
            "Throughput vs worker threads",
            False,
        ),
        lambda: _throughput_vs(
            doc,
            out,
            "processes",
            "flow processes (-i/-a)",
            "throughput_vs_processes",
            "Throughput vs processes",
            False,
        ),
        lambda: _throughput_vs(
            doc,
            out,
            "message_size",
            "value size (bytes, log scale)",
            "throughput_vs_message_size",
            "Throughput vs message size",
            True,
        ),
        lambda: _bars(
            doc, out, "broker", "throughput_by_broker", "Throughput by broker and connector", "broker"
        ),
        lambda: _bars(
            doc,
            out,
            "serde",
            "throughput_by_serde",
            "Throughput by value format (deserialize + serialize per message)",
            "value format",
        ),
        lambda: _latency_vs_rate(doc, out),
        lambda: _latency_cdf(doc, out),
        lambda: _timelines(doc, out),
    ]
    written: list[tuple[str, Path]] = []
    for make in makers:
        written.extend(make())
    return written
