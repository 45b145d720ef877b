"""``input`` and ``output`` against the session's broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main
from confluent_kafka import KafkaError as CKError
from confluent_kafka import Producer

from bytewax_kafka import operators as kop
from bytewax_kafka.core import KafkaDeliveryError, KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax_kafka.operators import KafkaStepError
from bytewax_kafka.operators.io import _split

TopicFactory = Callable[..., str]
Reader = Callable[..., list[Any]]
Produce = Callable[..., int]


def root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def test_round_trip_keeps_every_message_and_per_key_order(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_produce: Produce, kafka_read_to_end: Reader
) -> None:
    brokers = [kafka_bootstrap]
    src, dst = topic_factory(partitions=3), topic_factory(partitions=2)
    sent = [(f"k{i % 5}".encode(), f"k{i % 5}-{i}".encode()) for i in range(200)]
    kafka_produce(src, sent, headers=[("trace", b"t1")])

    flow = Dataflow("round_trip")
    kinp = kop.input("in", flow, brokers=brokers, topics=[src], tail=False, batch_size=7)
    errs: list[Any] = []
    op.output("errs", kinp.errs, TestingSink(errs))
    upper = op.map("upper", kinp.oks, lambda m: KafkaSinkMessage(m.key, m.value.upper(), headers=m.headers))
    kop.output("out", upper, brokers=brokers, topic=dst)
    run_main(flow)

    assert errs == []
    got = kafka_read_to_end(dst)
    assert sorted((r.key, r.value) for r in got) == sorted((k, v.upper()) for k, v in sent)
    assert all(r.headers == [("trace", b"t1")] for r in got)
    # Messages of one key share a source partition and a destination
    # partition: their order survives.
    per_key: dict[bytes, list[bytes]] = defaultdict(list)
    for r in got:
        per_key[r.key].append(r.value)
    for key, values in per_key.items():
        assert values == [v.upper() for k, v in sent if k == key]


def test_round_trip_with_two_workers(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_produce: Produce, kafka_read_to_end: Reader
) -> None:
    brokers = [kafka_bootstrap]
    src, dst = topic_factory(partitions=4), topic_factory(partitions=4)
    sent = [(f"k{i % 8}".encode(), str(i).encode()) for i in range(400)]
    kafka_produce(src, sent)

    flow = Dataflow("two_workers")
    kinp = kop.input("in", flow, brokers=brokers, topics=[src], tail=False, batch_size=10)
    kop.output("out", kinp.oks, brokers=brokers, topic=dst)
    cluster_main(flow, [], 0, worker_count_per_proc=2)

    got = kafka_read_to_end(dst)
    assert sorted((r.key, r.value) for r in got) == sorted(sent)
    per_key: dict[bytes, list[bytes]] = defaultdict(list)
    for r in got:
        per_key[r.key].append(r.value)
    for key, values in per_key.items():
        assert values == [v for k, v in sent if k == key], key


def test_output_of_source_messages_keeps_key_value_headers_timestamp(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_read_to_end: Reader
) -> None:
    brokers = [kafka_bootstrap]
    src, dst = topic_factory(), topic_factory(partitions=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(5):
        producer.produce(
            src,
            value=f"v{i}".encode(),
            key=None if i == 0 else f"k{i}".encode(),
            headers=[("a", f"{i}".encode()), ("b", b"x"), ("a", b"again")],
            timestamp=1_600_000_000_000 + i,
        )
    producer.produce(src, value=None, key=b"tombstone", timestamp=1_600_000_000_100)
    assert producer.flush(30) == 0

    flow = Dataflow("passthrough")
    kinp = kop.input("in", flow, brokers=brokers, topics=[src], tail=False)
    kop.output("out", kinp.oks, brokers=brokers, topic=dst)  # KafkaSourceMessage items as they are
    run_main(flow)

    original = kafka_read_to_end(src)
    copied = kafka_read_to_end(dst)
    assert len(copied) == 6

    def fields(r: Any) -> tuple[Any, ...]:
        return (r.key, r.value, r.headers, r.timestamp)

    assert sorted(map(fields, copied), key=repr) == sorted(map(fields, original), key=repr)
    assert {r.timestamp for r in copied} == {1_600_000_000_000 + i for i in range(5)} | {1_600_000_000_100}


def test_output_topic_none_routes_by_message_topic(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_read_to_end: Reader
) -> None:
    brokers = [kafka_bootstrap]
    a, b = topic_factory(), topic_factory(partitions=3)
    items = [KafkaSinkMessage(b"k", f"a{i}".encode(), topic=a) for i in range(3)]
    items += [KafkaSinkMessage(None, f"b{i}".encode(), topic=b, partition=2) for i in range(3)]

    flow = Dataflow("dynamic")
    kop.output("out", op.input("inp", flow, TestingSource(items)), brokers=brokers)
    run_main(flow)

    assert [r.value for r in kafka_read_to_end(a)] == [b"a0", b"a1", b"a2"]
    got_b = kafka_read_to_end(b)
    assert [r.value for r in got_b] == [b"b0", b"b1", b"b2"]
    assert {r.partition for r in got_b} == {2}  # KafkaSinkMessage.partition is honoured


def test_message_topic_overrides_output_topic(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_read_to_end: Reader
) -> None:
    brokers = [kafka_bootstrap]
    default, own = topic_factory(), topic_factory()
    items = [KafkaSinkMessage(None, b"to-default"), KafkaSinkMessage(None, b"to-own", topic=own)]
    flow = Dataflow("override")
    kop.output("out", op.input("inp", flow, TestingSource(items)), brokers=brokers, topic=default)
    run_main(flow)
    assert [r.value for r in kafka_read_to_end(default)] == [b"to-default"]
    assert [r.value for r in kafka_read_to_end(own)] == [b"to-own"]


def test_message_without_topic_fails_clearly(kafka_bootstrap: str) -> None:
    flow = Dataflow("no_topic")
    msgs = op.input("inp", flow, TestingSource([KafkaSinkMessage(b"k", b"v")]))
    kop.output("out", msgs, brokers=[kafka_bootstrap], topic=None)
    with pytest.raises(BytewaxRuntimeError) as info:
        run_main(flow)
    cause = root_cause(info.value)
    assert isinstance(cause, ValueError)
    assert "step 'no_topic.out': a message has no topic and the output has no default topic" in str(cause)


def test_output_rejects_other_items(kafka_bootstrap: str) -> None:
    flow = Dataflow("bad_items")
    kop.output("out", op.input("inp", flow, TestingSource([b"raw"])), brokers=[kafka_bootstrap], topic="t")
    with pytest.raises(BytewaxRuntimeError) as info:
        run_main(flow)
    cause = root_cause(info.value)
    assert isinstance(cause, TypeError)
    assert "takes KafkaSinkMessage or KafkaSourceMessage items, got bytes" in str(cause)


def test_output_delivery_failure_stops_the_flow() -> None:
    # Nothing listens on the port: the epoch's deliveries fail, and the
    # flow fails with them instead of ending "successfully".
    flow = Dataflow("dead_broker")
    msgs = op.input("inp", flow, TestingSource([KafkaSinkMessage(b"k", b"v")]))
    kop.output("out", msgs, brokers=["127.0.0.1:9"], topic="t", add_config={"message.timeout.ms": 1500})
    with pytest.raises(BytewaxRuntimeError) as info:
        run_main(flow)
    cause = root_cause(info.value)
    assert isinstance(cause, KafkaDeliveryError)
    assert "delivery to topic 't'" in str(cause)


def test_input_splits_errors_and_names_the_step() -> None:
    # KafkaSource emits KafkaError items for consumer errors; the split marks
    # them with the input step's id.
    err = KafkaError(
        CKError(CKError._MSG_TIMED_OUT, "boom"), KafkaSourceMessage(None, None, "t", partition=1)
    )
    msg = KafkaSourceMessage(b"k", b"v", "t", partition=1, offset=0)
    flow = Dataflow("split")
    out = _split("split_err", op.input("inp", flow, TestingSource([msg, err])), "split.in")
    oks: list[Any] = []
    errs: list[Any] = []
    op.output("oks", out.oks, TestingSink(oks))
    op.output("errs", out.errs, TestingSink(errs))
    run_main(flow)
    assert oks == [msg]
    assert errs == [KafkaStepError(err.err, err.msg, "split.in")]


def test_steps_nest_under_the_step_id() -> None:
    flow = Dataflow("ids")
    kinp = kop.input("kafka-in", flow, brokers=["127.0.0.1:9"], topics=["t"])
    kop.output("kafka-out", kinp.oks, brokers=["127.0.0.1:9"], topic="out")
    ids = [s.step_id for s in flow.substeps]
    assert ids == ["ids.kafka-in", "ids.kafka-out"]
    inner = [s.step_id for s in flow.substeps[0].substeps]
    assert inner == ["ids.kafka-in.kafka_input", "ids.kafka-in.split_err"]


def test_resume_after_a_crash_loses_nothing(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    kafka_produce: Produce,
    kafka_read_to_end: Reader,
    tmp_path: Path,
) -> None:
    # With recovery, what `output` wrote before the last committed epoch is on
    # the broker, and the resumed run writes the rest: at-least-once.
    brokers = [kafka_bootstrap]
    src, dst = topic_factory(partitions=2), topic_factory()
    n = 400
    kafka_produce(src, [(str(i % 7).encode(), str(i).encode()) for i in range(n)])
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))
    seen = [0]

    def build(crash_after: int | None) -> Dataflow:
        def maybe_crash(batch: list[Any]) -> list[Any]:
            seen[0] += len(batch)
            if crash_after is not None and seen[0] > crash_after:
                raise RuntimeError("crash")
            time.sleep(0.002)
            return batch

        flow = Dataflow("resume")
        kinp = kop.input("in", flow, brokers=brokers, topics=[src], tail=False, batch_size=10)
        passed = op.flat_map_batch("maybe_crash", kinp.oks, maybe_crash)
        kop.output("out", passed, brokers=brokers, topic=dst)
        return flow

    with pytest.raises(BytewaxRuntimeError):
        run_main(build(crash_after=250), epoch_interval=timedelta(milliseconds=20), recovery_config=recovery)
    written_before = len(kafka_read_to_end(dst))
    assert 0 < written_before < n

    seen[0] = 0
    run_main(build(crash_after=None), epoch_interval=timedelta(milliseconds=20), recovery_config=recovery)
    assert seen[0] < n  # resumed, not restarted
    values = [r.value for r in kafka_read_to_end(dst)]
    assert set(values) == {str(i).encode() for i in range(n)}


FLOW_MODULE = """
import os
from bytewax.dataflow import Dataflow
from bytewax_kafka import operators as kop

