from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, OFFSET_STORED, Consumer, TopicPartition

from bytewax_kafka.core import (
    KafkaConfigError,
    KafkaConsumeError,
    KafkaError,
    KafkaSource,
    KafkaSourceMessage,
    KafkaTimeoutError,
    KafkaTopicError,
)
from bytewax_kafka.core.metrics import CONSUMER_LAG
from bytewax_kafka.testing import produce_n


def collect(source: KafkaSource, flow_runner, workers: int = 1) -> list:
    out: list = []
    flow = Dataflow("collect")
    s = op.input("in", flow, source)
    op.inspect("keep", s, lambda _step, x: out.append(x))
    flow_runner(flow, workers)
    return out


def values(items) -> list[int]:
    return sorted(int(m.value) for m in items)


@pytest.mark.parametrize(("partitions", "workers"), [(4, 1), (1, 2), (3, 2), (1, 1)])
@pytest.mark.parametrize("consumer_per", ["worker", "partition"])
def test_reads_every_message_once_then_ends(
    kafka_bootstrap, topic_factory, flow_runner, partitions, workers, consumer_per
):
    topic = topic_factory(partitions=partitions)
    produce_n(kafka_bootstrap, topic, 3000)
    items = collect(
        KafkaSource([kafka_bootstrap], [topic], tail=False, batch_size=100, consumer_per=consumer_per),
        flow_runner,
        workers,
    )
    assert values(items) == list(range(3000))
    assert all(isinstance(m, KafkaSourceMessage) and m.topic == topic for m in items)
    # offsets are consecutive within each partition
    for p in range(partitions):
        offs = sorted(m.offset for m in items if m.partition == p)
        assert offs == list(range(len(offs)))


def test_unequal_partitions_on_one_worker_lose_nothing(kafka_bootstrap, topic_factory, flow_runner):
    # Partitions ending at different times: the last one must still hand out
    # what the shared consumer routed to it earlier (regression).
    topic = topic_factory(partitions=4)
    for p, n in enumerate((10, 2000, 50, 7000)):
        produce_n(kafka_bootstrap, topic, n, start=p * 100_000, partition=p)
    items = collect(KafkaSource([kafka_bootstrap], [topic], tail=False), flow_runner)
    assert len(items) == 10 + 2000 + 50 + 7000
    assert len({(m.partition, m.offset) for m in items}) == len(items)


def test_several_topics(kafka_bootstrap, topic_factory, flow_runner):
    a, b = topic_factory(partitions=2), topic_factory(partitions=1)
    produce_n(kafka_bootstrap, a, 100)
    produce_n(kafka_bootstrap, b, 50, start=1000)
    items = collect(KafkaSource([kafka_bootstrap], [a, b], tail=False), flow_runner)
    assert values(items) == list(range(100)) + list(range(1000, 1050))


def test_empty_topic_ends(kafka_bootstrap, topic_factory, flow_runner):
    topic = topic_factory(partitions=2)
    assert collect(KafkaSource([kafka_bootstrap], [topic], tail=False), flow_runner) == []


def test_message_fields(kafka_bootstrap, topic_factory, flow_runner, kafka_produce):
    topic = topic_factory(partitions=1)
    kafka_produce(topic, [(b"key", b"value")], headers=[("h1", b"x"), ("h2", b"")])
    (m,) = collect(KafkaSource([kafka_bootstrap], [topic], tail=False), flow_runner)
    assert (m.key, m.value, m.topic, m.partition, m.offset) == (b"key", b"value", topic, 0, 0)
    assert m.headers == [("h1", b"x"), ("h2", b"")]
    assert m.timestamp is not None
    assert m.timestamp[1] > 0


def build(source: KafkaSource, resume=None, index=0):
    parts = source.list_parts()
    return source.build_part("step", parts[index], resume)


def drain(part, want: int, timeout: float = 20.0) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        try:
            got.extend(part.next_batch())
        except StopIteration:
            break
    return got


@pytest.mark.kafka_features("high_watermark")
def test_offset_end_snapshot_is_concrete_and_restart_reads_what_came_meanwhile(
    kafka_bootstrap, topic_factory
):
    # Field notes defect 3: the reference snapshots -1 until a message arrives,
    # so a restart re-seeks to the end and skips what arrived while down.
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 10)
    part = build(KafkaSource([kafka_bootstrap], [topic], starting_offset=OFFSET_END))
    snap = part.snapshot()
    part.close()
    assert snap == 10
    produce_n(kafka_bootstrap, topic, 5, start=10)  # arrive "while the flow is down"
    resumed = build(KafkaSource([kafka_bootstrap], [topic], starting_offset=OFFSET_END), resume=snap)
    got = drain(resumed, 5)
    resumed.close()
    assert values(got) == [10, 11, 12, 13, 14]


