"""Apache Kafka keeps its topics and records across a SIGKILL and a clean stop."""

from __future__ import annotations

import uuid

from confluent_kafka.admin import AdminClient

from bytewax_kafka.testing import ApacheKafka, create_topic, produce_n, read_to_end


def values(records) -> list[int]:
    return sorted(int(r.value) for r in records)


def partitions_of(bootstrap: str, topic: str) -> int:
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic=topic, timeout=10)
    assert topic in md.topics
    assert md.topics[topic].error is None
    return len(md.topics[topic].partitions)


def test_kill_and_restart_keeps_topics_and_data(proc):
    kafka = ApacheKafka()
    with kafka:
        bootstrap = kafka.bootstrap_servers
        topic = create_topic(bootstrap, f"restart-{uuid.uuid4().hex}", partitions=3)
        assert produce_n(bootstrap, topic, 1000) == 1000
        first_pid = kafka.pid
        assert first_pid is not None

        kafka.kill()  # SIGKILL: no controlled shutdown, no final flush
        proc.wait_gone(first_pid, timeout=5)
        assert kafka.pid is None
        proc.wait_closed(bootstrap)

        kafka.restart()
        second_pid = kafka.pid
        assert second_pid is not None
        assert second_pid != first_pid
        assert kafka.bootstrap_servers == bootstrap  # same port after restart
        assert topic in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
        assert partitions_of(bootstrap, topic) == 3
        assert values(read_to_end(bootstrap, topic)) == list(range(1000))

        # Still writable, and a clean stop followed by a start keeps everything too.
        produce_n(bootstrap, topic, 10, start=1000)
        kafka.stop_node(0)
        proc.wait_gone(second_pid, timeout=5)
        kafka.restart()
        third_pid = kafka.pid
        assert third_pid is not None
        assert partitions_of(bootstrap, topic) == 3
        assert values(read_to_end(bootstrap, topic)) == list(range(1010))
    proc.wait_gone(third_pid)
