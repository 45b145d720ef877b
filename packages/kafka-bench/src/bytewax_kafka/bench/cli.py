"""``kafka-bench``: run benchmark scenarios, report on results, compare runs.

Exit codes: 0 ok; 1 a run or measurement failed (a cell lost messages, a
flow crashed, a broker failed to start); 2 usage or scenario error; 3
``compare`` found a regression beyond the threshold; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from bytewax_kafka.bench import commands
from bytewax_kafka.bench.commands import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_USAGE,
)
from bytewax_kafka.bench.define.keys import AXES

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_REGRESSION", "EXIT_USAGE", "main"]


_MAIN_EPILOG = """\
commands:
  run       run a scenario (a shipped one by name, or a file); writes results/<run-id>/
  report    build a report (Markdown + PNG, optionally HTML) from one or more results
  compare   ratio table of two runs; exit 3 on a regression outside the noise of both
  list      list the shipped scenarios (or a folder's) and every scenario key

examples:
  kafka-bench list
  kafka-bench run quick
  kafka-bench run batch-size --broker tansu --repeat 5
  kafka-bench run my-scenario.toml --set batch_size=100,1000 --set workers=1,2
  kafka-bench report results/RUN-A results/RUN-B -o reports/ab --html
  kafka-bench compare results/RUN-A results/RUN-B --threshold 0.1

exit codes:
  0  success
  1  a run or measurement failed (a cell lost messages, a flow crashed, a broker failed)
  2  usage or scenario error
  3  compare: regression beyond the threshold and outside the noise of both runs
"""

_RUN_EPILOG = """\
SCENARIO is a shipped scenario's name (`kafka-bench list`) or a TOML file.

brokers (--broker, or broker = [...] in the scenario):
  auto             Apache Kafka where Java 17+ runs (started here, jars fetched once and
                   cached), else Tansu with a notice (default)
  kafka            Apache Kafka 4.x, one KRaft node
  tansu            Tansu, embedded (no Java; unsound for latency)
  kafka-cluster    three Apache Kafka nodes (replication factor 3)
  redpanda, kafka-container
                   in Docker; cells are skipped where no Docker engine answers
  external=HOST:PORT[,HOST:PORT]
                   a cluster you run

--set KEY=V1[,V2...] replaces an axis or setting in every matrix of the
scenario (axes: {axes}). rate, duration, shape, users and
the shape settings apply to matrices that offer a rate only; messages to the
others. Run `kafka-bench list` for every key.

examples:
  kafka-bench run quick
  kafka-bench run brokers --broker tansu --broker kafka
  kafka-bench run latency --set rate=10000,50000 --set duration=20
  kafka-bench run quick --set messages=20000 --dry-run
  kafka-bench run quick --output /tmp/bench --run-id try1 --repeat 5 --goals goals.toml

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
batch size, workers, processes, rate, serde, guarantee, ...; repetitions
folded into medians). A change is a regression when it goes the bad way by
more than the threshold AND the min-max ranges of the two runs' repetitions
do not overlap; beyond the threshold with overlapping ranges it is "within
noise", and with one repetition on a side "unclear" (never a regression).

examples:
  kafka-bench compare results/A results/B
  kafka-bench compare results/A results/B --threshold 0.05 --metric msgs_per_s
  kafka-bench compare results/A results/B --metric busy_cpu_us_per_msg

exit codes: 0 no regression; 3 regression outside the noise of both runs; 2 unreadable input.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)


def _command(sub: Any, name: str, summary: str, description: str, epilog: str | None = None) -> Any:
    return sub.add_parser(
        name, help=summary, description=description, epilog=epilog, formatter_class=_Formatter
    )


def _report_options(p: argparse.ArgumentParser) -> None:
    """What ``run`` and ``report`` share: HTML and goals."""
    p.add_argument("--html", action="store_true", help="also write report.html")
    p.add_argument("--goals", metavar="FILE", help="check the results against the goals in FILE (TOML)")


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

    r = _command(
        sub,
        "run",
        "run a scenario",
        "Run every cell of a scenario and write results, plots and a report.",
        _RUN_EPILOG.replace("{axes}", ", ".join(AXES)),
    )
    r.add_argument("scenario", metavar="SCENARIO", help="a shipped scenario's name, or a TOML file")
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
    r.add_argument(
        "--repeat", type=int, metavar="N", help="repetitions of each cell [default: the scenario's, 3]"
    )
    r.add_argument(
        "-o", "--output", default="results", metavar="DIR", help="folder for run folders [default: results]"
    )
    r.add_argument("--run-id", metavar="ID", help="name of the run folder [default: <timestamp>-<scenario>]")
    _report_options(r)
    r.add_argument("--no-plots", action="store_true", help="skip the PNG plots (and their report section)")
    r.add_argument("--dry-run", action="store_true", help="list the cells and exit")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bars, only the final summary")

    rep = _command(
        sub,
        "report",
        "build a report from results",
        "Build a self-contained report (Markdown + PNG, optionally HTML) from one or more runs.",
        _REPORT_EPILOG,
    )
    rep.add_argument("results", nargs="+", metavar="RESULTS", help="run folders or results.json files")
    rep.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write the report into")
    rep.add_argument("--title", default=None, help="report title")
    _report_options(rep)

    c = _command(
        sub,
        "compare",
        "compare two runs",
        "NEW/OLD of matching cells; exit 3 on a regression.",
        _COMPARE_EPILOG,
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
        help="metric(s) to judge: busy_cpu_us_per_msg, msgs_per_s, latency_p50_ms, latency_p99_ms, ... "
        "[default: busy CPU per message, throughput, p99 latency, max sustainable rate]",
    )
    c.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")

    li = _command(
        sub,
        "list",
        "list scenarios and scenario keys",
        "List the shipped scenarios, or a folder's scenario files (name, description, cells), "
        "and every scenario key.",
    )
    li.add_argument(
        "folder", nargs="?", default=None, help="a folder of scenario files [default: the shipped ones]"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kafka-bench``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command == "run" and args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be >= 1")
    handlers = {
        "run": commands.cmd_run,
        "report": commands.cmd_report,
        "compare": commands.cmd_compare,
        "list": commands.cmd_list,
    }
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        commands.err("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
