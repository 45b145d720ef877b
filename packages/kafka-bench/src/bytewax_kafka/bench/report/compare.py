"""Compare two runs: NEW/OLD ratios of matching configurations, judged against the noise of both.

Configurations are matched on the settings that identify them
(:data:`IDENTITY`); the medians over repetitions are compared, and each
run's min-max range over its repetitions is its noise. A change is a
**regression** only when it goes the bad way by more than the threshold
*and* the two ranges do not overlap (it is outside the noise of both runs).
A change beyond the threshold whose ranges overlap is **within noise**; with
a single repetition on either side the noise is unknown and the change is
called **unclear**, never a regression.

Example:
    >>> def run(rid, values):
    ...     spread = {"median": sorted(values)[1], "min": min(values), "max": max(values), "n": 3}
    ...     config = {"variant": "ours", "mode": "max-rate"}
    ...     return {"run_id": rid, "summary": [{"config": config, "metrics": {"msgs_per_s": spread}}]}
    >>> old, new = run("a", [100, 102, 98]), run("b", [80, 82, 79])
    >>> c = compare_runs(old, new, metrics=["msgs_per_s"], threshold=0.1)
    >>> [(r.metric, round(r.ratio, 3), r.verdict) for r in c.rows]
    [('msgs_per_s', 0.8, 'regression')]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bytewax_kafka.bench.define.variants import variant_label
from bytewax_kafka.bench.report.metrics import METRICS, PRIMARY

__all__ = ["DEFAULT_METRICS", "IDENTITY", "Comparison", "Row", "compare_runs", "identity", "render_table"]

#: Metrics judged when none are named: the primary figure, throughput, p99 latency.
DEFAULT_METRICS = (PRIMARY, "msgs_per_s", "latency_p99_ms", "max_sustainable_msgs_per_s")

#: What identifies a cell across runs (missing keys take these defaults); other
#: settings (warm-up, duration, message counts, timeouts, the matrix's name)
#: may change without breaking the match.
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
    "guarantee": "at-least-once",
    "consumer_config": None,
    "producer_config": None,
    "gc_threshold": None,
    "gc_tuning": True,
    "flow_python": None,
    "epoch_interval": None,
}


#: Metrics that only say what was offered, in cells that offer a rate.
_OFFERED = frozenset({"msgs_per_s", "mb_per_s", "sent_msgs_per_s"})


def identity(cfg: dict[str, Any]) -> str:
    """The matching key of a cell config."""
    return json.dumps({k: cfg.get(k, default) for k, default in IDENTITY.items()}, sort_keys=True)


@dataclass
class Row:
    """One metric of one matched configuration."""

    label: str
    metric: str
    old: dict[str, Any]
    new: dict[str, Any]
    ratio: float
    verdict: str  # regression | improvement | within noise | unclear | same


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
        """Rows worse beyond the threshold and outside the noise of both runs."""
        return [r for r in self.rows if r.verdict == "regression"]

    @property
    def unclear(self) -> list[Row]:
        """Rows beyond the threshold where a run had one repetition: noise unknown."""
        return [r for r in self.rows if r.verdict == "unclear"]


def _verdict(old: dict[str, Any], new: dict[str, Any], ratio: float, higher: bool, threshold: float) -> str:
    worse = ratio < 1 - threshold if higher else ratio > 1 + threshold
    better = ratio > 1 + threshold if higher else ratio < 1 - threshold
    if not (worse or better):
        return "same"
    if old["n"] < 2 or new["n"] < 2:
        return "unclear"
    apart = new["max"] < old["min"] or old["max"] < new["min"]
    if not apart:
        return "within noise"
    return "regression" if worse else "improvement"


def _summary(doc: Any) -> list[dict[str, Any]]:
    rows = doc.summary if hasattr(doc, "summary") else doc.get("summary")
    return list(rows or [])


def _run_id(doc: Any) -> str:
    return str(doc.run_id if hasattr(doc, "run_id") else doc.get("run_id"))


def compare_runs(old: Any, new: Any, *, metrics: list[str] | tuple[str, ...], threshold: float) -> Comparison:
    """Compare the summaries of two runs (:class:`~bytewax_kafka.bench.report.document.Results` or dicts).

    Raises:
        ValueError: For an unknown metric, or one with no better direction.
    """
    for m in metrics:
        if m not in METRICS:
            raise ValueError(f"unknown metric {m!r}; use one of {', '.join(METRICS)}")
        if METRICS[m].higher_is_better is None:
            raise ValueError(f"{m} has no better direction to judge; use one of {', '.join(DEFAULT_METRICS)}")
    comp = Comparison(old_id=_run_id(old), new_id=_run_id(new), threshold=threshold)
    olds = {identity(r["config"]): r for r in _summary(old)}
    news = {identity(r["config"]): r for r in _summary(new)}
    comp.unmatched_old = len(set(olds) - set(news))
    comp.unmatched_new = len(set(news) - set(olds))
    for key, n in news.items():
        o = olds.get(key)
        if o is None:
            continue
        for name in metrics:
            if name in _OFFERED and n["config"].get("mode") != "max-rate":
                continue  # a fixed rate's msg/s is the rate offered, nothing the flow did
            a, b = (o.get("metrics") or {}).get(name), (n.get("metrics") or {}).get(name)
            if not a or not b or not a["median"]:
                continue
            ratio = float(b["median"]) / float(a["median"])
            verdict = _verdict(a, b, ratio, bool(METRICS[name].higher_is_better), threshold)
            label = f"{variant_label(str(n['config'].get('variant')))} · {n.get('label', '')}"
            comp.rows.append(Row(label, name, a, b, round(ratio, 4), verdict))
    comp.rows.sort(key=lambda r: (r.label, r.metric))
    return comp


def _cell(metric: str, s: dict[str, Any]) -> str:
    m = METRICS[metric]
    if s["n"] > 1 and s["min"] != s["max"]:
        return f"{m.format(s['median'])} ({m.format(s['min'])}-{m.format(s['max'])}, n={s['n']})"
    return f"{m.format(s['median'])} (n={s['n']})"


def render_table(comp: Comparison) -> str:
    """The comparison as a Markdown table (readable on a terminal too), with how it judged."""
    lines = [
        f"NEW {comp.new_id} / OLD {comp.old_id}: a regression is worse by more than {comp.threshold:.0%} "
        "and outside the min-max range of both runs' repetitions",
        "",
        "| cell | metric | old median (min-max) | new median (min-max) | new/old | verdict |",
        "|---|---|---:|---:|---:|---|",
    ]
    marks = {
        "regression": "**REGRESSION**",
        "improvement": "better",
        "within noise": "within noise",
        "unclear": "unclear: 1 repetition, noise unknown",
        "same": "same",
    }
    for r in comp.rows:
        lines.append(
            f"| {r.label} | {METRICS[r.metric].label} | {_cell(r.metric, r.old)} | {_cell(r.metric, r.new)} "
            f"| {r.ratio:.3f} | {marks[r.verdict]} |"
        )
    if comp.unmatched_old or comp.unmatched_new:
        lines += [
            "",
            f"unmatched: {comp.unmatched_old} config(s) only in OLD, {comp.unmatched_new} only in NEW",
        ]
    return "\n".join(lines)
