"""Lag in records and seconds, time to drain, stalled partitions (``bytewax_kafka.core.lag``).

The arithmetic is checked with a clock of the test's own; the source's use
of it against a real broker: a partition whose fetching is paused while
records keep arriving is reported stalled, by name, and cleared once it is
read again.
"""

from __future__ import annotations

import logging
import math
import time

import pytest
from confluent_kafka import Producer, TopicPartition
from prometheus_client import REGISTRY

from bytewax_kafka.core import KafkaSource
from bytewax_kafka.core.lag import PartitionLag, check_stall_after
from bytewax_kafka.testing import produce_n

GAUGES = (
    "bytewax_kafka_source_consumer_lag",
    "bytewax_kafka_source_lag_seconds",
    "bytewax_kafka_source_drain_seconds",
    "bytewax_kafka_source_partition_stalled",
)


def sample(name: str, step: str, topic: str, partition: int = 0) -> float | None:
    return REGISTRY.get_sample_value(name, {"step_id": step, "topic": topic, "partition": str(partition)})


def test_records_behind_never_count_records_removed_by_retention():
    lag = PartitionLag("lag.records", "t", 0, stall_after=None)
    lag.update(0, 150, 20, now=1.0)
    assert lag.behind == 130
    lag.update(100, 150, 20, now=2.0)  # retention removed 0..99: they can never be read
    assert lag.behind == 50
    assert sample(GAUGES[0], "lag.records", "t") == 50
    lag.update(100, 150, 150, now=3.0)
    assert lag.behind == 0
    lag.remove()


def test_seconds_behind_is_zero_when_caught_up_and_bounded_by_the_time_since():
    lag = PartitionLag("lag.seconds", "t", 0, stall_after=None)
    lag.read((1, 1_000_000), now=10.0)  # a record stamped 1000 s after the epoch
    lag.update(0, 40, 40, now=10.0, wall=1_030.0)
    assert lag.seconds_behind == 0.0
    # A record arrives in the partition, idle since: it is not 30 s behind, only 2.
    lag.update(0, 41, 40, now=12.0, wall=1_032.0)
    assert lag.seconds_behind == pytest.approx(2.0)
    # Behind from the start (never caught up): now minus the last record's timestamp.
    fresh = PartitionLag("lag.seconds", "u", 0, stall_after=None)
    fresh.read((1, 1_000_000), now=10.0)
    fresh.update(0, 500, 100, now=10.0, wall=1_007.5)
    assert fresh.seconds_behind == pytest.approx(7.5)
    assert sample(GAUGES[1], "lag.seconds", "u") == pytest.approx(7.5)
    # No timestamp (type 0) and never caught up: unknown, not made up.
    unknown = PartitionLag("lag.seconds", "v", 0, stall_after=None)
    unknown.read((0, -1), now=10.0)
    unknown.update(0, 500, 100, now=10.0, wall=2_000.0)
    assert unknown.seconds_behind is None
    assert sample(GAUGES[1], "lag.seconds", "v") is None
    for x in (lag, fresh, unknown):
        x.remove()


def test_time_to_drain_follows_the_read_rate():
    lag = PartitionLag("lag.drain", "t", 0, stall_after=None)
    lag.update(0, 10_000, 0, now=0.0)
    assert lag.drain_seconds is None  # no rate measured yet: not set
    assert sample(GAUGES[2], "lag.drain", "t") is None
    lag.update(0, 10_000, 1_000, now=1.0)  # 1,000 records a second, 9,000 left
    assert lag.drain_seconds == pytest.approx(9.0)
    assert sample(GAUGES[2], "lag.drain", "t") == pytest.approx(9.0)
    lag.update(0, 10_000, 1_000, now=2.0)  # nothing read this second: the smoothed rate halves
    assert lag.drain_seconds == pytest.approx(18.0)
    lag.update(0, 10_000, 10_000, now=3.0)
    assert lag.drain_seconds == 0.0
    stuck = PartitionLag("lag.drain", "u", 0, stall_after=None)
    stuck.update(0, 10, 5, now=0.0)
    stuck.update(0, 10, 5, now=1.0)
    assert stuck.drain_seconds == math.inf
    lag.remove()
    stuck.remove()


def test_a_partition_whose_lag_grows_unread_is_stalled_and_named(caplog):
    caplog.set_level(logging.INFO, "bytewax_kafka.core.source")
    lag = PartitionLag("lag.stall", "orders", 3, stall_after=5.0)
    lag.read((1, 1), now=0.0)
    lag.update(0, 100, 100, now=0.5)
    for t, high in ((1.5, 110), (3.0, 120), (6.0, 130)):
        lag.update(0, high, 100, now=t)
        assert not lag.stalled, t  # growing, but for less than 5 s
    lag.update(0, 140, 100, now=6.6)
    assert lag.stalled
    assert sample(GAUGES[3], "lag.stall", "orders", 3) == 1
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = warning.getMessage()
    assert "partition 3 of topic 'orders' has stalled" in text
    assert "grew from 0 to 40 records" in text
    lag.update(0, 150, 100, now=8.0)  # still stalled: said once
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    lag.read((1, 2), now=9.0)
    lag.update(0, 150, 120, now=9.5)
    assert not lag.stalled
    assert sample(GAUGES[3], "lag.stall", "orders", 3) == 0
    assert any("is read again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    lag.remove()
    assert all(sample(g, "lag.stall", "orders", 3) is None for g in GAUGES)


def test_a_lag_that_does_not_grow_is_not_a_stall():
    # A transaction marker after the last record, or a backlog nobody adds to.
    lag = PartitionLag("lag.steady", "t", 0, stall_after=1.0)
    lag.read((1, 1), now=0.0)
    for t in range(1, 30):
        lag.update(0, 101, 100, now=float(t))
    assert not lag.stalled
    off = PartitionLag("lag.steady", "u", 0, stall_after=None)
    for t in range(1, 30):
        off.update(0, 100 + t, 100, now=float(t))
    assert not off.stalled
    assert sample(GAUGES[3], "lag.steady", "u") is None
    lag.remove()
    off.remove()


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (-1.0, ValueError), ("60", TypeError)])
def test_stall_after_is_checked(value, error):
    with pytest.raises(error, match="stall_after"):
        check_stall_after(value)
    with pytest.raises(error, match="stall_after"):
        KafkaSource(["127.0.0.1:1"], ["t"], stall_after=value)