def test_beginning_snapshot_is_concrete(kafka_bootstrap, topic_factory):
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 3)
    part = build(KafkaSource([kafka_bootstrap], [topic], starting_offset=OFFSET_BEGINNING))
    assert part.snapshot() == 0
    got = drain(part, 3)
    assert part.snapshot() == 3
    part.close()
    assert values(got) == [0, 1, 2]


def test_concrete_starting_offset(kafka_bootstrap, topic_factory, flow_runner):
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 20)
    items = collect(KafkaSource([kafka_bootstrap], [topic], tail=False, starting_offset=15), flow_runner)
    assert values(items) == [15, 16, 17, 18, 19]


@pytest.mark.kafka_features("offsets_for_times")
def test_starting_time(kafka_bootstrap, topic_factory, flow_runner, kafka_produce):
    topic = topic_factory(partitions=1)
    kafka_produce(topic, [(b"old", b"old")])
    time.sleep(0.05)
    cut = datetime.now(timezone.utc)
    time.sleep(0.05)
    kafka_produce(topic, [(b"new", b"new")])
    items = collect(KafkaSource([kafka_bootstrap], [topic], tail=False, starting_offset=cut), flow_runner)
    assert [m.value for m in items] == [b"new"]
    future = cut + timedelta(days=1)
    assert (
        collect(KafkaSource([kafka_bootstrap], [topic], tail=False, starting_offset=future), flow_runner)
        == []
    )


@pytest.mark.kafka_features("consumer_groups")
def test_offset_stored_starts_at_the_groups_committed_offset(kafka_bootstrap, topic_factory, flow_runner):
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 10)
    group = f"g-{topic}"
    c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    c.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
    c.close()
    src = KafkaSource(
        [kafka_bootstrap], [topic], tail=False, starting_offset=OFFSET_STORED, add_config={"group.id": group}
    )
    assert values(collect(src, flow_runner)) == [7, 8, 9]


@pytest.mark.kafka_features("consumer_groups")
def test_offset_stored_without_commit_follows_auto_offset_reset(kafka_bootstrap, topic_factory, flow_runner):
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 4)
    earliest = KafkaSource(
        [kafka_bootstrap],
        [topic],
        tail=False,
        starting_offset=OFFSET_STORED,
        add_config={"group.id": f"none-{topic}", "auto.offset.reset": "earliest"},
    )
    assert values(collect(earliest, flow_runner)) == [0, 1, 2, 3]
    error = KafkaSource(
        [kafka_bootstrap],
        [topic],
        tail=False,
        starting_offset=OFFSET_STORED,
        add_config={"group.id": f"none2-{topic}", "auto.offset.reset": "error"},
    )
    with pytest.raises(KafkaConfigError, match="no committed offset"):
        build(error)


@pytest.mark.kafka_features("consumer_groups")
def test_guide_consumer_group_recipe_commits_to_the_group(kafka_bootstrap, topic_factory, flow_runner):
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 10)
    group = f"recipe-{topic}"
    conf = {"group.id": group, "enable.auto.commit": "true", "auto.commit.interval.ms": "100"}
    src = KafkaSource([kafka_bootstrap], [topic], tail=False, starting_offset=OFFSET_STORED, add_config=conf)
    assert values(collect(src, flow_runner)) == list(range(10))
    c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    committed = c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    c.close()
    assert committed == 10  # the final commit on close
    produce_n(kafka_bootstrap, topic, 3, start=10)
    again = KafkaSource(
        [kafka_bootstrap], [topic], tail=False, starting_offset=OFFSET_STORED, add_config=conf
    )
    assert values(collect(again, flow_runner)) == [10, 11, 12]


def test_batch_size_bounds_each_batch(kafka_bootstrap, topic_factory):
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 500)
    part = build(KafkaSource([kafka_bootstrap], [topic], tail=False, batch_size=7))
    sizes = []
    deadline = time.monotonic() + 20
    total = 0
    while total < 500 and time.monotonic() < deadline:
        batch = part.next_batch()
        sizes.append(len(batch))
        total += len(batch)
    part.close()
    assert total == 500
    assert max(sizes) <= 7


def test_next_batch_does_not_block_when_idle(kafka_bootstrap, topic_factory):
    topic = topic_factory(partitions=1)
    part = build(KafkaSource([kafka_bootstrap], [topic], tail=True))
    slowest = 0.0
    for _ in range(50):
        t = time.perf_counter()
        assert part.next_batch() == []
        slowest = max(slowest, time.perf_counter() - t)
    awake = part.next_awake()
    part.close()
    assert slowest < 0.1
    assert awake is None or awake > datetime.now(timezone.utc) - timedelta(seconds=1)


