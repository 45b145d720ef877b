"""Consumer-group mode in one process: ``input(consumer_group=)`` and ``output(consumer_group=)``.

The replica tests (several processes, kills, scaling) are ``tests/test_group_replicas.py``.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from confluent_kafka import Consumer

from bytewax_kafka import operators as kop
from bytewax_kafka.core import (
    CommitProgress,
    ConsumerGroup,
    ExactlyOnce,
    KafkaGroupSource,
    KafkaSinkMessage,
    KafkaTimeoutError,
    KafkaTopicError,
)
from bytewax_kafka.core.offsets import committed_offset
from bytewax_kafka.testing import produce_n

FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int | None]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return [committed_offset(c, topic, p, group, 30) for p in range(partitions)]
    finally:
        c.close()


def group_flow(bootstrap: str, src: str, dst: str, group: ConsumerGroup, **kw) -> Dataflow:
    flow = Dataflow("group")
    kinp = kop.input(
        "in",
        flow,
        brokers=[bootstrap],
        topics=[src],
        tail=False,
        add_config=FAST_GROUP,
        consumer_group=group,
        **kw,
    )
    msgs = op.map("copy", kinp.oks, lambda m: KafkaSinkMessage(m.key, m.value))
    kop.output("out", msgs, brokers=[bootstrap], topic=dst, consumer_group=group)
    return flow


@pytest.mark.kafka_features("consumer_groups")
@pytest.mark.parametrize("batches", [False, True])
def test_a_group_flow_writes_everything_and_commits_the_end(
    kafka_bootstrap, topic_factory, kafka_read_to_end, batches
):
    src, dst = topic_factory(partitions=3), topic_factory(partitions=1)
    produce_n(kafka_bootstrap, src, 3000)
    group = ConsumerGroup(f"group-{src}")
    if not batches:
        flow = group_flow(kafka_bootstrap, src, dst, group)
    else:
        flow = Dataflow("group")
        kinp = kop.input(
            "in",
            flow,
            brokers=[kafka_bootstrap],
            topics=[src],
            tail=False,
            add_config=FAST_GROUP,
            consumer_group=group,
            batches=True,
        )
        lists = op.map("copy", kinp.oks, lambda ms: [KafkaSinkMessage(m.key, m.value) for m in ms])
        kop.output("out", lists, brokers=[kafka_bootstrap], topic=dst, consumer_group=group)
    run_main(flow)
    got = Counter(r.value for r in kafka_read_to_end(dst))
    assert set(got) == {str(i).encode() for i in range(3000)}
    assert sum(got.values()) == 3000  # one member, no rebalance: no duplicate
    assert sum(e or 0 for e in committed(kafka_bootstrap, group.group_id, src, 3)) == 3000


@pytest.mark.kafka_features("transactions")
def test_an_exactly_once_group_flow_commits_outputs_and_offsets_together(
    kafka_bootstrap, topic_factory, kafka_read_to_end
):
    src, dst = topic_factory(partitions=2), topic_factory(partitions=1)
    produce_n(kafka_bootstrap, src, 2000)
    group = ConsumerGroup(f"group-eos-{src}", exactly_once=True)
    run_main(group_flow(kafka_bootstrap, src, dst, group))
    got = Counter(r.value for r in kafka_read_to_end(dst, isolation_level="read_committed"))
    assert got == Counter(str(i).encode() for i in range(2000))
    assert sum(e or 0 for e in committed(kafka_bootstrap, group.group_id, src, 2)) == 2000
    # Run again: the group's offsets are at the end, nothing is written twice.
    run_main(group_flow(kafka_bootstrap, src, dst, ConsumerGroup(group.group_id, exactly_once=True)))
    again = Counter(r.value for r in kafka_read_to_end(dst, isolation_level="read_committed"))
    assert again == got


@pytest.mark.kafka_features("consumer_groups")
def test_a_worker_whose_items_are_all_filtered_still_commits(kafka_bootstrap, topic_factory):
    # Regression: a worker that wrote nothing never committed its offsets, so a
    # restart (or the partition's next owner) read them all again.
    src, dst = topic_factory(partitions=2), topic_factory(partitions=1)
    produce_n(kafka_bootstrap, src, 500)
    progress = CommitProgress(f"filtered-{src}")
    flow = Dataflow("filtered")
    kinp = kop.input(
        "in", flow, brokers=[kafka_bootstrap], topics=[src], tail=False, commit_progress=progress
    )
    nothing = op.filter("none", kinp.oks, lambda _m: False)
    kop.output("out", nothing, brokers=[kafka_bootstrap], topic=dst, commit_progress=progress)
    run_main(flow)
    assert sum(e or 0 for e in committed(kafka_bootstrap, progress.group_id, src, 2)) == 500


def test_the_group_must_be_shared_by_an_input_and_the_outputs():
    group = ConsumerGroup("shared")
    flow = Dataflow("alone")
    with pytest.raises(ValueError, match=r"no input of flow 'alone' shares it"):
        kop.output(
            "out",
            op.input("src", flow, TestingSource([])),
            brokers=["127.0.0.1:1"],
            topic="t",
            consumer_group=group,
        )
    source = KafkaGroupSource(["127.0.0.1:1"], ["t"], group)
    with pytest.raises(ValueError, match=r"no output of flow 'no_output' shares it"):
        source.build("no_output.in.kafka_input", 0, 1)


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        (
            {"exactly_once": ExactlyOnce("x")},
            ValueError,
            "give one of exactly_once, commit_progress and consumer_group",
        ),
        ({"starting_offset": 5}, ValueError, "committed offset, else at OFFSET_BEGINNING, OFFSET_END"),
        ({"starting_offset": datetime(2024, 1, 1, tzinfo=timezone.utc)}, ValueError, "not at a time"),
        ({"consumer_per": "partition"}, ValueError, "its own member of the group"),
        ({"add_config": {"group.id": "other"}}, ValueError, "sets group.id 'other'"),
    ],
)
def test_group_settings_that_cannot_work_fail_when_the_flow_is_built(kwargs, error, says):
    with pytest.raises(error, match=says):
        kop.input(
            "in",
            Dataflow("bad"),
            brokers=["127.0.0.1:1"],
            topics=["t"],
            consumer_group=ConsumerGroup("g"),
            **kwargs,
        )


def test_a_group_source_on_a_missing_topic_fails_at_start_and_creates_nothing(kafka_bootstrap, topic_factory):
    dst = topic_factory(partitions=1)
    name = f"missing-{dst}"
    group = ConsumerGroup(f"missing-{dst}")
    group.add_output("f", "f.out", [kafka_bootstrap], None)
    source = KafkaGroupSource([kafka_bootstrap], [name], group, timeout=10)
    with pytest.raises(KafkaTopicError, match="does not exist"):
        source.build("f.in.kafka_input", 0, 1)
    c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "look"})
    try:
        assert name not in c.list_topics(timeout=10).topics
    finally:
        c.close()


def test_a_group_source_on_an_unreachable_cluster_fails_within_its_timeout():
    group = ConsumerGroup("unreachable")
    group.add_output("f", "f.out", ["127.0.0.1:1"], None)
    source = KafkaGroupSource(["127.0.0.1:1"], ["t"], group, timeout=2)
    t = time.monotonic()
    with pytest.raises(KafkaTimeoutError, match=r"127\.0\.0\.1:1"):
        source.build("f.in.kafka_input", 0, 1)
    assert time.monotonic() - t < 10
