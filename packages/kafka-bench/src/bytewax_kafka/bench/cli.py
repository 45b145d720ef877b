"""``kafka-bench``: run benchmark scenarios, report on results, compare runs.

Exit codes: 0 ok; 1 a run or measurement failed (a cell lost messages, a
flow crashed, a broker failed to start); 2 usage or scenario error; 3
``compare`` found a regression beyond the threshold; 130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_REGRESSION", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REGRESSION = 3
EXIT_INTERRUPTED = 130

_MAIN_EPILOG = """\
commands:
  run       run a scenario; writes results/<run-id>/ (results.json, results.csv, plots, report.md)
  report    build a report (Markdown + PNG, optionally HTML) from one or more results
  compare   ratio table of two runs; exit 3 on a regression beyond --threshold
  list      list scenario files and every scenario key

examples:
  kafka-bench run scenarios/quick.toml
  kafka-bench run scenarios/batch-size.toml --broker kafka --repeat 3
  kafka-bench run scenarios/quick.toml --set batch_size=100,1000 --set workers=1,2
  kafka-bench report results/RUN-A results/RUN-B -o reports/ab --html
  kafka-bench compare results/RUN-A results/RUN-B --threshold 0.1

exit codes:
  0  success
  1  a run or measurement failed (a cell lost messages, a flow crashed, a broker failed)
  2  usage or scenario error
  3  compare: regression beyond the threshold
"""

_RUN_EPILOG = """\
brokers (--broker, or broker = [...] in the scenario):
  tansu            Tansu, embedded (default; no Java, no Docker)
  kafka            Apache Kafka 4.x, one KRaft node (Java 17; jars from Maven Central)
  kafka-cluster    three Apache Kafka nodes (replication factor 3)
  redpanda, kafka-container
                   in Docker; cells are skipped where no Docker engine answers
  external=HOST:PORT[,HOST:PORT]
                   a cluster you run

--set KEY=V1[,V2...] replaces an axis or setting in every matrix of the
scenario (axes: broker, variant, partitions, batch_size, workers, processes,
rate, serde, message_size, keys). rate, duration, shape, users and the shape
settings apply to fixed-rate matrices only; messages to max-rate ones.
Run `kafka-bench list` for every key.

examples:
  kafka-bench run scenarios/quick.toml
  kafka-bench run scenarios/brokers.toml --broker tansu --broker kafka
  kafka-bench run scenarios/latency.toml --set rate=10000,50000 --set duration=20
  kafka-bench run scenarios/quick.toml --set messages=20000 --dry-run
  kafka-bench run scenarios/quick.toml --output /tmp/bench --run-id try1 --repeat 3

output: <output>/<run-id>/results.json, results.csv, report.md, *.png, logs/
exit codes: 0 all cells ok or skipped; 1 a cell failed; 2 scenario/usage error.
"""

_REPORT_EPILOG = """\
Each RESULTS is a run folder or its results.json. The report has one
section per run (environment, brokers, a table per matrix, plots) and, with
several runs, a comparison table of their common cells.

examples:
  kafka-bench report results/20260101-120000-quick -o reports/quick
  kafka-bench report results/A results/B -o reports/ab --html
"""

_COMPARE_EPILOG = """\
Cells of OLD and NEW are matched by their config (broker, variant, partitions,
batch size, workers, processes, rate, serde, ...; repetitions folded into
medians). Throughput falling, or latency rising, by more than the threshold
is a regression. On a machine shared with other work, busy CPU per message
(--metric busy_cpu_us_per_msg) moves far less than wall-clock throughput.

examples:
  kafka-bench compare results/A results/B
  kafka-bench compare results/A results/B --threshold 0.05 --metric msgs_per_s
  kafka-bench compare results/A results/B --metric busy_cpu_us_per_msg

