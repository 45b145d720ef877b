"""What each ``kafka-bench`` command does, and its exit codes (the parser is in ``cli``)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bytewax_kafka.bench.errors import ResultsError, ScenarioError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REGRESSION",
    "EXIT_USAGE",
    "cmd_compare",
    "cmd_list",
    "cmd_report",
    "cmd_run",
    "err",
]

#: Exit codes of ``kafka-bench``.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REGRESSION = 3
EXIT_INTERRUPTED = 130


def err(msg: str) -> None:
    """Print an error line on stderr."""
    print(f"kafka-bench: error: {msg}", file=sys.stderr)


def _run_id(name: str) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}"


def _goals(path: str | None) -> tuple[list[Any], str] | None:
    from bytewax_kafka.bench.report.goals import load_goals

    return None if path is None else (load_goals(path), path)


def cmd_run(args: argparse.Namespace) -> int:
    """``kafka-bench run``."""
    from bytewax_kafka.bench.define.catalog import resolve
    from bytewax_kafka.bench.define.matrix import apply_overrides, expand, parse_set

    try:
        scenario = resolve(args.scenario)
        overrides: list[tuple[str, Any]] = [parse_set(s) for s in args.overrides]
        if args.broker:
            overrides.append(("broker", list(args.broker)))
        if args.repeat is not None:
            overrides.append(("repetitions", args.repeat))
        scenario = apply_overrides(scenario, overrides)
        cells = expand(scenario)
        goals = _goals(args.goals)
    except ScenarioError as exc:
        err(str(exc))
        return EXIT_USAGE
    if not cells:
        err(f"{args.scenario}: the scenario has no cells (is everything excluded?)")
        return EXIT_USAGE
    if args.dry_run:
        for c in cells:
            print(f"{c.id} [{c.matrix} #{c.repetition}] {c.label()}")
        print(f"{len(cells)} cells")
        return EXIT_OK
    run_id = args.run_id or _run_id(scenario.name)
    out_dir = Path(args.output) / run_id
    if out_dir.exists() and any(out_dir.iterdir()):
        err(f"{out_dir} exists and is not empty; choose another --run-id or --output")
        return EXIT_USAGE
    out_dir.mkdir(parents=True, exist_ok=True)
    warmup = max(float(m.settings.get("broker_warmup", 10.0)) for m in scenario.matrices)
    return _execute(args, scenario, cells, run_id, out_dir, warmup, goals)


def _execute(
    args: argparse.Namespace,
    scenario: Any,
    cells: list[Any],
    run_id: str,
    out_dir: Path,
    warmup: float,
    goals: tuple[list[Any], str] | None,
) -> int:
    from rich.console import Console

    from bytewax_kafka.bench.report.document import Results
    from bytewax_kafka.bench.report.markdown import write_report
    from bytewax_kafka.bench.report.terminal import RichProgress, describe_result, print_summary
    from bytewax_kafka.bench.run.environment import collect_environment
    from bytewax_kafka.bench.run.loop import run_cells
    from bytewax_kafka.bench.run.processes import request_stop
    from bytewax_kafka.bench.run.progress import QuietProgress

    console = Console(stderr=True)
    t0 = time.monotonic()
    doc = Results.create(
        run_id=run_id,
        scenario={
            "name": scenario.name,
            "description": scenario.description,
            "path": scenario.path,
            "text": scenario.text,
        },
        command=["kafka-bench", *sys.argv[1:]],
        environment=collect_environment(),
    )

    def on_result(r: Any) -> None:
        doc.record(r)
        doc.write(out_dir)

    console.print(f"[bold]kafka-bench[/] {scenario.name}: {len(cells)} cells -> {out_dir}", highlight=False)

    def on_signal(signum: int, frame: Any) -> None:
        # Stop at the next check, wherever the main thread is (a C call of
        # confluent-kafka may swallow a KeyboardInterrupt); the cell loop
        # then kills every flow and load process.
        request_stop()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    record = None
    try:
        if args.quiet:
            record = run_cells(
                cells,
                log_dir=out_dir / "logs",
                progress=QuietProgress(),
                on_result=on_result,
                broker_warmup=warmup,
            )
        else:
            with RichProgress(len(cells), console) as progress:
                record = run_cells(
                    cells,
                    log_dir=out_dir / "logs",
                    progress=progress,
                    on_result=on_result,
                    broker_warmup=warmup,
                )
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if record is None:
        doc.finish(
            brokers={},
            notices=["interrupted: partial results"],
            warmups=[],
            probes=[],
            elapsed_s=time.monotonic() - t0,
        )
        doc.write(out_dir)
        err(f"interrupted; partial results in {out_dir}")
        return EXIT_INTERRUPTED
    doc.finish(
        brokers=record.brokers,
        notices=record.notices + _flag_notices(doc),
        warmups=record.warmups,
        probes=record.probes,
        elapsed_s=time.monotonic() - t0,
    )
    jpath, cpath = doc.write(out_dir)
    report = write_report([doc], out_dir, html=args.html, plots=not args.no_plots, self_dir=True, goals=goals)
    results = record.results
    if args.quiet:
        for r in results:
            print(f"{r.cell.id} {r.cell.label()}: {describe_result(r)}")
    failed = [r for r in results if r.status == "failed"]
    skipped = [r for r in results if r.status == "skipped"]
    console.print(
        f"\n{len(results) - len(failed) - len(skipped)} ok, {len(failed)} failed, {len(skipped)} skipped "
        f"in {doc.data['elapsed_s']:.0f} s",
        highlight=False,
    )
    print_summary(console, doc)
    console.print(f"results: {jpath}\n         {cpath}\nreport:  {report}", highlight=False)
    return EXIT_FAILED if failed else EXIT_OK


def _flag_notices(doc: Any) -> list[str]:
    """Run-level notices for cells that were flagged (short windows, a busy machine)."""
    flagged = [c for c in doc.cells if c.get("notices")]
    if not flagged:
        return []
    short = sum(1 for c in flagged if any("less than the minimum" in n for n in c["notices"]))
    busy = sum(1 for c in flagged if any("load average" in n for n in c["notices"]))
    out = []
    if short:
        out.append(f"{short} cell(s) measured for less than their minimum window (see 'Cells flagged')")
    if busy:
        out.append(f"{busy} cell(s) started on a busy machine (load average above 2; see 'Cells flagged')")
    return out


def _load(paths: list[str]) -> list[Any]:
    from bytewax_kafka.bench.report.document import Results

    return [Results.load(p) for p in paths]


def cmd_report(args: argparse.Namespace) -> int:
    """``kafka-bench report``."""
    from bytewax_kafka.bench.report.markdown import write_report

    try:
        docs = _load(args.results)
        goals = _goals(args.goals)
    except (OSError, ResultsError, ScenarioError) as exc:
        err(str(exc))
        return EXIT_USAGE
    path = write_report(docs, Path(args.output), html=args.html, plots=True, title=args.title, goals=goals)
    print(f"report: {path}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """``kafka-bench compare``."""
    from bytewax_kafka.bench.report.compare import DEFAULT_METRICS, compare_runs, render_table

    if args.threshold < 0:
        err("--threshold must be >= 0")
        return EXIT_USAGE
    try:
        old, new = _load([args.old, args.new])
        comparison = compare_runs(
            old, new, metrics=args.metric or list(DEFAULT_METRICS), threshold=args.threshold
        )
    except (OSError, ResultsError, ValueError) as exc:
        err(str(exc))
        return EXIT_USAGE
    text = render_table(comparison)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")
    if not comparison.rows:
        err("no cell of NEW matches a cell of OLD (different scenarios?)")
        return EXIT_USAGE
    if comparison.unclear:
        print(
            f"\n{len(comparison.unclear)} change(s) beyond {args.threshold:.0%} with one repetition "
            "on a side: "
            "noise unknown, not judged (run with --repeat 3 or more)",
            file=sys.stderr,
        )
    if comparison.regressions:
        print(
            f"\n{len(comparison.regressions)} regression(s): worse by more than {args.threshold:.0%} and "
            "outside the noise of both runs",
            file=sys.stderr,
        )
        return EXIT_REGRESSION
    print(f"\nno regression beyond {args.threshold:.0%} outside the noise of both runs")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    """``kafka-bench list``."""
    from bytewax_kafka.bench.define.catalog import shipped, shipped_names
    from bytewax_kafka.bench.define.keys import describe_keys
    from bytewax_kafka.bench.define.matrix import expand
    from bytewax_kafka.bench.define.scenario import load_scenario

    status = EXIT_OK
    entries: list[tuple[str, Any]] = []
    if args.folder is None:
        print("shipped scenarios (kafka-bench run NAME):\n")
        entries = [(name, lambda n=name: shipped(n)) for name in shipped_names()]
    else:
        folder = Path(args.folder)
        files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
        if not files:
            print(f"no scenario files in {folder}")
        entries = [(str(f), lambda f=f: load_scenario(f)) for f in files]
    for name, load in entries:
        try:
            sc = load()
            cells = expand(sc)
            brokers = sorted({c.broker for c in cells})
            print(f"{name}  [{len(cells)} cells; brokers: {', '.join(brokers)}]")
            if sc.description:
                print(f"    {' '.join(sc.description.split())}")
        except ScenarioError as exc:
            print(f"{name}  INVALID: {exc}")
            status = EXIT_USAGE
    print()
    print(describe_keys())
    return status
