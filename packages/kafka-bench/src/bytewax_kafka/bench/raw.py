"""The ceiling: a plain confluent-kafka consume -> produce loop, no dataflow engine.

Run as ``python -m bytewax_kafka.bench.raw`` by kafka-bench, which hands it
the cell as it does the flows (:mod:`bytewax_kafka.bench.define.handoff`);
with several processes, process *i* reads the partitions *p* with
``p % processes == i``. It reads from the start of its partitions and runs
until SIGTERM, then flushes and exits.

Same consumer tuning as our ``KafkaSource`` (``fetch.queue.backoff.ms=10``)
and producer settings as our sink (``linger.ms=5``, ``murmur2_random``), one
thread: what Python and librdkafka can do with no per-message work beyond
the (optional) decode and encode.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from bytewax_kafka.bench.define.handoff import read_handoff
from bytewax_kafka.bench.flows import process_setup, serdes

__all__ = ["main"]

_stop = False


def _on_term(signum: int, frame: FrameType | None) -> None:
    global _stop
    _stop = True


def main() -> int:
    """Run the loop until SIGTERM; 0 when every produced message was delivered."""
    h = read_handoff()
    c = h.cell
    process_setup(c)
    bootstrap = ",".join(h.brokers)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bytewax-kafka-bench-raw",
            "enable.auto.commit": False,
            "fetch.queue.backoff.ms": 10,
            **(c.consumer_config or {}),
        }
    )
    failures: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "partitioner": "murmur2_random",
            "on_delivery": on_delivery,
            **(c.producer_config or {}),
        }
    )
    mine = [
        TopicPartition(h.input_topic, p, 0) for p in range(c.partitions) if p % h.processes == h.process_index
    ]
    consumer.assign(mine)
    pair = serdes(c.serde, h.input_topic)
    dst = h.output_topic
    produce = producer.produce
    poll = producer.poll
    batch = c.batch_size
    if pair is not None:
        from confluent_kafka.serialization import MessageField, SerializationContext

        de, se = pair
        src_ctx = SerializationContext(h.input_topic, MessageField.VALUE)
        dst_ctx = SerializationContext(dst, MessageField.VALUE)
    while not _stop:
        msgs = consumer.consume(batch, 0.001)
        for m in msgs:
            if m.error() is not None:
                raise KafkaException(m.error())
            value = m.value()
            if pair is not None:
                value = se(de(value, src_ctx), dst_ctx)
            while True:
                try:
                    produce(dst, value, m.key())
                    break
                except BufferError:
                    poll(0.005)
        poll(0)
    left = producer.flush(30)
    consumer.close()
    if failures or left:
        print(f"raw loop: {len(failures)} failed deliveries, {left} undelivered", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