exit codes: 0 no regression; 3 regression beyond the threshold; 2 unreadable input.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from bytewax_kafka.bench import __version__

    p = argparse.ArgumentParser(
        prog="kafka-bench",
        description="Benchmark Bytewax Kafka connectors: throughput, latency, plots and reports.",
        epilog=_MAIN_EPILOG,
        formatter_class=_Formatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser(
        "run",
        help="run a scenario",
        description="Run every cell of a scenario and write results, plots and a report.",
        epilog=_RUN_EPILOG,
        formatter_class=_Formatter,
    )
    r.add_argument("scenario", metavar="SCENARIO", help="scenario TOML file (see scenarios/)")
    r.add_argument(
        "--broker",
        action="append",
        metavar="SPEC",
        help="broker to run on (repeatable; replaces the scenario's brokers)",
    )
    r.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=V[,V]",
        help="override an axis or setting in every matrix (repeatable)",
    )
    r.add_argument("--repeat", type=int, metavar="N", help="repetitions of each cell (medians are reported)")
    r.add_argument(
        "-o", "--output", default="results", metavar="DIR", help="folder for run folders [default: results]"
    )
    r.add_argument("--run-id", metavar="ID", help="name of the run folder [default: <timestamp>-<scenario>]")
    r.add_argument("--html", action="store_true", help="also write report.html")
    r.add_argument("--no-plots", action="store_true", help="skip the PNG plots (and their report section)")
    r.add_argument("--dry-run", action="store_true", help="list the cells and exit")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bars, only the final summary")

    rep = sub.add_parser(
        "report",
        help="build a report from results",
        description="Build a self-contained report (Markdown + PNG, optionally HTML) from one or more runs.",
        epilog=_REPORT_EPILOG,
        formatter_class=_Formatter,
    )
    rep.add_argument("results", nargs="+", metavar="RESULTS", help="run folders or results.json files")
    rep.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write the report into")
    rep.add_argument("--html", action="store_true", help="also write report.html")
    rep.add_argument("--title", default=None, help="report title")

    c = sub.add_parser(
        "compare",
        help="compare two runs",
        description="Ratio table NEW/OLD of matching cells; non-zero exit on a regression.",
        epilog=_COMPARE_EPILOG,
        formatter_class=_Formatter,
    )
    c.add_argument("old", metavar="OLD", help="baseline run folder or results.json")
    c.add_argument("new", metavar="NEW", help="candidate run folder or results.json")
    c.add_argument(
        "--threshold",
        type=float,
        default=0.1,
        metavar="F",
        help="relative change counted as a regression [default: 0.1 = 10%%]",
    )
    c.add_argument(
        "--metric",
        action="append",
        metavar="NAME",
        help="metric(s) to judge: msgs_per_s, busy_cpu_us_per_msg, latency_p50_ms, latency_p99_ms, ... "
        "[default: msgs_per_s and latency_p99_ms]",
    )
    c.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")

    li = sub.add_parser(
        "list",
        help="list scenarios and scenario keys",
        description="List scenario files (name, description, cell count) and every scenario key.",
        formatter_class=_Formatter,
    )
    li.add_argument(
        "folder", nargs="?", default="scenarios", help="folder of scenario files [default: scenarios]"
    )
    return p


def _err(msg: str) -> None:
    print(f"kafka-bench: error: {msg}", file=sys.stderr)


def _run_id(name: str) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}"


def cmd_run(args: argparse.Namespace) -> int:
    """``kafka-bench run``."""
    from bytewax_kafka.bench.matrix import apply_overrides, expand, parse_set
    from bytewax_kafka.bench.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario)
        overrides: list[tuple[str, Any]] = [parse_set(s) for s in args.overrides]
        if args.broker:
            overrides.append(("broker", list(args.broker)))
        if args.repeat is not None:
            overrides.append(("repetitions", args.repeat))
        scenario = apply_overrides(scenario, overrides)
        cells = expand(scenario)
    except ScenarioError as exc:
        _err(str(exc))
        return EXIT_USAGE
    if not cells:
        _err(f"{args.scenario}: the scenario has no cells (is everything excluded?)")
        return EXIT_USAGE
    if args.dry_run:
        for c in cells:
            print(f"{c.id} [{c.matrix} #{c.repetition}] {c.label()}")
        print(f"{len(cells)} cells")
        return EXIT_OK

    run_id = args.run_id or _run_id(scenario.name)
    out_dir = Path(args.output) / run_id
    if out_dir.exists() and any(out_dir.iterdir()):
        _err(f"{out_dir} exists and is not empty; choose another --run-id or --output")
        return EXIT_USAGE
    out_dir.mkdir(parents=True, exist_ok=True)
    return _execute(args, scenario, cells, run_id, out_dir)