brokers = os.environ["BWK_BROKERS"].split(",")
flow = Dataflow("procs")
kinp = kop.input("in", flow, brokers=brokers, topics=[os.environ["BWK_IN"]], tail=False, batch_size=25)
kop.output("out", kinp.oks, brokers=brokers, topic=os.environ["BWK_OUT"])
"""


def test_round_trip_with_two_processes(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    kafka_produce: Produce,
    kafka_read_to_end: Reader,
    tmp_path: Path,
) -> None:
    src, dst = topic_factory(partitions=4), topic_factory(partitions=3)
    sent = [(f"k{i % 11}".encode(), str(i).encode()) for i in range(1000)]
    kafka_produce(src, sent)
    (tmp_path / "procs_flow.py").write_text(FLOW_MODULE)
    env = {**os.environ, "BWK_BROKERS": kafka_bootstrap, "BWK_IN": src, "BWK_OUT": dst}
    subprocess.run(
        [sys.executable, "-m", "bytewax_kafka.testing.processes", "-p", "2", "procs_flow:flow"],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    got = kafka_read_to_end(dst)
    assert sorted((r.key, r.value) for r in got) == sorted(sent)
    per_key: dict[bytes, list[bytes]] = defaultdict(list)
    for r in got:
        per_key[r.key].append(r.value)
    for key, values in per_key.items():
        assert values == [v for k, v in sent if k == key], key


def test_input_on_a_missing_topic_fails_every_run_and_creates_nothing(apache_kafka) -> None:
    # Apache Kafka creates a topic a metadata request names (auto.create.topics.enable=true):
    # the second run must fail as the first did, not read an empty topic.
    from confluent_kafka.admin import AdminClient

    missing = f"no-such-topic-{time.time_ns()}"
    for run in range(2):
        flow = Dataflow("missing")
        kinp = kop.input("in", flow, brokers=apache_kafka.brokers, topics=[missing], tail=False, timeout=10)
        op.output("out", kinp.oks, TestingSink([]))
        with pytest.raises(BytewaxRuntimeError) as info:
            run_main(flow)
        cause = root_cause(info.value)
        assert f"topic {missing!r} does not exist" in str(cause), f"run {run}: {cause}"
    listed = AdminClient(apache_kafka.client_config()).list_topics(timeout=10).topics
    assert missing not in listed
