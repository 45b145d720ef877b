"""The report: Markdown with PNG plots beside it, and optionally one self-contained HTML file.

The summary comes first (what was compared, who won by how much, on what
machine and load), then the plots, then the detail tables per matrix, the
notices, warm-ups and probes, failed cells, the environment, and how it was
measured. A report over several runs gives each run its section and ends
with a comparison of each run with the first (a table and a plot).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bytewax_kafka.bench.define.cell import cell_label
from bytewax_kafka.bench.define.variants import variant_label
from bytewax_kafka.bench.report.document import Results
from bytewax_kafka.bench.report.goals import Goal, goals_section
from bytewax_kafka.bench.report.summary import summary_section
from bytewax_kafka.bench.report.tables import Column, markdown_table, mode_table, ratio_column, text_column

__all__ = ["METHOD", "write_report"]

METHOD = """\
Each cell gets fresh input and output topics. In max-rate mode the input is
pre-filled, the flow (a real `python -m bytewax.run` process, or the raw
loop) starts with `tail=True`, and throughput is taken from the output
messages' producer timestamps over the steady state (the warm-up share
excluded) up to the last message; a cell without a message count is sized
from a short probe so that its steady state lasts at least its minimum
window. In fixed-rate mode locust offers the rate while the flow runs; every
message carries its *intended* send time and latency is the output's read
time minus that time (no coordinated omission), recorded in an
HdrHistogram. A backlog-drain cell pre-fills a backlog, starts the offered
rate, then the flow; a max-sustainable cell raises the offered rate step by
step until the flow no longer keeps up. Every cell checks that each message
came out; one that lost messages is marked failed. CPU and memory of the
flow's processes come from psutil, sampled every 50 ms; "busy CPU" counts
only the window in which the flow wrote its output, per message; "core
share" is that CPU over the window's wall time; the flow thread's time
waiting for a core comes from Linux's schedstat. The load average is the
machine's 1-minute average when the cell started. After each broker start an
untimed warm-up runs first, and each repetition rotates the order of the
variants, so that no variant always takes what comes first. Baselines run in
the same loop, on the same broker. MB/s counts value and key bytes (10^6
bytes).
"""


def _matrix_sections(doc: Results, level: str) -> list[str]:
    lines: list[str] = []
    rows = doc.summary
    for matrix in dict.fromkeys(r["config"]["matrix"] for r in rows):
        mine = [r for r in rows if r["config"]["matrix"] == matrix]
        mode = mine[0]["config"]["mode"]
        several = len({r["label"] for r in mine}) > 1
        lines += [f"{level} Matrix `{matrix}` ({mode})", ""]
        if not several:
            lines += [f"{mine[0]['label']}.", ""]
        lines += [*mode_table(mine, mode, with_config=several), ""]
        ours = [r for r in mine if r["ratios"]]
        if ours:
            names = [n for n in dict.fromkeys(k for r in ours for k in r["ratios"])]
            cols = [text_column("cell", lambda r: r["label"])] if several else []
            cols.append(text_column("variant", lambda r: variant_label(r["config"]["variant"])))
            cols += [ratio_column(n) for n in names]
            lines += ["Ratios, ours over the baseline in the same repetition (median, min-max):", ""]
            lines += [*markdown_table(cols, ours), ""]
    return lines


def _cell_notes(doc: Results, level: str) -> list[str]:
    noted = [c for c in doc.cells if c.get("notices")]
    lines: list[str] = []
    if noted:
        lines += [f"{level} Cells flagged", ""]
        lines += [
            f"- cell {c['id']} ({cell_label(c['config'])}): {'; '.join(c['notices'])}" for c in noted
        ] + [""]
    bad = [c for c in doc.cells if c["status"] != "ok"]
    if bad:
        cols = [
            Column("cell", lambda c: c["id"], right=False),
            Column("status", lambda c: c["status"], right=False),
            Column("config", lambda c: cell_label(c["config"]), right=False),
            Column(
                "reason",
                lambda c: (c.get("reason") or "").splitlines()[0][:300] if c.get("reason") else "",
                right=False,
            ),
        ]
        lines += [f"{level} Failed and skipped cells", "", *markdown_table(cols, bad), ""]
    return lines


def _runs_around(doc: Results, level: str) -> list[str]:
    lines: list[str] = []
    warm = doc.data.get("warmups") or []
    if warm:
        lines += [f"{level} Warm-ups (untimed)", ""]
        for w in warm:
            extra = (
                f", p99 {w['p99_ms']:.1f} ms, max {w['max_ms']:.1f} ms" if w.get("p99_ms") is not None else ""
            )
            lines.append(
                f"- {w['broker']}: {w['seconds']:g} s at {w['rate']:,} msg/s through the raw loop, "
                f"{w['status']}{extra}"
            )
        lines.append("")
    probes = doc.data.get("probes") or []
    if probes:
        lines += [f"{level} Message counts sized from probes", ""]
        for p in probes:
            rate = f"{p['msgs_per_s']:,.0f} msg/s" if p.get("msgs_per_s") else f"probe {p['status']}"
            lines.append(
                f"- {p['label']}: {rate} -> {p['messages']:,} messages (min window {p['min_window_s']:g} s)"
            )
        lines.append("")
    loads = [c for c in doc.cells if c.get("load")]
    if loads:
        cols = [
            Column("cell", lambda c: c["id"], right=False),
            Column("variant", lambda c: variant_label(c["config"]["variant"]), right=False),
            Column("offered msg/s", lambda c: f"{c['load'].get('rate') or c['config'].get('rate') or 0:,}"),
            Column("sent msg/s", lambda c: f"{c['load'].get('sent_msgs_per_s') or 0:,.0f}"),
            Column("delivered", lambda c: f"{c['load'].get('delivered', 0):,}"),
            Column("failed", lambda c: str(c["load"].get("failed", 0))),
            Column("max behind schedule ms", lambda c: f"{c['load'].get('max_behind_ms') or 0:.1f}"),
        ]
        lines += [f"{level} Load generator (locust) per cell", "", *markdown_table(cols, loads), ""]
    return lines


def _environment(doc: Results, level: str) -> list[str]:
    env = doc.data.get("environment") or {}
    pk = env.get("packages") or {}
    rows = [
        (
            "CPU",
            f"{env.get('cpu_model', '?')} ({env.get('cpu_count', '?')} CPUs, "
            f"{env.get('cpu_usable', '?')} usable)",
        ),
        ("memory", f"{env.get('memory_gib', '?')} GiB"),
        ("OS", f"{env.get('os', '?')} {env.get('machine', '')}"),
        ("Python", f"{env.get('python', '?')} ({env.get('python_implementation', '')})"),
        ("bytewax", str(pk.get("bytewax"))),
        ("confluent-kafka / librdkafka", f"{pk.get('confluent-kafka')} / {env.get('librdkafka')}"),
        (
            "bytewax-kafka (core / operators / bench)",
            " / ".join(str(pk.get(f"bytewax-kafka-{p}")) for p in ("core", "operators", "bench")),
        ),
        ("locust", str(pk.get("locust"))),
        ("git commit", str(env.get("git_commit"))),
        ("command", f"`{' '.join(doc.data.get('command') or [])}`"),
        (
            "started / finished",
            f"{doc.data.get('started')} / {doc.data.get('finished')} ({doc.data.get('elapsed_s', '?')} s)",
        ),
    ]
    cols = [Column("", lambda r: r[0], right=False), Column(" ", lambda r: r[1], right=False)]
    lines = [f"{level} Environment", "", *markdown_table(cols, rows), ""]
    brokers = list((doc.data.get("brokers") or {}).values())
    if brokers:
        bcols = [
            Column("spec", lambda b: str(b.get("spec")), right=False),
            Column("broker", lambda b: str(b.get("describe") or ""), right=False),
            Column("state", lambda b: str(b.get("unavailable") or b.get("error") or "ran"), right=False),
        ]
        lines += [f"{level} Brokers", "", *markdown_table(bcols, brokers), ""]
    return lines


def _run_section(
    doc: Results, out: Path, plot_dir: Path | None, goals: tuple[list[Goal], str] | None, top: bool
) -> list[str]:
    h2, h3 = ("##", "###") if top else ("###", "####")
    lines = [] if top else [f"## Run `{doc.run_id}`", ""]
    lines += [line.replace("## Summary", f"{h2} Summary", 1) for line in summary_section(doc)]
    if goals is not None:
        lines += [
            line.replace("### Goals", f"{h3} Goals")
            for line in goals_section(goals[0], doc.summary, goals[1])
        ]
    if plot_dir is not None:
        from bytewax_kafka.bench.report.plots import write_plots

        plots = write_plots(doc, plot_dir)
        if plots:
            lines += [f"{h2} Plots", ""]
            for title, path in plots:
                lines += [f"![{title}]({path.relative_to(out).as_posix()})", ""]
    lines += [f"{h2} Details", ""]
    lines += _matrix_sections(doc, h3)
    lines += _cell_notes(doc, h3)
    lines += _runs_around(doc, h3)
    lines += _environment(doc, h3)
    return lines


def _comparisons(docs: list[Results], out: Path, plots: bool) -> list[str]:
    from bytewax_kafka.bench.report.compare import DEFAULT_METRICS, compare_runs, render_table

    lines = ["## Comparison with the first run", ""]
    if plots:
        from bytewax_kafka.bench.report.plots import runs_plot

        for title, path in runs_plot(docs, out):
            lines += [f"![{title}]({path.relative_to(out).as_posix()})", ""]
    for d in docs[1:]:
        comp = compare_runs(docs[0], d, metrics=list(DEFAULT_METRICS), threshold=0.1)
        lines += [render_table(comp), ""]
    return lines


def write_report(
    docs: list[Results],
    out: Path,
    *,
    html: bool = False,
    plots: bool = True,
    title: str | None = None,
    self_dir: bool = False,
    goals: tuple[list[Goal], str] | None = None,
) -> Path:
    """Write ``report.md`` (and plots, and ``report.html`` when asked) into ``out``.

    Args:
        docs: Results of one or more runs.
        out: Folder to write into (created).
        html: Also write one self-contained ``report.html`` (plots inlined).
        plots: Draw the plots.
        title: Report title (default from the scenario or the run count).
        self_dir: ``out`` is the run's own folder: plots go beside the report.
        goals: Goals to check (and the file they came from); none by default.

    Returns:
        The path of ``report.md``.
    """
    out.mkdir(parents=True, exist_ok=True)
    if title is None:
        name = (docs[0].data.get("scenario") or {}).get("name")
        title = f"kafka-bench report: {name}" if len(docs) == 1 else f"kafka-bench report: {len(docs)} runs"
    lines = [f"# {title}", "", f"Generated {dt.datetime.now().isoformat(timespec='seconds')}.", ""]
    for i, doc in enumerate(docs):
        plot_dir = None
        if plots:
            plot_dir = out if self_dir and len(docs) == 1 else out / f"{i + 1}-{doc.run_id}"
        lines += _run_section(doc, out, plot_dir, goals, top=len(docs) == 1)
    if len(docs) > 1:
        lines += _comparisons(docs, out, plots)
    lines += ["## How this was measured", "", " ".join(METHOD.split()), ""]
    text = "\n".join(lines).rstrip() + "\n"
    path = out / "report.md"
    path.write_text(text, encoding="utf-8")
    if html:
        from bytewax_kafka.bench.report.html import markdown_to_html

        (out / "report.html").write_text(markdown_to_html(text, out, title), encoding="utf-8")
    return path
