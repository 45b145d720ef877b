"""Throughput cost of the delivery guarantees, side by side on one Apache Kafka broker.

Usage:
    uv run python benchmarks/guarantees_cost.py [--messages N] [--partitions P] [--repeat R]
        [--epoch-seconds S]

Runs ``kop.input -> map -> kop.output`` over the same pre-filled topic, in
this process with one worker and ``epoch_interval=S``, in three modes:
at-least-once (the default output), at-least-once plus ``CommitProgress``,
and ``ExactlyOnce``. Each run's output is read back (``read_committed``) and
counted. Prints the median wall time per mode and its ratio to at-least-once.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import run_main

from bytewax_kafka import operators as kop
from bytewax_kafka.core import CommitProgress, ExactlyOnce, KafkaSinkMessage
from bytewax_kafka.testing import ApacheKafka, create_topic, produce_messages, read_to_end


def run(bs: str, src: str, mode: str, epoch_s: float, run_id: int) -> tuple[float, str]:
    dst = create_topic(bs, partitions=1)
    kw: dict[str, Any] = {}
    if mode == "commit-progress":
        kw = {"commit_progress": CommitProgress(f"progress-{dst}")}
    elif mode == "exactly-once":
        kw = {"exactly_once": ExactlyOnce(f"eos-{dst}")}
    flow = Dataflow(f"cost-{run_id}")
    kinp = kop.input("in", flow, brokers=[bs], topics=[src], tail=False, **kw)
    out = op.map("m", kinp.oks, lambda m: KafkaSinkMessage(m.key, m.value))
    kop.output("out", out, brokers=[bs], topic=dst, **kw)
    t = time.perf_counter()
    run_main(flow, epoch_interval=timedelta(seconds=epoch_s))
    return time.perf_counter() - t, dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--epoch-seconds", type=float, default=1.0)
    args = ap.parse_args()
    modes = ["at-least-once", "commit-progress", "exactly-once"]
    times: dict[str, list[float]] = {m: [] for m in modes}
    with ApacheKafka() as broker:
        bs = broker.bootstrap_servers
        src = create_topic(bs, partitions=args.partitions)
        produce_messages(bs, src, ((str(i).encode(), b"x" * 100) for i in range(args.messages)))
        n = 0
        for _ in range(args.repeat):
            for mode in modes:
                n += 1
                elapsed, dst = run(bs, src, mode, args.epoch_seconds, n)
                got = len(read_to_end(bs, dst, isolation_level="read_committed", timeout=120))
                if got != args.messages:
                    raise SystemExit(f"{mode}: {got} of {args.messages} messages committed")
                times[mode].append(elapsed)
        print(
            f"\n{broker.describe()}: {args.messages} msgs x 100 B, {args.partitions} partitions, "
            f"1 worker, epoch {args.epoch_seconds:g} s, median of {args.repeat}"
        )
        base = statistics.median(times["at-least-once"])
        for mode in modes:
            med = statistics.median(times[mode])
            rate = args.messages / med
            print(f"{mode:16s} {med:6.2f} s {rate:10,.0f} msg/s  x{base / med:.2f} of at-least-once")


if __name__ == "__main__":
    main()