def _read(part, want: int, timeout: float = 30.0) -> int:
    got = 0
    deadline = time.monotonic() + timeout
    while got < want and time.monotonic() < deadline:
        got += len(part.next_batch())
    return got


@pytest.mark.kafka_features("high_watermark")  # the lag in records is exact
def test_the_source_reports_a_partition_it_cannot_fetch_as_stalled(kafka_bootstrap, topic_factory, caplog):
    caplog.set_level(logging.INFO, "bytewax_kafka.core.source")
    topic = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, topic, 20)
    source = KafkaSource([kafka_bootstrap], [topic], stall_after=1.0, metadata_interval=None)
    part = source.build_part("lag.source", source.list_parts()[0], None)
    try:
        assert _read(part, 20) == 20
        tp = TopicPartition(topic, 0)
        # Fetching stops (as when a partition's fetches fail) while records keep coming.
        part._worker.consumer.pause([tp])
        sent = 0
        deadline = time.monotonic() + 30
        while sample(GAUGES[3], "lag.source", topic) != 1 and time.monotonic() < deadline:
            if sent < 50:  # five more every 0.25 s: the lag grows
                produce_n(kafka_bootstrap, topic, 5, start=20 + sent)
                sent += 5
            for _ in range(5):
                part.next_batch()
                time.sleep(0.05)
        assert sample(GAUGES[3], "lag.source", topic) == 1
        deadline = time.monotonic() + 10
        while sample(GAUGES[0], "lag.source", topic) != 50 and time.monotonic() < deadline:
            if sent < 50:
                produce_n(kafka_bootstrap, topic, 5, start=20 + sent)
                sent += 5
            part.next_batch()
            time.sleep(0.05)
        assert sample(GAUGES[0], "lag.source", topic) == 50  # the cluster was asked: the cache is stale
        assert sample(GAUGES[2], "lag.source", topic) == math.inf
        assert sample(GAUGES[1], "lag.source", topic) > 0
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(f"partition 0 of topic {topic!r} has stalled" in w for w in warnings), warnings
        part._worker.consumer.resume([tp])
        assert _read(part, 50) == 50
        deadline = time.monotonic() + 10
        while sample(GAUGES[3], "lag.source", topic) != 0 and time.monotonic() < deadline:
            part.next_batch()
            time.sleep(0.05)
        assert sample(GAUGES[3], "lag.source", topic) == 0
        assert sample(GAUGES[0], "lag.source", topic) == 0
        assert sample(GAUGES[1], "lag.source", topic) == 0
    finally:
        part.close()
    assert all(sample(g, "lag.source", topic) is None for g in GAUGES)


@pytest.mark.kafka_features("transactions")
def test_a_transactional_input_read_to_its_end_has_no_lag(kafka_bootstrap, topic_factory):
    # The commit marker after the last record takes an offset no message ever has.
    topic = topic_factory(partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"lag-{topic}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic, str(i).encode(), partition=0)
    producer.commit_transaction(30)
    source = KafkaSource([kafka_bootstrap], [topic], metadata_interval=None)
    part = source.build_part("lag.txn", source.list_parts()[0], None)
    try:
        assert _read(part, 10) == 10
        deadline = time.monotonic() + 10
        while sample(GAUGES[0], "lag.txn", topic) != 0 and time.monotonic() < deadline:
            part.next_batch()
            time.sleep(0.1)
        assert sample(GAUGES[0], "lag.txn", topic) == 0
    finally:
        part.close()


def test_the_first_batch_sets_the_gauge_after_an_idle_start(kafka_bootstrap, topic_factory):
    # Regression: an idle call before any fetch was answered used up the
    # once-a-second update, so the first batch read left the gauge unset
    # (a flow that read three records and ended never exported a lag).
    topic = topic_factory(partitions=1)
    source = KafkaSource([kafka_bootstrap], [topic], metadata_interval=None)
    part = source.build_part("lag.first", source.list_parts()[0], None)
    try:
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:  # idle: nothing to read yet
            assert part.next_batch() == []
            time.sleep(0.06)
        produce_n(kafka_bootstrap, topic, 3)
        got: list = []
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            got = part.next_batch()
        assert got
        assert sample(GAUGES[0], "lag.first", topic) is not None
    finally:
        part.close()
