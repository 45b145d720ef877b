"""Profile one benchmark flow with py-spy and say where its time goes.

Usage:
    uv run --with py-spy python benchmarks/profile_flow.py [--broker tansu] [--variant ours]
        [--messages 500000] [--partitions 4] [--out prof.folded]

Starts the broker, pre-fills a topic as ``kafka-bench`` does, runs the flow
as kafka-bench starts it (``python -m bytewax.run
bytewax_kafka.bench.flows:<variant> -w 1``, or the raw loop, the cell handed
to it in ``KAFKA_BENCH_CELL``) under ``py-spy record --native`` until every message came out,
then prints the share of samples per part of the flow (garbage collector,
source, map, sink, engine, start-up). ``--categorize FILE`` only prints the
shares of an existing py-spy raw (folded) file.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import time
from pathlib import Path


def category(frames: list[str]) -> str:
    """The part of the flow a sampled stack belongs to."""
    s = ";".join(frames)
    leaf = frames[-1]
    native_leaf = ".py:" not in leaf
    if "gc_collect_main" in s or "collect_with_callback" in s:
        return "Python garbage collector"
    if (
        "_find_and_load" in s
        or "_locate_dataflow" in s
        or ("<module>" in s and "run.py:3" not in s and "raw.py" not in s)
    ):
        return "start-up (imports, building the flow)"
    if "part_fn" in s:
        return "sink routing: part_fn"
    if "source.py" in s or ("kafka/__init__.py" in s and "next_batch" in s):
        if "_source_message" in s or "KafkaSourceMessage" in leaf:
            return "source: building source messages"
        if native_leaf and (
            "rd_kafka" in leaf or "cimpl" in leaf or "Message_" in leaf or "consume" in s.lower()
        ):
            return "source: Consumer.consume (C)"
        return "source: Python loop"
    if "sink.py" in s or "producer.py" in s or "write_batch" in s:
        if "flush" in s or "snapshot" in s:
            return "sink: flush"
        if native_leaf and ("Producer_produce" in s or "rd_kafka" in leaf or "cimpl" in leaf):
            return "sink: Producer.produce (C)"
        return "sink: Python loop"
    if ("flows.py" in s and "lambda" in s) or "KafkaSinkMessage" in s or "shim_mapper" in s:
        return "map step (lambda + sink message)"
    if "operators/io.py" in s:
        return "operators: error split and output routing"
    if "raw.py" in s:
        if "Producer_produce" in s:
            return "raw: produce (C)"
        if native_leaf and "consume" in s.lower():
            return "raw: consume (C)"
        return "raw: Python loop"
    if "run.py" in s:
        return "bytewax engine (Rust/timely) and other"
    return "other"


def shares(folded: Path) -> list[tuple[str, float]]:
    """``(category, percent)`` of a py-spy raw file, start-up included, largest first."""
    counts: collections.Counter[str] = collections.Counter()
    for line in folded.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack:
            counts[category(stack.split(";"))] += int(n)
    total = sum(counts.values()) or 1
    return [(k, 100.0 * v / total) for k, v in counts.most_common()]


def record(args: argparse.Namespace) -> Path:
    from bytewax_kafka.bench.define.cell import Cell
    from bytewax_kafka.bench.define.handoff import Handoff
    from bytewax_kafka.bench.define.variants import VARIANTS
    from bytewax_kafka.bench.payload import codec_for
    from bytewax_kafka.bench.run.feed import create_topics, prefill
    from bytewax_kafka.bench.run.progress import QuietProgress
    from bytewax_kafka.bench.run.reader import Reader
    from bytewax_kafka.testing import broker_from_spec

    cell = Cell(variant=args.variant, messages=args.messages, partitions=args.partitions, broker=args.broker)
    out = Path(args.out)
    with broker_from_spec(args.broker) as broker:
        bs = broker.bootstrap_servers
        src, dst = create_topics(bs, args.partitions, 1)
        prefill(bs, src, cell, args.messages, QuietProgress())
        env = {**os.environ, **Handoff(cell, bs, src, dst).env()}
        [spec] = VARIANTS[args.variant].launch.processes(1, 1, None)
        target = spec.argv
        reader = Reader(bs, dst, args.partitions, codec_for("none"))
        reader.start()
        cmd = ["py-spy", "record", "--native", "-r", "500", "-f", "raw", "-o", str(out), "--", *target]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        try:
            while reader.unique < args.messages and time.monotonic() - started < 300:
                time.sleep(0.05)
            print(
                f"{args.variant}: {reader.unique:,} messages in "
                f"{time.monotonic() - started:.1f} s (under py-spy)"
            )
        finally:
            os.killpg(proc.pid, signal.SIGINT)  # py-spy writes its file on SIGINT
            proc.wait(60)
            reader.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker", default="tansu")
    ap.add_argument(
        "--variant", default="ours", choices=("ours", "ours-core", "builtin", "builtin-core", "raw")
    )
    ap.add_argument("--messages", type=int, default=500_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--out", default="profile.folded")
    ap.add_argument("--categorize", metavar="FILE", help="only print the shares of an existing raw file")
    args = ap.parse_args()
    folded = Path(args.categorize) if args.categorize else record(args)
    for name, pct in shares(folded):
        print(f"{pct:6.1f}%  {name}")


if __name__ == "__main__":
    main()