def test_lag_gauge_is_right_from_offset_zero_and_removed_on_close(kafka_bootstrap, topic_factory):
    # Field notes defect 10.
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 100)
    part = build(KafkaSource([kafka_bootstrap], [topic], batch_size=40))
    first = drain(part, 1)
    assert first
    labels = {"step_id": "step", "topic": topic, "partition": "0"}
    lag = [s for s in CONSUMER_LAG.collect()[0].samples if s.labels == labels]
    assert lag
    assert lag[0].value == 100 - part.snapshot()
    part.close()
    assert not [s for s in CONSUMER_LAG.collect()[0].samples if s.labels == labels]


def test_unreachable_broker_fails_within_timeout():
    # Field notes defect 4: the reference's list_topics() has no timeout.
    src = KafkaSource(["127.0.0.1:1"], ["t"], timeout=2)
    t = time.monotonic()
    with pytest.raises(KafkaTimeoutError, match=r"127\.0\.0\.1:1"):
        src.list_parts()
    assert time.monotonic() - t < 10


def test_unreachable_broker_with_oauth_cb_fails_within_timeout():
    src = KafkaSource(
        ["127.0.0.1:1"],
        ["t"],
        timeout=2,
        add_config={
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "OAUTHBEARER",
            "oauth_cb": lambda _cfg: ("token", time.time() + 60),
        },
    )
    t = time.monotonic()
    with pytest.raises(KafkaTimeoutError):
        src.list_parts()
    assert time.monotonic() - t < 10


def test_missing_topic_is_a_clear_error(kafka_bootstrap):
    missing = f"missing-{time.time_ns()}"
    with pytest.raises(KafkaTopicError, match=missing):
        KafkaSource([kafka_bootstrap], [missing], timeout=10).list_parts()


def test_invalid_setting_fails_naming_it(kafka_bootstrap, topic_factory):
    topic = topic_factory(partitions=1)
    src = KafkaSource([kafka_bootstrap], [topic], add_config={"not.a.real.setting": "1"})
    with pytest.raises(KafkaConfigError, match=r"not\.a\.real\.setting"):
        src.list_parts()


@pytest.mark.kafka_features("high_watermark")  # Tansu never reports an offset out of range
def test_consume_error_raises_naming_topic_and_partition(kafka_bootstrap, topic_factory):
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 3)
    src = KafkaSource([kafka_bootstrap], [topic], add_config={"auto.offset.reset": "error"})
    part = build(src, resume=1000)  # past the end: offset out of range
    with pytest.raises(KafkaConsumeError, match=topic) as info:
        drain(part, 1, timeout=15)
    part.close()
    assert info.value.partition == 0
    assert "partition 0" in str(info.value)


@pytest.mark.kafka_features("high_watermark")
def test_consume_error_as_item_when_not_raising(kafka_bootstrap, topic_factory):
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 3)
    src = KafkaSource(
        [kafka_bootstrap], [topic], raise_on_errors=False, add_config={"auto.offset.reset": "error"}
    )
    part = build(src, resume=1000)
    got = drain(part, 1, timeout=15)
    part.close()
    assert got
    assert isinstance(got[0], KafkaError)
    assert got[0].msg.topic == topic
    assert got[0].msg.partition == 0
    assert got[0].err.code() != 0


def test_one_consumer_serves_all_partitions_of_a_worker(kafka_bootstrap, topic_factory):
    # Field notes defect 8: the reference makes a consumer (threads, connections) per partition.
    topic = topic_factory(partitions=4)
    produce_n(kafka_bootstrap, topic, 40)
    src = KafkaSource([kafka_bootstrap], [topic], tail=False)
    parts = [src.build_part("step", key, None) for key in src.list_parts()]
    consumers = {id(p._worker.consumer) for p in parts}
    got = []
    for p in parts:
        got.extend(drain(p, 10))
    for p in parts:
        p.close()
    assert len(consumers) == 1
    assert values(got) == list(range(40))
    per_partition = KafkaSource([kafka_bootstrap], [topic], consumer_per="partition")
    parts = [per_partition.build_part("step", key, None) for key in per_partition.list_parts()]
    assert len({id(p._worker.consumer) for p in parts}) == 4
    for p in parts:
        p.close()


@pytest.mark.kafka_features("consumer_groups")
def test_offset_stored_snapshot_is_concrete(kafka_bootstrap, topic_factory):
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 10)
    group = f"snap-{topic}"
    c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    c.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    c.close()
    part = build(
        KafkaSource([kafka_bootstrap], [topic], starting_offset=OFFSET_STORED, add_config={"group.id": group})
    )
    snap = part.snapshot()
    part.close()
    assert snap == 4
