"""Compare two runs: NEW/OLD ratios of matching cells, and which ones regressed.

Cells are matched on the settings that identify them (:data:`IDENTITY`:
broker, variant, mode, partitions, batch size, workers, processes, rate,
shape, serde, message size, keys, client and GC settings); medians over
repetitions are compared. For a metric where
higher is better (throughput) a ratio below ``1 - threshold`` is a
regression; where lower is better (latency, CPU per message) a ratio above
``1 + threshold`` is.

Example:
    >>> old = {"run_id": "a", "summary": [{"config": {"variant": "ours"}, "msgs_per_s": 100.0}]}
    >>> new = {"run_id": "b", "summary": [{"config": {"variant": "ours"}, "msgs_per_s": 80.0}]}
    >>> c = compare_runs(old, new, metrics=["msgs_per_s"], threshold=0.1)
    >>> [(r.metric, r.ratio, r.verdict) for r in c.rows]
    [('msgs_per_s', 0.8, 'regression')]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bytewax_kafka.bench.results import summarize

__all__ = [
    "DEFAULT_METRICS",
    "HIGHER_IS_BETTER",
    "IDENTITY",
    "Comparison",
    "Row",
    "compare_runs",
    "identity",
    "render_table",
]

#: Metrics judged when none are named.
DEFAULT_METRICS = ("msgs_per_s", "latency_p99_ms")
#: Metrics where a larger value is better; every other one is "lower is better".
HIGHER_IS_BETTER = frozenset(
    {"msgs_per_s", "mb_per_s", "msgs_per_cpu_s", "vs_builtin", "vs_raw", "cpu_vs_builtin", "cpu_vs_raw"}
)
_KNOWN = (
    "msgs_per_s",
    "mb_per_s",
    "cpu_s",
    "cpu_us_per_msg",
    "busy_cpu_us_per_msg",
    "msgs_per_cpu_s",
    "startup_s",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_p99_9_ms",
    "latency_max_ms",
    "vs_builtin",
    "vs_raw",
    "cpu_vs_builtin",
    "cpu_vs_raw",
    "p99_vs_builtin",
    "p99_vs_raw",
)


@dataclass
class Row:
    """One metric of one matched config."""

    label: str
    metric: str
    old: float
    new: float
    ratio: float
    verdict: str  # regression | improvement | same


@dataclass
class Comparison:
    """All compared rows, and the regressions among them."""

    old_id: str
    new_id: str
    threshold: float
    rows: list[Row] = field(default_factory=list)
    unmatched_old: int = 0
    unmatched_new: int = 0

    @property
    def regressions(self) -> list[Row]:
        """Rows past the threshold in the bad direction."""
        return [r for r in self.rows if r.verdict == "regression"]


#: What identifies a cell across runs; other settings (warm-up, duration,
#: timeouts, the matrix's name) may change without breaking the match.
IDENTITY = {
    "broker": None,
    "variant": None,
    "mode": None,
    "partitions": None,
    "batch_size": None,
    "workers": None,
    "processes": None,
    "rate": None,
    "shape": "steady",
    "serde": "none",
    "message_size": None,
    "keys": "uniform",
    "consumer_config": None,
    "producer_config": None,
    "gc_threshold": None,
}


def identity(cfg: dict[str, Any]) -> str:
    """The matching key of a cell config (keys missing in older results take their default)."""
    return json.dumps({k: cfg.get(k, default) for k, default in IDENTITY.items()}, sort_keys=True)


def _label(cfg: dict[str, Any]) -> str:
    parts = [str(cfg.get("variant")), str(cfg.get("broker"))]
    for k, short in (("partitions", "p"), ("batch_size", "bs"), ("workers", "w"), ("processes", "procs")):
        if cfg.get(k) is not None:
            parts.append(f"{short}={cfg[k]}")
    if cfg.get("serde") not in (None, "none"):
        parts.append(str(cfg["serde"]))
    if cfg.get("rate"):
        parts.append(f"{cfg['rate']:,}/s")
    if cfg.get("message_size") not in (None, 100):
        parts.append(f"{cfg['message_size']} B")
    return " ".join(parts)


def _summary(doc: dict[str, Any]) -> list[dict[str, Any]]:
    rows = doc.get("summary")
    if rows is None:
        rows = summarize(doc.get("cells", []))
    return list(rows)


def compare_runs(
    old: dict[str, Any], new: dict[str, Any], *, metrics: list[str] | tuple[str, ...], threshold: float
) -> Comparison:
    """Compare the summaries of two runs.

    Raises:
        ValueError: For an unknown metric.
    """
    for m in metrics:
        if m not in _KNOWN:
            raise ValueError(f"unknown metric {m!r}; use one of {', '.join(_KNOWN)}")
    comp = Comparison(old_id=str(old.get("run_id")), new_id=str(new.get("run_id")), threshold=threshold)
    olds = {identity(r["config"]): r for r in _summary(old)}
    news = {identity(r["config"]): r for r in _summary(new)}
    comp.unmatched_old = len(set(olds) - set(news))
    comp.unmatched_new = len(set(news) - set(olds))
    for key, n in news.items():
        o = olds.get(key)
        if o is None:
            continue
        for metric in metrics:
            a, b = o.get(metric), n.get(metric)
            if not isinstance(a, int | float) or not isinstance(b, int | float) or a == 0:
                continue
            ratio = float(b) / float(a)
            if metric in HIGHER_IS_BETTER:
                verdict = (
                    "regression"
                    if ratio < 1 - threshold
                    else "improvement"
                    if ratio > 1 + threshold
                    else "same"
                )
            else:
                verdict = (
                    "regression"
                    if ratio > 1 + threshold
                    else "improvement"
                    if ratio < 1 - threshold
                    else "same"
                )
            comp.rows.append(Row(_label(n["config"]), metric, float(a), float(b), round(ratio, 4), verdict))
    comp.rows.sort(key=lambda r: (r.label, r.metric))
    return comp


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def render_table(comp: Comparison) -> str:
    """The comparison as a Markdown table (readable on a terminal too)."""
    lines = [
        f"NEW {comp.new_id} / OLD {comp.old_id}, threshold {comp.threshold:.0%}",
        "",
        "| cell | metric | old | new | new/old | verdict |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in comp.rows:
        mark = {"regression": "**REGRESSION**", "improvement": "better", "same": "same"}[r.verdict]
        lines.append(f"| {r.label} | {r.metric} | {_fmt(r.old)} | {_fmt(r.new)} | {r.ratio:.3f} | {mark} |")
    if comp.unmatched_old or comp.unmatched_new:
        lines.append("")
        lines.append(
            f"unmatched: {comp.unmatched_old} config(s) only in OLD, {comp.unmatched_new} only in NEW"
        )
    return "\n".join(lines)
