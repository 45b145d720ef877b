"""What Bytewax's own Kafka connector tests check, checked against ours.

Bytewax tests ``bytewax.connectors.kafka`` against a live broker
(``pytests/connectors/test_kafka.py`` in bytewax/bytewax, six tests). A user
switching imports expects the same behaviour, and user test suites match on
the same error texts, so each of those checks has a counterpart here, written
for this project's fixtures (uuid topics, the session's broker):

- reading several topics of three partitions to their end gives every
  message once;
- a partition resumes from its snapshot (batches of one message), and a
  finished partition raises ``StopIteration``;
- a missing topic stops the flow with ``BytewaxRuntimeError`` (ours: every
  run, without creating the topic);
- ``brokers`` or ``topics`` given as one string is a ``TypeError`` whose
  text starts with the built-in's words;
- ``KafkaSink`` writes messages that name their topic.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.testing import TestingSink, TestingSource, poll_next_batch, run_main
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from bytewax_kafka.core import KafkaSink, KafkaSinkMessage, KafkaSource, KafkaSourceMessage


def key_value(m: KafkaSourceMessage[Any, Any]) -> tuple[Any, Any]:
    return m.key, m.value


def extra(config: dict[str, Any]) -> dict[str, Any]:
    """The session's client settings other than the bootstrap address (security, for external brokers)."""
    return {k: v for k, v in config.items() if k != "bootstrap.servers"}


def produce(config: dict[str, Any], records: list[tuple[str, bytes, bytes, int | None]]) -> None:
    """Write ``(topic, key, value, partition)`` with a plain confluent producer, as a user would."""
    producer = Producer(config)
    for topic, key, value, partition in records:
        if partition is None:
            producer.produce(topic, value, key)
        else:
            producer.produce(topic, value, key, partition=partition)
    assert producer.flush(30) == 0


def test_reads_every_message_of_several_topics_then_ends(kafka_bootstrap, kafka_config, topic_factory):
    topics = [topic_factory(partitions=3), topic_factory(partitions=3)]
    records = [
        (t, f"key-{i}-{j}".encode(), f"value-{i}-{j}".encode(), None)
        for i, t in enumerate(topics)
        for j in range(3)
    ]
    produce(kafka_config, records)

    out: list[tuple[Any, Any]] = []
    flow = Dataflow("compat_input")
    msgs = op.input(
        "inp", flow, KafkaSource([kafka_bootstrap], topics, tail=False, add_config=extra(kafka_config))
    )
    op.output("out", op.map("kv", msgs, key_value), TestingSink(out))
    run_main(flow)
    assert sorted(out) == sorted((k, v) for _t, k, v, _p in records)


def test_a_partition_resumes_from_its_snapshot(kafka_bootstrap, kafka_config, topic_factory):
    topic = topic_factory(partitions=3)
    produce(kafka_config, [(topic, f"k{j}".encode(), f"v{j}".encode(), 0) for j in range(3)])
    part_key = f"0-{topic}"  # the built-in's "<partition>-<topic>" keys

    first = KafkaSource([kafka_bootstrap], [topic], tail=False, batch_size=1, add_config=extra(kafka_config))
    part = first.build_part("compat", part_key, None)
    try:
        assert [key_value(m) for m in poll_next_batch(part)] == [(b"k0", b"v0")]
        assert [key_value(m) for m in poll_next_batch(part)] == [(b"k1", b"v1")]
        state = part.snapshot()
        assert [key_value(m) for m in poll_next_batch(part)] == [(b"k2", b"v2")]
    finally:
        part.close()

    again = KafkaSource([kafka_bootstrap], [topic], tail=False, add_config=extra(kafka_config))
    part = again.build_part("compat", part_key, state)
    try:
        assert part.snapshot() == state
        assert [key_value(m) for m in poll_next_batch(part)] == [(b"k2", b"v2")]
        with pytest.raises(StopIteration):
            poll_next_batch(part)
    finally:
        part.close()


def test_a_missing_topic_stops_the_flow_every_time_and_is_not_created(kafka_bootstrap, kafka_config):
    missing = f"compat-missing-{uuid.uuid4().hex}"
    for _run in range(2):
        flow = Dataflow("compat_missing")
        src = KafkaSource([kafka_bootstrap], [missing], tail=False, add_config=extra(kafka_config))
        op.output("out", op.input("inp", flow, src), TestingSink([]))
        with pytest.raises(BytewaxRuntimeError):
            run_main(flow)
    assert missing not in AdminClient(kafka_config).list_topics(timeout=10).topics


@pytest.mark.parametrize("name", ["brokers", "topics"])
def test_one_string_for_a_list_is_a_type_error_in_the_builtins_words(kafka_bootstrap, name):
    args = {"brokers": [kafka_bootstrap], "topics": ["some-topic"]}
    args[name] = args[name][0]
    with pytest.raises(TypeError, match=re.escape(f"{name} must be an iterable and not a string")):
        KafkaSource(args["brokers"], args["topics"], tail=False)


def test_sink_writes_messages_that_name_their_topic(
    kafka_bootstrap, kafka_config, topic_factory, kafka_read_to_end
):
    topic = topic_factory(partitions=3)
    messages = [KafkaSinkMessage(f"k{j}".encode(), f"v{j}".encode(), topic=topic) for j in range(3)]
    flow = Dataflow("compat_output")
    op.output(
        "out",
        op.input("inp", flow, TestingSource(messages)),
        KafkaSink([kafka_bootstrap], topic, add_config=extra(kafka_config)),
    )
    run_main(flow)
    got = sorted((r.key, r.value) for r in kafka_read_to_end(topic))
    assert got == sorted((m.key, m.value) for m in messages)
