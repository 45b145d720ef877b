"""Side-by-side throughput of source/sink strategies on one broker, in one run.

Usage:
    uv run python benchmarks/core_strategies.py [--broker tansu|kafka] [--messages N]
        [--partitions P] [--repeat R]

Each variant runs the same flow (Kafka -> map to KafkaSinkMessage -> Kafka, 1 worker,
``tail=False``) over the same pre-filled topic into a fresh output topic; the output is
read back and counted, so a variant that loses messages is reported, not timed. Prints
the median wall time of ``run_main`` per variant and its ratio to Bytewax's built-in
connector and to a raw confluent-kafka consume -> produce loop.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import bytewax.connectors.kafka as builtin
import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import run_main
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from bytewax_kafka.core import KafkaEpochSink, KafkaSink, KafkaSinkMessage, KafkaSource
from bytewax_kafka.testing import broker_from_spec, create_topic, produce_messages, read_to_end


def raw_loop(bs: str, src: str, dst: str, partitions: int) -> None:
    # Same fetch tuning as our source, so the ceiling is not held back by
    # librdkafka's 1 s fetch back-off.
    c = Consumer(
        {
            "bootstrap.servers": bs,
            "group.id": "raw",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "fetch.queue.backoff.ms": 10,
        }
    )
    c.assign([TopicPartition(src, p, 0) for p in range(partitions)])
    p = Producer({"bootstrap.servers": bs, "linger.ms": 5, "partitioner": "murmur2_random"})
    eofs = 0
    while eofs < partitions:
        for m in c.consume(1000, 0.001):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eofs += 1
                continue
            while True:
                try:
                    p.produce(dst, m.value(), m.key())
                    break
                except BufferError:
                    p.poll(0.01)
        p.poll(0)
    assert p.flush(60) == 0
    c.close()


def flow_variant(source: str, sink: str) -> Callable[[str, str, str, int], None]:
    def run(bs: str, src: str, dst: str, partitions: int) -> None:
        flow = Dataflow("bench")
        if source == "builtin":
            s = op.input("in", flow, builtin.KafkaSource([bs], [src], tail=False))
            m = op.map("m", s, lambda x: builtin.KafkaSinkMessage(x.key, x.value))
            op.output("out", m, builtin.KafkaSink([bs], dst))
            run_main(flow)
            return
        per = "partition" if source == "ours-per-partition" else "worker"
        s = op.input("in", flow, KafkaSource([bs], [src], tail=False, consumer_per=per))
        m = op.map("m", s, lambda x: KafkaSinkMessage(x.key, x.value))
        if sink == "epoch":
            keyed = op.flat_map_batch("route", m, lambda b: [("w", x) for x in b])
            op.output("out", keyed, KafkaEpochSink([bs], dst))
        else:
            op.output("out", m, KafkaSink([bs], dst))
        run_main(flow)

    return run


VARIANTS: dict[str, Callable[[str, str, str, int], None]] = {
    "raw confluent-kafka loop": raw_loop,
    "bytewax built-in": flow_variant("builtin", "dynamic"),
    "ours: consumer/worker + KafkaSink (flush per batch)": flow_variant("ours", "dynamic"),
    "ours: consumer/worker + KafkaEpochSink (flush per epoch)": flow_variant("ours", "epoch"),
    "ours: consumer/partition + KafkaEpochSink": flow_variant("ours-per-partition", "epoch"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker", default="tansu")
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    value = b"x" * 100
    with broker_from_spec(args.broker) as broker:
        bs = broker.bootstrap_servers
        src = create_topic(bs, partitions=args.partitions)
        produce_messages(bs, src, ((str(i).encode(), value) for i in range(args.messages)))
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(args.repeat):
            for name, run in VARIANTS.items():  # interleaved, so drift hits all alike
                dst = create_topic(bs, partitions=args.partitions)
                t = time.perf_counter()
                run(bs, src, dst, args.partitions)
                elapsed = time.perf_counter() - t
                got = len(read_to_end(bs, dst, timeout=120))
                if got != args.messages:
                    raise SystemExit(f"{name}: wrote {got} of {args.messages} messages")
                times[name].append(elapsed)
        print(
            f"\n{broker.describe()}: {args.messages} msgs x 100 B, {args.partitions} partitions, "
            f"1 worker, median of {args.repeat}"
        )
        base = statistics.median(times["bytewax built-in"])
        raw = statistics.median(times["raw confluent-kafka loop"])
        print(f"{'variant':58s} {'s':>6s} {'msg/s':>10s} {'x built-in':>10s} {'x raw':>7s}")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:58s} {med:6.2f} {args.messages / med:10,.0f} {base / med:10.2f} {raw / med:7.2f}")


if __name__ == "__main__":
    main()
