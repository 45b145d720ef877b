"""Profile one benchmark flow with py-spy and say where its time goes.

Usage:
    uv run --with py-spy python benchmarks/profile_flow.py [--broker tansu] [--variant ours]
        [--messages 500000] [--partitions 4] [--out prof.folded]

Starts the broker, pre-fills a topic as ``kafka-bench`` does, runs the flow
as kafka-bench starts it (``python -m bytewax.run
bytewax_kafka.bench.flows:<variant> -w 1``, or the raw loop, the cell handed
to it in ``KAFKA_BENCH_CELL``) under ``py-spy record --native`` until every message came out,
then prints the share of its busy samples per part of the flow (garbage
collector, source loop, map, sink loop, consume and produce calls, the
engine's hops; idle threads and start-up left out). ``--categorize FILE``
only prints the shares of an existing py-spy raw (folded) file;
``--flow-python`` runs the flow with another environment's interpreter.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import time
from pathlib import Path

#: Leaf-side frames of a thread that waits (a helper thread idle on its queue, a lock): not CPU.
_IDLE = ("_queue_SimpleQueue_get", "PyThread_acquire_lock_timed", "pthread_cond_timedwait", "cnd_timedwait")
#: Categories left out of the shares: not the steady state.
STARTUP = "start-up (imports, building the flow)"


def _native(frame: str) -> bool:
    return ".py:" not in frame


def category(frames: list[str]) -> str | None:
    """The part of the flow a sampled stack belongs to, or None for an idle thread."""
    s = ";".join(frames)
    leaf = frames[-1]
    if any(w in f for f in frames[-4:] for w in _IDLE):
        return None
    if "gc_collect_main" in s or "collect_with_callback" in s:
        return "Python's garbage collector"
    modules = [f for f in frames if f.startswith("<module> (") and "(run.py:" not in f and "raw.py" not in f]
    if "_find_and_load" in s or "_locate_dataflow" in s or modules:
        return STARTUP
    if "_on_delivery" in s or "dr_msg_cb" in s or "on_delivery" in s:
        return "sink: delivery callbacks"
    if "flush" in s or "snapshot" in s:
        return "sink: flush and epoch snapshots"
    if "raw.py" in s:
        if "Producer_produce" in s or "rd_kafka_produce" in s:
            return "raw: Producer.produce (C)"
        if "Consumer_consume" in s:
            return "raw: Consumer.consume (C)"
        return "raw: Python loop (incl. accessor calls)"
    if "connectors/kafka/" in s:
        if "Consumer_consume" in s:
            return "built-in source: Consumer.consume (C)"
        if "next_batch" in s:
            return "built-in source: Python loop and KafkaSourceMessage"
        if "Producer_produce" in s:
            return "built-in sink: Producer.produce (C)"
        if "write_batch" in s:
            return "built-in sink: Python loop"
    if "Consumer_consume" in s:
        return "source: Consumer.consume (C)"
    if "core/consumer.py" in s or "core/source.py" in s:
        if "_route" in s:
            return "source: records -> KafkaSourceMessage (loop, accessors, building)"
        return "source: partitions' bookkeeping"
    if "Producer_produce" in s or "rd_kafka_produce" in s:
        return "sink: Producer.produce (C)"
    if "core/producer.py" in s or "core/sink.py" in s or "write_batch" in s:
        return "sink: Python loop"
    if "KafkaSinkMessage" in s or "bench/flows.py" in s or "shim_mapper" in s:
        return "map: the function and KafkaSinkMessage(...)"
    if "operators/io.py" in s:
        return "operators: split oks/errs and output routing"
    if "part_fn" in s:
        return "sink routing: part_fn"
    if _native(leaf) or "run.py" in s:
        return "bytewax engine: hops between steps"
    return "other"


def shares(folded: Path) -> list[tuple[str, float]]:
    """``(category, percent)`` of a py-spy raw file: busy samples, start-up left out, largest first."""
    counts: collections.Counter[str] = collections.Counter()
    for line in folded.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack:
            cat = category(stack.split(";"))
            if cat is not None and cat != STARTUP:
                counts[cat] += int(n)
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

    cell = Cell(
        variant=args.variant,
        messages=args.messages,
        partitions=args.partitions,
        broker=args.broker,
        flow_python=args.flow_python,
    )
    out = Path(args.out)
    with broker_from_spec(args.broker) as broker:
        bs = broker.bootstrap_servers
        src, dst = create_topics(bs, args.partitions, 1)
        prefill(bs, src, cell, args.messages, QuietProgress())
        env = {**os.environ, **Handoff(cell, bs, src, dst).env()}
        [spec] = VARIANTS[args.variant].launch.processes(1, 1, None)
        target = [args.flow_python, *spec.argv[1:]] if args.flow_python else spec.argv
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
    from bytewax_kafka.bench.define.variants import VARIANTS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker", default="tansu")
    ap.add_argument("--variant", default="ours", choices=tuple(VARIANTS))
    ap.add_argument("--flow-python", help="run the flow with this interpreter (another environment's)")
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
