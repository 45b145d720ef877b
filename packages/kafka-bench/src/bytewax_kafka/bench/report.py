"""Reports: Markdown (with PNG plots beside it) and optionally one self-contained HTML file.

A report covers one or more runs: for each, the environment and brokers, the
performance goals checked against its cells where it has the cells to check
them, a table per matrix (throughput; latency with locust's load stats),
failed and skipped cells with their reasons, and the plots. With several
runs a comparison of each run against the first follows.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
from pathlib import Path
from typing import Any

__all__ = ["markdown_to_html", "write_report"]

METHOD = """\
How this was measured: each cell gets fresh input and output topics. In
max-rate mode the input is pre-filled, the flow (a real `python -m
bytewax.run` process, or the raw loop) starts with `tail=True`, and
throughput is taken from the output messages' producer timestamps over the
steady state (the warm-up share excluded) up to the last message. In
fixed-rate mode locust offers the rate while the flow runs; every message
carries its *intended* send time and latency is output read time minus that
time (no coordinated omission), recorded in an HdrHistogram. Every cell
checks that each message came out; one that lost messages is marked failed.
CPU is user + system time of the flow's processes (start-up included);
"busy CPU" counts only the window in which the flow wrote its output, per
message, and "core share" is that CPU over the window's wall time (below 1:
the flow waited, on the broker or for a core). "load avg" is the machine's
1-minute load average after the cell: other work on the machine skews
wall-clock figures, busy CPU per message much less.
Baselines run in the same cell loop, on the same broker: Bytewax 0.21.1's
built-in connector as shipped (`builtin`: its operators; `builtin-core`: its
source and sink) and a raw confluent-kafka consume -> produce loop (`raw`,
one thread per process; `workers` does not apply to it). `registry-avro`
uses confluent-kafka's in-memory mock registry inside each flow process (no
HTTP round trips are measured). MB/s counts value and key bytes
(10^6 bytes).
"""

_GOAL_TEXT = (
    "Performance goals, on one broker in one run, 100-byte values, 4 partitions, 1 worker: "
    "ours >= 2x the built-in connector's throughput and >= 0.5x the raw loop's; "
    "p99 end-to-end latency at a fixed 50,000 msg/s <= 10 ms."
)


def _f(v: Any, fmt: str = "{:,.0f}") -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, int | float):
        return fmt.format(v)
    return str(v)


def _table(headers: list[str], rows: list[list[str]], align: list[str] | None = None) -> list[str]:
    align = align or ["l"] * len(headers)
    out = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
    ]
    for r in rows:
        out.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in r) + " |")
    return out


def _environment(doc: dict[str, Any]) -> list[str]:
    env = doc.get("environment") or {}
    pk = env.get("packages") or {}
    rows = [
        [
            "CPU",
            f"{env.get('cpu_model', '?')} ({env.get('cpu_count', '?')} CPUs, "
            f"{env.get('cpu_usable', '?')} usable)",
        ],
        ["memory", f"{env.get('memory_gib', '?')} GiB"],
        ["OS", f"{env.get('os', '?')} {env.get('machine', '')}"],
        ["Python", f"{env.get('python', '?')} ({env.get('python_implementation', '')})"],
        ["bytewax", str(pk.get("bytewax"))],
        ["confluent-kafka / librdkafka", f"{pk.get('confluent-kafka')} / {env.get('librdkafka')}"],
        [
            "bytewax-kafka (core / operators / serde / bench)",
            " / ".join(str(pk.get(f"bytewax-kafka-{p}")) for p in ("core", "operators", "serde", "bench")),
        ],
        ["locust", str(pk.get("locust"))],
        ["git commit", str(env.get("git_commit"))],
    ]
    lines = ["#### Environment", ""]
    lines += _table(["", ""], rows)
    brokers = doc.get("brokers") or {}
    if brokers:
        lines += ["", "#### Brokers", ""]
        brows = []
        for spec, b in brokers.items():
            state = b.get("unavailable") or b.get("error") or "ran"
            brows.append([spec, str(b.get("describe") or ""), state])
        lines += _table(["spec", "broker", "state"], brows)
    return lines


def _goals(doc: dict[str, Any]) -> list[str]:
    rows = doc.get("summary") or []
    lines: list[str] = []
    out_rows = []
    for r in rows:
        c = r["config"]
        base = (
            c["variant"] == "ours"
            and c.get("message_size") == 100
            and c.get("partitions") == 4
            and c.get("workers") == 1
            and c.get("processes") == 1
            and c.get("serde") == "none"
        )
        if not base or not r.get("ok"):
            continue
        if c["mode"] == "max-rate":
            for key, label, target in (
                ("cpu_vs_builtin", "ours / built-in, messages per busy CPU second", 2.0),
                ("cpu_vs_raw", "ours / raw loop, messages per busy CPU second", 0.5),
            ):
                v = r.get(key)
                if v is not None:
                    out_rows.append(
                        [
                            c["broker"],
                            f"bs={c['batch_size']}",
                            label,
                            f">= {target}x",
                            f"{v:.2f}x",
                            "yes" if v >= target else "**no**",
                        ]
                    )
            vb, vr = r.get("vs_builtin"), r.get("vs_raw")
            if vb is not None:
                out_rows.append(
                    [
                        c["broker"],
                        f"bs={c['batch_size']}",
                        "ours / built-in throughput",
                        ">= 2.0x",
                        f"{vb:.2f}x",
                        "yes" if vb >= 2 else "**no**",
                    ]
                )
            if vr is not None:
                out_rows.append(
                    [
                        c["broker"],
                        f"bs={c['batch_size']}",
                        "ours / raw loop throughput",
                        ">= 0.5x",
                        f"{vr:.2f}x",
                        "yes" if vr >= 0.5 else "**no**",
                    ]
                )
        elif c.get("rate") == 50_000 and c.get("shape") == "steady" and r.get("latency_p99_ms") is not None:
            p99 = r["latency_p99_ms"]
            out_rows.append(
                [
                    c["broker"],
                    f"bs={c['batch_size']}",
                    "p99 latency at 50,000 msg/s",
                    "<= 10 ms",
                    f"{p99:.2f} ms",
                    "yes" if p99 <= 10 else "**no**",
                ]
            )
    if out_rows:
        lines += ["#### Performance goals", "", _GOAL_TEXT, ""]
        lines += _table(["broker", "cell", "goal", "target", "measured (median)", "met"], out_rows)
    return lines


def _matrix_tables(doc: dict[str, Any]) -> list[str]:
    summary = doc.get("summary") or []
    cells = doc.get("cells") or []
    lines: list[str] = []
    matrices: list[str] = []
    for r in summary:
        if r["config"]["matrix"] not in matrices:
            matrices.append(r["config"]["matrix"])
    for name in matrices:
        rows = [r for r in summary if r["config"]["matrix"] == name]
        mode = rows[0]["config"]["mode"]
        lines += ["", f"#### Matrix `{name}` ({mode})", ""]
        if mode == "max-rate":
            headers = [
                "variant",
                "broker",
                "p",
                "bs",
                "w",
                "procs",
                "serde",
                "size B",
                "msgs",
                "msg/s",
                "MB/s",
                "CPU s",
                "busy CPU µs/msg",
                "core share",
                "start-up s",
                "x built-in",
                "x raw",
                "x built-in (CPU)",
                "x raw (CPU)",
                "load avg",
                "ok/runs",
            ]
            align = ["l", "l", *["r"] * 4, "l", *["r"] * 14]
            body = []
            for r in rows:
                c = r["config"]
                body.append(
                    [
                        c["variant"],
                        c["broker"],
                        str(c["partitions"]),
                        str(c["batch_size"]),
                        str(c["workers"]),
                        str(c["processes"]),
                        c["serde"],
                        str(c["message_size"]),
                        _f(c.get("messages")),
                        _f(r.get("msgs_per_s")),
                        _f(r.get("mb_per_s"), "{:.1f}"),
                        _f(r.get("cpu_s"), "{:.2f}"),
                        _f(r.get("busy_cpu_us_per_msg"), "{:.2f}"),
                        _f(r.get("busy_core_share"), "{:.2f}"),
                        _f(r.get("startup_s"), "{:.2f}"),
                        _f(r.get("vs_builtin"), "{:.2f}"),
                        _f(r.get("vs_raw"), "{:.2f}"),
                        _f(r.get("cpu_vs_builtin"), "{:.2f}"),
                        _f(r.get("cpu_vs_raw"), "{:.2f}"),
                        _f(r.get("loadavg_after"), "{:.1f}"),
                        f"{r['ok']}/{len(r['cells'])}",
                    ]
                )
            lines += _table(headers, body, align)
        else:
            headers = [
                "variant",
                "broker",
                "p",
                "bs",
                "w",
                "procs",
                "serde",
                "shape",
                "offered msg/s",
                "sent msg/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "p99.9 ms",
                "max ms",
                "CPU s",
                "p99 x built-in",
                "load avg",
                "ok/runs",
            ]
            align = ["l", "l", "r", "r", "r", "r", "l", "l", *["r"] * 11]
            body = []
            for r in rows:
                c = r["config"]
                sent = [
                    (x.get("metrics") or {}).get("sent_msgs_per_s")
                    for x in cells
                    if x["id"] in r["cells"] and x["status"] == "ok"
                ]
                sent_v = sorted(v for v in sent if v is not None)
                body.append(
                    [
                        c["variant"],
                        c["broker"],
                        str(c["partitions"]),
                        str(c["batch_size"]),
                        str(c["workers"]),
                        str(c["processes"]),
                        c["serde"],
                        c["shape"],
                        _f(c.get("rate")),
                        _f(sent_v[len(sent_v) // 2] if sent_v else None),
                        _f(r.get("latency_p50_ms"), "{:.2f}"),
                        _f(r.get("latency_p90_ms"), "{:.2f}"),
                        _f(r.get("latency_p99_ms"), "{:.2f}"),
                        _f(r.get("latency_p99_9_ms"), "{:.2f}"),
                        _f(r.get("latency_max_ms"), "{:.1f}"),
                        _f(r.get("cpu_s"), "{:.2f}"),
                        _f(r.get("p99_vs_builtin"), "{:.2f}"),
                        _f(r.get("loadavg_after"), "{:.1f}"),
                        f"{r['ok']}/{len(r['cells'])}",
                    ]
                )
            lines += _table(headers, body, align)
            load_rows = []
            for x in cells:
                if x["config"]["matrix"] != name or not x.get("load"):
                    continue
                ld = x["load"]
                load_rows.append(
                    [
                        x["id"],
                        x["config"]["variant"],
                        _f(x["config"].get("rate")),
                        x["config"]["shape"],
                        _f(ld.get("sent")),
                        _f(ld.get("delivered")),
                        _f(ld.get("failed")),
                        _f(ld.get("requests")),
                        _f(ld.get("requests_per_s")),
                        _f(ld.get("users_peak")),
                        _f(ld.get("max_behind_ms"), "{:.1f}"),
                    ]
                )
            if load_rows:
                lines += ["", "Load generator (locust) per cell:", ""]
                lines += _table(
                    [
                        "cell",
                        "variant",
                        "rate",
                        "shape",
                        "sent",
                        "delivered",
                        "failed",
                        "requests",
                        "requests/s",
                        "users",
                        "max behind schedule ms",
                    ],
                    load_rows,
                    ["l", "l", "r", "l", "r", "r", "r", "r", "r", "r", "r"],
                )
    bad = [c for c in cells if c["status"] != "ok"]
    if bad:
        lines += ["", "#### Failed and skipped cells", ""]
        lines += _table(
            ["cell", "status", "config", "reason"],
            [
                [
                    c["id"],
                    c["status"],
                    f"{c['config']['variant']} {c['config']['broker']} "
                    f"p={c['config']['partitions']} bs={c['config']['batch_size']}",
                    (c.get("reason") or "").splitlines()[0][:300] if c.get("reason") else "",
                ]
                for c in bad
            ],
        )
    return lines


def _run_section(doc: dict[str, Any], out: Path, plot_dir: Path | None) -> list[str]:
    sc = doc.get("scenario") or {}
    lines = [f"## Run `{doc['run_id']}`: scenario `{sc.get('name')}`", ""]
    if sc.get("description"):
        lines += [sc["description"].strip(), ""]
    cells = doc.get("cells") or []
    counts = {s: sum(1 for c in cells if c["status"] == s) for s in ("ok", "failed", "skipped")}
    lines += [
        f"- command: `{' '.join(doc.get('command') or [])}`",
        f"- started {doc.get('started')}, finished {doc.get('finished')}, "
        f"{_f(doc.get('elapsed_s'), '{:.0f}')} s",
        f"- cells: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped",
        "",
    ]
    lines += _goals(doc)
    lines += _matrix_tables(doc)
    if plot_dir is not None:
        from bytewax_kafka.bench.plots import write_plots

        plots = write_plots(doc, plot_dir)
        if plots:
            lines += ["", "#### Plots", ""]
            for title, path in plots:
                rel = path.relative_to(out).as_posix()
                lines += [f"![{title}]({rel})", ""]
    lines += ["", *_environment(doc)]
    return lines


def _comparisons(docs: list[dict[str, Any]]) -> list[str]:
    from bytewax_kafka.bench.compare import DEFAULT_METRICS, compare_runs, render_table

    lines = ["## Comparison with the first run", ""]
    for d in docs[1:]:
        comp = compare_runs(docs[0], d, metrics=list(DEFAULT_METRICS), threshold=0.1)
        lines += [render_table(comp), ""]
    return lines


def write_report(
    docs: list[dict[str, Any]],
    out: Path,
    *,
    html: bool = False,
    plots: bool = True,
    title: str | None = None,
    self_dir: bool = False,
) -> Path:
    """Write ``report.md`` (and plots, and ``report.html`` when asked) into ``out``.

    Args:
        docs: Loaded results documents.
        out: Folder to write into (created).
        html: Also write one self-contained ``report.html`` (plots inlined).
        plots: Draw the plots.
        title: Report title (default from the run ids).
        self_dir: ``out`` is the run's own folder: plots go beside the report
            instead of into a sub-folder per run.

    Returns:
        The path of ``report.md``.
    """
    out.mkdir(parents=True, exist_ok=True)
    if title is None:
        title = (
            f"kafka-bench report: {docs[0].get('scenario', {}).get('name')}"
            if len(docs) == 1
            else f"kafka-bench report: {len(docs)} runs"
        )
    lines = [f"# {title}", "", f"Generated {dt.datetime.now().isoformat(timespec='seconds')}.", ""]
    lines += [METHOD.replace("\n", " ").replace("  ", " ").strip(), ""]
    for i, doc in enumerate(docs):
        plot_dir = None
        if plots:
            plot_dir = out if self_dir and len(docs) == 1 else out / f"{i + 1}-{doc['run_id']}"
        lines += _run_section(doc, out, plot_dir)
        lines.append("")
    if len(docs) > 1:
        lines += _comparisons(docs)
    path = out / "report.md"
    text = "\n".join(lines).rstrip() + "\n"
    path.write_text(text, encoding="utf-8")
    if html:
        (out / "report.html").write_text(markdown_to_html(text, out, title), encoding="utf-8")
    return path


_IMG = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")


def _inline(text: str) -> str:
    t = html.escape(text, quote=False)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<em>\1</em>", t)
    return t


def markdown_to_html(text: str, base: Path, title: str) -> str:
    """Render the report's Markdown subset (headings, tables, lists, images) to one HTML page."""
    body: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            cells = [
                [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", r.strip())[1:-1]] for r in rows
            ]
            head, body_rows = cells[0], cells[2:]
            right = (
                ["---:" in c for c in re.split(r"(?<!\\)\|", rows[1].strip())[1:-1]] if len(rows) > 1 else []
            )
            out = [
                "<table><thead><tr>"
                + "".join(f"<th>{_inline(h)}</th>" for h in head)
                + "</tr></thead><tbody>"
            ]
            for r in body_rows:
                tds = "".join(
                    ("<td class='r'>" if j < len(right) and right[j] else "<td>") + _inline(c) + "</td>"
                    for j, c in enumerate(r)
                )
                out.append(f"<tr>{tds}</tr>")
            out.append("</tbody></table>")
            body.append("".join(out))
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif (m := _IMG.match(line.strip())) is not None:
            src = base / m.group("src")
            try:
                data = base64.b64encode(src.read_bytes()).decode()
                body.append(
                    f'<p><img alt="{html.escape(m.group("alt"))}" src="data:image/png;base64,{data}"></p>'
                )
            except OSError:
                body.append(f"<p>[missing plot {html.escape(m.group('src'))}]</p>")
        elif line.strip():
            para = [line]
            while (
                i + 1 < len(lines)
                and lines[i + 1].strip()
                and not lines[i + 1].startswith(("#", "|", "- ", "!["))
            ):
                i += 1
                para.append(lines[i])
            body.append(f"<p>{_inline(' '.join(para))}</p>")
        i += 1
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
        "th,td{border:1px solid #ccc;padding:3px 6px}"
        "th{background:#f3f3f3}td.r{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}"
        "code{background:#f5f5f5;padding:1px 3px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
