"""The source while every broker is unreachable: KafkaTimeoutError after ``timeout``, not a silent wait.

librdkafka reports "all brokers down" only to ``error_cb``, never as a
consumed event; the source watches it there. Each test runs its own Tansu
broker (it starts in milliseconds) and SIGKILLs it mid-read. Marked slow so
that it runs once in CI (the Tansu and lowest-direct runs skip it); the
three-node version is ``tests/test_faults_brokers.py``.
"""

from __future__ import annotations

import logging
import time

import pytest

from bytewax_kafka.core import KafkaSource, KafkaTimeoutError
from bytewax_kafka.testing import Tansu, create_topic, produce_n

pytestmark = pytest.mark.slow


def read_all(parts, n: int, timeout: float = 15) -> int:
    got = 0
    deadline = time.monotonic() + timeout
    while got < n:
        assert time.monotonic() < deadline, f"read {got} of {n}"
        for p in parts:
            got += len(p.next_batch())
    return got


def poll_until_raises(parts, limit: float) -> float:
    t = time.monotonic()
    while time.monotonic() - t < limit:
        for p in parts:
            p.next_batch()
        time.sleep(0.005)
    return time.monotonic() - t


def test_source_fails_when_every_broker_stays_down_and_calls_the_users_error_cb(caplog):
    seen = []
    with Tansu() as broker:
        topic = create_topic(broker.bootstrap_servers, partitions=2)
        produce_n(broker.bootstrap_servers, topic, 50)
        src = KafkaSource(broker.brokers, [topic], timeout=2, add_config={"error_cb": seen.append})
        parts = [src.build_part("in", key, None) for key in src.list_parts()]
        read_all(parts, 50)
        broker.process.kill()
        t = time.monotonic()
        with caplog.at_level(logging.WARNING), pytest.raises(KafkaTimeoutError) as info:
            poll_until_raises(parts, 30)
        elapsed = time.monotonic() - t
    for p in parts:
        p.close()
    assert 2 <= elapsed < 15, elapsed
    assert "every Kafka broker has been unreachable" in str(info.value)
    assert topic in str(info.value)
    assert any("every Kafka broker is unreachable" in r.getMessage() for r in caplog.records)
    assert seen, "the user's error_cb was not called"


def test_source_rides_out_an_outage_shorter_than_its_timeout():
    with Tansu() as broker:
        topic = create_topic(broker.bootstrap_servers, partitions=1)
        src = KafkaSource(broker.brokers, [topic], timeout=60, add_config={"reconnect.backoff.max.ms": 500})
        parts = [src.build_part("in", key, None) for key in src.list_parts()]
        port = int(broker.bootstrap_servers.rsplit(":", 1)[1])
        broker.process.kill()
        poll_until_raises(parts, 4)  # an outage of 4 s: no error
        with Tansu(port=port) as again:  # Tansu keeps no data: the topic is made anew
            create_topic(again.bootstrap_servers, topic, partitions=1)
            produce_n(again.bootstrap_servers, topic, 20)
            assert read_all(parts, 20, timeout=30) == 20
    for p in parts:
        p.close()
