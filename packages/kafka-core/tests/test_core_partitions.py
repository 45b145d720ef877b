"""Topic patterns, and partitions or topics that appear while a flow runs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from confluent_kafka.admin import AdminClient, NewPartitions

from bytewax_kafka.core import KafkaPartitionsChangedError, KafkaSource, KafkaTopicError
from bytewax_kafka.testing import produce_n


def add_partitions(bootstrap: str, topic: str, total: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the result
    admin.create_partitions([NewPartitions(topic, total)])[topic].result(timeout=30)


def poll_for(part, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        part.next_batch()
        time.sleep(0.05)


def collect(source, flow_runner) -> list:
    out: list = []
    flow = Dataflow("collect")
    op.inspect("keep", op.input("in", flow, source), lambda _s, x: out.append(x))
    flow_runner(flow)
    return out


def test_pattern_reads_every_matching_topic(kafka_bootstrap, topic_factory, flow_runner):
    prefix = f"pat{uuid.uuid4().hex[:8]}"
    a = topic_factory(partitions=2, name=f"{prefix}-a")
    b = topic_factory(partitions=1, name=f"{prefix}-b")
    other = topic_factory(partitions=1, name=f"x{prefix}-c")
    produce_n(kafka_bootstrap, a, 10)
    produce_n(kafka_bootstrap, b, 5, start=100)
    produce_n(kafka_bootstrap, other, 3, start=1000)
    items = collect(KafkaSource([kafka_bootstrap], [f"^{prefix}-.*"], tail=False), flow_runner)
    assert sorted(int(m.value) for m in items) == [*range(10), *range(100, 105)]
    assert {m.topic for m in items} == {a, b}


def test_pattern_without_match_is_a_clear_error(kafka_bootstrap):
    with pytest.raises(KafkaTopicError, match="matches the pattern"):
        KafkaSource([kafka_bootstrap], [f"^nothing-{uuid.uuid4().hex}.*"], timeout=10).list_parts()


def test_bad_pattern_fails_at_construction():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        KafkaSource(["b:1"], ["^(unclosed"])


@pytest.mark.kafka_features("create_partitions")
def test_new_partitions_raise(kafka_bootstrap, topic_factory):
    topic = topic_factory(partitions=1)
    src = KafkaSource([kafka_bootstrap], [topic], metadata_interval=0.2)
    part = src.build_part("s", src.list_parts()[0], None)
    add_partitions(kafka_bootstrap, topic, 3)
    with pytest.raises(KafkaPartitionsChangedError, match="now has 3 partitions") as info:
        poll_for(part, 20)
    part.close()
    assert info.value.changes == {topic: (1, 3)}


@pytest.mark.kafka_features("create_partitions")
def test_new_partitions_warn_once(kafka_bootstrap, topic_factory, caplog):
    topic = topic_factory(partitions=1)
    src = KafkaSource([kafka_bootstrap], [topic], metadata_interval=0.2, on_new_partitions="warn")
    part = src.build_part("s", src.list_parts()[0], None)
    add_partitions(kafka_bootstrap, topic, 2)
    with caplog.at_level(logging.WARNING, logger="bytewax_kafka.core.source"):
        poll_for(part, 5)
    part.close()
    warnings = [r for r in caplog.records if "now has 2 partitions" in r.getMessage()]
    assert len(warnings) == 1


def test_new_matching_topic_raises(kafka_bootstrap, topic_factory):
    prefix = f"grow{uuid.uuid4().hex[:8]}"
    first = topic_factory(partitions=1, name=f"{prefix}-1")
    src = KafkaSource([kafka_bootstrap], [f"^{prefix}-.*"], metadata_interval=0.2)
    part = src.build_part("s", src.list_parts()[0], None)
    assert part is not None
    second = topic_factory(partitions=2, name=f"{prefix}-2")
    with pytest.raises(KafkaPartitionsChangedError, match="matches the source's pattern") as info:
        poll_for(part, 20)
    part.close()
    assert info.value.changes == {second: (0, 2)}
    assert first not in info.value.changes


FLOW = """
import os
import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax_kafka.core import KafkaEpochSink, KafkaSinkMessage, KafkaSource

b = [os.environ["BWK_BROKERS"]]
flow = Dataflow("grow")
s = op.input("in", flow, KafkaSource(b, [os.environ["BWK_IN"]], metadata_interval=0.5))
m = op.map("m", s, lambda x: ("w", KafkaSinkMessage(x.key, x.value)))
op.output("out", m, KafkaEpochSink(b, os.environ["BWK_OUT"]))
"""


@pytest.mark.kafka_features("create_partitions")
def test_flow_restarted_after_new_partitions_loses_nothing(
    kafka_bootstrap, topic_factory, kafka_read_to_end, tmp_path: Path
):
    src = topic_factory(partitions=2)
    dst = topic_factory(partitions=1)
    (tmp_path / "grow_flow.py").write_text(FLOW)
    recovery = tmp_path / "rec"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "BWK_BROKERS": kafka_bootstrap,
        "BWK_IN": src,
        "BWK_OUT": dst,
    }
    cmd = [sys.executable, "-m", "bytewax.run", "grow_flow:flow", "-r", str(recovery), "-s", "1", "-b", "0"]
    with (tmp_path / "flow.log").open("ab") as log:
        _grow_and_restart(cmd, env, log, kafka_bootstrap, src, dst, kafka_read_to_end, tmp_path)
    values = {int(r.value) for r in kafka_read_to_end(dst)}
    assert values == set(range(300))


def _grow_and_restart(cmd, env, log, kafka_bootstrap, src, dst, kafka_read_to_end, tmp_path) -> None:
    produce_n(kafka_bootstrap, src, 100)
    first = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_for(lambda: len(kafka_read_to_end(dst)) >= 100, 60)
    add_partitions(kafka_bootstrap, src, 4)
    produce_n(kafka_bootstrap, src, 100, start=100, partition=3)  # only into a new partition
    produce_n(kafka_bootstrap, src, 100, start=200)  # spread over all four
    # The running flow notices the new partitions and fails, as a supervisor expects.
    assert first.wait(timeout=60) != 0
    assert "now has 4 partitions" in (tmp_path / "flow.log").read_text()
    second = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(lambda: {int(r.value) for r in kafka_read_to_end(dst)} >= set(range(300)), 90)
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()


def _wait_for(cond, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"condition not met within {timeout}s")
