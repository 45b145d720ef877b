"""The summary a report opens with: what was compared, who won by how much, on what machine and load.

One line per configuration where a variant of ours ran beside a baseline,
for the figures of its mode (primary figure first): our median, the
baselines' medians, and the ratios with their range over the repetitions.
A ratio whose range spans 1 is called a tie: the repetitions disagree.
"""

from __future__ import annotations

from typing import Any

from bytewax_kafka.bench.define.cell import LOAD_LIMIT
from bytewax_kafka.bench.define.variants import VARIANTS, legend, variant_label
from bytewax_kafka.bench.report.document import Results
from bytewax_kafka.bench.report.metrics import METRICS, MODE_FIGURES, RATIOS, WHY_PRIMARY

__all__ = ["HEADLINE_METRICS", "headline", "machine_line", "summary_section"]

#: The figures the summary gives per mode.
HEADLINE_METRICS = MODE_FIGURES


def machine_line(doc: Results) -> str:
    """The machine and its load, in one sentence."""
    env = doc.data.get("environment") or {}
    loads = [
        float(c["metrics"]["loadavg_before"])
        for c in doc.cells
        if c.get("status") == "ok" and (c.get("metrics") or {}).get("loadavg_before") is not None
    ]
    busy = sum(1 for v in loads if v > LOAD_LIMIT)
    load = (
        f"load average {min(loads):.1f}-{max(loads):.1f} at the start of the cells"
        + (f" ({busy} of {len(loads)} cells above {LOAD_LIMIT:g}: flagged below)" if busy else "")
        if loads
        else "load average not recorded"
    )
    cores = env.get("cpu_cores")
    return (
        f"{env.get('cpu_model', 'unknown CPU')} ({env.get('cpu_usable', '?')} usable CPUs"
        + (f", {cores} cores" if cores else "")
        + f"), {env.get('memory_gib', '?')} GiB, {env.get('os', '?')}, "
        + f"Python {env.get('python', '?')}; {load}"
    )


def _fmt_spread(fmt: Any, s: dict[str, Any]) -> str:
    if s["n"] > 1 and s["min"] != s["max"]:
        return f"{fmt(s['median'])} ({fmt(s['min'])}-{fmt(s['max'])})"
    return str(fmt(s["median"]))


def _verdict(ratio: dict[str, Any], higher_is_better: bool | None) -> str:
    lo, hi = ratio["min"], ratio["max"]
    if lo <= 1.0 <= hi and ratio["n"] > 1:
        return "a tie within the repetitions' spread"
    better = ratio["median"] > 1.0 if higher_is_better else ratio["median"] < 1.0
    return "ours better" if better else "ours worse"


def _line(row: dict[str, Any], baselines: dict[str, dict[str, Any]], name: str) -> str | None:
    metric = METRICS[name]
    mine = row["metrics"].get(name)
    if mine is None:
        return None
    parts = [f"{metric.label} {_fmt_spread(metric.format, mine)} {metric.unit}".rstrip()]
    for short, versus in (("builtin", "built-in"), ("raw", "ceiling")):
        base = baselines.get(versus)
        ratio = row["ratios"].get(f"{name}_vs_{short}")
        if base is None or ratio is None or base["metrics"].get(name) is None:
            continue
        other = variant_label(base["config"]["variant"])
        ratio_text = _fmt_spread(RATIOS[f"{name}_vs_{short}"].format, ratio)
        verdict = _verdict(ratio, metric.higher_is_better)
        parts.append(
            f"vs {metric.format(base['metrics'][name]['median'])} {metric.unit} for the {other}: "
            f"**{ratio_text}** ({verdict})"
        )
    return "; ".join(parts)


def headline(doc: Results) -> list[str]:
    """The result lines: for each configuration with ours and a baseline, its mode's figures."""
    rows = [r for r in doc.summary if r["ok"]]
    by_key: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        variant = VARIANTS.get(r["config"]["variant"])
        role = variant.role if variant else "other"
        by_key.setdefault((r["config"]["matrix"], r["label"]), {})[r["config"]["variant"]] = {
            **r,
            "_role": role,
        }
    lines: list[str] = []
    for (matrix, label), variants in by_key.items():
        baselines: dict[str, dict[str, Any]] = {}
        for v in variants.values():
            if v["_role"] in ("built-in", "ceiling"):
                baselines.setdefault(v["_role"], v)
        for name, row in variants.items():
            if row["_role"] != "ours" or not baselines:
                continue
            mode = row["config"]["mode"]
            texts = [t for t in (_line(row, baselines, m) for m in HEADLINE_METRICS[mode]) if t]
            if texts:
                lines.append(f"- *{matrix}*, {label}, {variant_label(name)}: " + ". ".join(texts) + ".")
    return lines


def summary_section(doc: Results) -> list[str]:
    """The report's opening section."""
    sc = doc.data.get("scenario") or {}
    variants = list(dict.fromkeys(c["config"]["variant"] for c in doc.cells))
    brokers = [b.get("describe") or b.get("spec") for b in (doc.data.get("brokers") or {}).values()]
    reps = max((c["config"]["repetition"] for c in doc.cells), default=0)
    lines = ["## Summary", ""]
    lines.append(
        f"**Compared**: {', '.join(variant_label(v) for v in variants)} "
        f"on {', '.join(str(b) for b in brokers if b) or 'no broker'}; scenario `{sc.get('name')}`, "
        f"{reps} repetition{'s' if reps != 1 else ''}, variants side by side and their order rotated "
        "between repetitions, after an untimed warm-up of each broker."
    )
    lines += ["", f"**Machine**: {machine_line(doc)}.", ""]
    if doc.notices:
        lines += ["**Notices**:", ""] + [f"- {n}" for n in doc.notices] + [""]
    results = headline(doc)
    if results:
        lines += [
            "**Results** (medians over the repetitions, min-max in parentheses; a ratio is ours over the "
            "baseline's figure in the same repetition):",
            "",
            *results,
            "",
        ]
    else:
        lines += ["No configuration ran a variant of ours beside a baseline.", ""]
    lines += ["**Variants**:", ""] + [f"- **{label}**: {text}" for label, text in legend(variants)] + [""]
    lines += [WHY_PRIMARY, ""]
    return lines
