"""The per-message hot path, stage by stage, on real confluent-kafka records.

Run (with the other micro-benchmarks beside this file):
``uv run pytest benchmarks --benchmark-only --benchmark-json=.benchmarks/micro.json``;
``--benchmark-autosave`` keeps each run under ``.benchmarks/`` named by commit and
``uv run pytest-benchmark compare --group-by=group`` lines runs up, so a change that slows
a stage shows between two commits.

Each benchmark handles one batch of 1,000 records of 100-byte values, as read from
librdkafka's in-process mock cluster (real ``confluent_kafka.Message`` objects): the
source's loop that turns records into messages, the split of ``kop.input``, the map of
the benchmark flows, ``kop.output``'s routing, and the sink's produce loop (into the
mock cluster's producer queue, flushed outside the timing). Bytewax's built-in
connector's source loop and the raw loop's per-record work are timed beside them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import bytewax.connectors.kafka as builtin
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from bytewax_kafka.core import KafkaSinkMessage, KafkaSourceMessage
from bytewax_kafka.core.consumer import PartitionBuffer, WorkerConsumer
from bytewax_kafka.core.producer import DeliveringProducer
from bytewax_kafka.operators.io import _batch_router
from bytewax_kafka.testing import MockCluster

BATCH = 1000
TOPIC = "hot-path"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockCluster]:
    with MockCluster() as cluster:
        p = Producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 5})
        for i in range(BATCH):
            p.produce(TOPIC, b"v" * 100, b"key-%06d" % i, partition=0)
        assert p.flush(30) == 0
        yield cluster


@pytest.fixture(scope="module")
def records(mock: MockCluster) -> list[Any]:
    c = Consumer(
        {"bootstrap.servers": mock.bootstrap_servers, "group.id": "hot", "enable.auto.commit": False}
    )
    c.assign([TopicPartition(TOPIC, 0, 0)])
    got: list[Any] = []
    for _ in range(200):
        got.extend(m for m in c.consume(BATCH, 0.1) if m.error() is None)
        if len(got) >= BATCH:
            break
    c.close()
    assert len(got) == BATCH
    return got


def _consumer_stub() -> Any:
    # The routing loop of a real WorkerConsumer without a client: one partition assigned.
    w = WorkerConsumer.__new__(WorkerConsumer)
    w.buffers = {(TOPIC, 0): PartitionBuffer()}
    w._one_topic = TOPIC
    w.orphans = []
    return w


@pytest.mark.benchmark(group="source-loop")
def test_source_loop_ours(benchmark: Any, records: list[Any]) -> None:
    w = _consumer_stub()

    def run() -> None:
        w.buffers[(TOPIC, 0)].items = []
        w._route(records)

    benchmark(run)
    assert len(w.buffers[(TOPIC, 0)].items) == BATCH


@pytest.mark.benchmark(group="source-loop")
def test_source_loop_builtin(benchmark: Any, records: list[Any]) -> None:
    # What bytewax.connectors.kafka's next_batch does per record (its loop, written out).
    def run() -> list[Any]:
        out = []
        for msg in records:
            if msg.error() is None:
                out.append(
                    builtin.KafkaSourceMessage(
                        key=msg.key(),
                        value=msg.value(),
                        topic=msg.topic(),
                        headers=msg.headers(),
                        latency=msg.latency(),
                        offset=msg.offset(),
                        partition=msg.partition(),
                        timestamp=msg.timestamp(),
                    )
                )
        return out

    assert len(benchmark(run)) == BATCH


@pytest.mark.benchmark(group="source-loop")
def test_source_loop_raw(benchmark: Any, records: list[Any]) -> None:
    # The raw loop's per-record reads, for scale.
    def run() -> int:
        n = 0
        for m in records:
            if m.error() is None:
                m.value()
                m.key()
                n += 1
        return n

    assert benchmark(run) == BATCH


@pytest.fixture(scope="module")
def messages(records: list[Any]) -> list[KafkaSourceMessage[bytes, bytes]]:
    w = _consumer_stub()
    w._route(records)
    msgs: list[KafkaSourceMessage[bytes, bytes]] = w.buffers[(TOPIC, 0)].items
    return msgs


@pytest.mark.benchmark(group="map-to-sink-message")
def test_map_to_sink_message(benchmark: Any, messages: list[Any]) -> None:
    benchmark(lambda: [KafkaSinkMessage(m.key, m.value) for m in messages])


@pytest.mark.benchmark(group="map-to-sink-message")
def test_map_to_sink_message_builtin(benchmark: Any, messages: list[Any]) -> None:
    benchmark(lambda: [builtin.KafkaSinkMessage(m.key, m.value) for m in messages])


@pytest.mark.benchmark(group="map-to-sink-message")
def test_to_sink(benchmark: Any, messages: list[Any]) -> None:
    benchmark(lambda: [m.to_sink() for m in messages])


@pytest.mark.benchmark(group="output-routing")
def test_output_routing(benchmark: Any, messages: list[Any]) -> None:
    sink_msgs = [KafkaSinkMessage(m.key, m.value) for m in messages]
    route = _batch_router("out", "dst", lambda: "w0")
    [(_key, routed)] = benchmark(route, sink_msgs)
    assert routed is sink_msgs  # a clean batch is routed as it is


@pytest.mark.benchmark(group="produce-loop")
def test_produce_loop(benchmark: Any, mock: MockCluster, messages: list[Any]) -> None:
    sink_msgs = [KafkaSinkMessage(m.key, m.value) for m in messages]
    producer = DeliveringProducer(
        {"bootstrap.servers": mock.bootstrap_servers, "queue.buffering.max.messages": 10_000_000},
        "hot-path-out",
    )
    benchmark.pedantic(producer.produce_batch, args=(sink_msgs,), setup=producer.flush, rounds=200)
    producer.flush()


@pytest.mark.benchmark(group="produce-loop")
def test_produce_loop_raw(benchmark: Any, mock: MockCluster, messages: list[Any]) -> None:
    failures: list[Any] = []
    p = Producer(
        {
            "bootstrap.servers": mock.bootstrap_servers,
            "queue.buffering.max.messages": 10_000_000,
            "on_delivery": lambda err, msg: failures.append(err) if err else None,
        }
    )

    def run() -> None:
        for m in messages:
            p.produce("hot-path-out", m.value, m.key)
        p.poll(0)

    benchmark.pedantic(run, setup=lambda: p.flush(30), rounds=200)
    assert p.flush(30) == 0
    assert not failures