def _execute(args: argparse.Namespace, scenario: Any, cells: list[Any], run_id: str, out_dir: Path) -> int:
    from rich.console import Console

    from bytewax_kafka.bench.environment import collect_environment
    from bytewax_kafka.bench.progress import RichProgress, describe_result
    from bytewax_kafka.bench.results import write_results
    from bytewax_kafka.bench.runner import CellResult, QuietProgress, run_cells

    console = Console(stderr=True)
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    doc: dict[str, Any] = {
        "schema": 1,
        "run_id": run_id,
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "path": scenario.path,
            "text": scenario.text,
        },
        "command": ["kafka-bench", *sys.argv[1:]],
        "started": started.isoformat(timespec="seconds"),
        "finished": None,
        "environment": collect_environment(),
        "brokers": {},
        "cells": [],
    }
    done: list[dict[str, Any]] = []

    def on_result(r: CellResult) -> None:
        done.append(r.to_dict())
        doc["cells"] = list(done)
        write_results(doc, out_dir)

    console.print(f"[bold]kafka-bench[/] {scenario.name}: {len(cells)} cells -> {out_dir}", highlight=False)
    interrupted = False
    import signal

    from bytewax_kafka.bench.runner import request_stop

    def on_signal(signum: int, frame: Any) -> None:
        # Stop at the next check, wherever the main thread is (a C call of
        # confluent-kafka may swallow a KeyboardInterrupt); the cell loop
        # then kills every flow and load process.
        request_stop()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.quiet:
            results, brokers = run_cells(
                cells, log_dir=out_dir / "logs", progress=QuietProgress(), on_result=on_result
            )
        else:
            with RichProgress(len(cells), console) as progress:
                results, brokers = run_cells(
                    cells, log_dir=out_dir / "logs", progress=progress, on_result=on_result
                )
    except KeyboardInterrupt:
        interrupted = True
        results, brokers = [], {}
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    doc["brokers"] = brokers
    doc["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    doc["elapsed_s"] = round(time.monotonic() - t0, 1)
    doc["cells"] = list(done)
    jpath, cpath = write_results(doc, out_dir)
    if interrupted:
        _err(f"interrupted; partial results in {out_dir}")
        return EXIT_INTERRUPTED

    from bytewax_kafka.bench.report import write_report

    report = write_report([doc], out_dir, html=args.html, plots=not args.no_plots, self_dir=True)
    if args.quiet:
        for r in results:
            print(f"{r.cell.id} {r.cell.label()}: {describe_result(r)}")
    failed = [r for r in results if r.status == "failed"]
    skipped = [r for r in results if r.status == "skipped"]
    console.print(
        f"\n{len(results) - len(failed) - len(skipped)} ok, {len(failed)} failed, {len(skipped)} skipped "
        f"in {doc['elapsed_s']:.0f} s",
        highlight=False,
    )
    _print_headline(console, doc)
    console.print(f"results: {jpath}\n         {cpath}\nreport:  {report}", highlight=False)
    return EXIT_FAILED if failed else EXIT_OK


def _print_headline(console: Any, doc: dict[str, Any]) -> None:
    from rich.table import Table

    rows = [r for r in doc.get("summary", []) if r["ok"]]
    if not rows:
        return
    t = Table(title="summary (medians over repetitions)")
    for col in ("matrix", "cell", "msg/s", "p99 ms", "x builtin", "x raw"):
        t.add_column(col, justify="left" if col in ("matrix", "cell") else "right")

    def f(v: Any, fmt: str = "{:,.0f}") -> str:
        return "" if v is None else fmt.format(v)

    for r in rows:
        c = r["config"]
        label = f"{c['variant']} {c['broker']} p={c['partitions']} bs={c['batch_size']} w={c['workers']}"
        if c["processes"] > 1:
            label += f" procs={c['processes']}"
        if c["serde"] != "none":
            label += f" {c['serde']}"
        if c.get("rate"):
            label += f" @{c['rate']:,}/s {c['shape']}"
        t.add_row(
            c["matrix"],
            label,
            f(r.get("msgs_per_s")),
            f(r.get("latency_p99_ms"), "{:.2f}"),
            f(r.get("vs_builtin"), "{:.2f}"),
            f(r.get("vs_raw"), "{:.2f}"),
        )
    console.print(t)


def cmd_report(args: argparse.Namespace) -> int:
    """``kafka-bench report``."""
    from bytewax_kafka.bench.report import write_report
    from bytewax_kafka.bench.results import load_results

    docs = []
    for path in args.results:
        try:
            docs.append(load_results(path))
        except (OSError, ValueError) as exc:
            _err(str(exc))
            return EXIT_USAGE
    out = Path(args.output)
    path = write_report(docs, out, html=args.html, plots=True, title=args.title)
    print(f"report: {path}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """``kafka-bench compare``."""
    from bytewax_kafka.bench.compare import DEFAULT_METRICS, compare_runs, render_table
    from bytewax_kafka.bench.results import load_results

    if args.threshold < 0:
        _err("--threshold must be >= 0")
        return EXIT_USAGE
    try:
        old, new = load_results(args.old), load_results(args.new)
    except (OSError, ValueError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    metrics = args.metric or list(DEFAULT_METRICS)
    try:
        comparison = compare_runs(old, new, metrics=metrics, threshold=args.threshold)
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE
    text = render_table(comparison)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")
    if not comparison.rows:
        _err("no cell of NEW matches a cell of OLD (different scenarios?)")
        return EXIT_USAGE
    if comparison.regressions:
        print(f"\n{len(comparison.regressions)} regression(s) beyond {args.threshold:.0%}", file=sys.stderr)
        return EXIT_REGRESSION
    print(f"\nno regression beyond {args.threshold:.0%}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    """``kafka-bench list``."""
    from bytewax_kafka.bench.matrix import expand
    from bytewax_kafka.bench.scenario import ScenarioError, describe_keys, load_scenario

    folder = Path(args.folder)
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    status = EXIT_OK
    if not files:
        print(f"no scenario files in {folder}")
    for f in files:
        try:
            sc = load_scenario(f)
            cells = expand(sc)
            brokers = sorted({c.broker for c in cells})
            print(f"{f}  [{len(cells)} cells; brokers: {', '.join(brokers)}]")
            if sc.description:
                print(f"    {sc.description.strip().splitlines()[0]}")
        except ScenarioError as exc:
            print(f"{f}  INVALID: {exc}")
            status = EXIT_USAGE
    print()
    print(describe_keys())
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kafka-bench``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command == "run" and args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be >= 1")
    handlers = {"run": cmd_run, "report": cmd_report, "compare": cmd_compare, "list": cmd_list}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
