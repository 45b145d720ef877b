"""A three-node Apache Kafka cluster: replication survives losing a partition leader."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from bytewax_kafka.testing import ApacheKafkaCluster, create_topic, produce_n, read_to_end


@pytest.fixture(scope="module")
def cluster() -> Iterator[ApacheKafkaCluster]:
    # Our own cluster, not the session's apache_kafka_cluster: these tests kill nodes.
    with ApacheKafkaCluster(3) as c:
        yield c


def partition_zero(admin: AdminClient, topic: str):
    md = admin.list_topics(topic=topic, timeout=10)
    return md.topics[topic].partitions[0]


def test_metadata_lists_three_brokers(cluster):
    admin = AdminClient(cluster.client_config())
    md = admin.list_topics(timeout=10)
    assert sorted(md.brokers) == [1, 2, 3]
    assert sorted(f"{b.host}:{b.port}" for b in md.brokers.values()) == sorted(cluster.brokers)
    assert md.controller_id in (1, 2, 3)
    assert len(cluster.nodes) == 3
    assert all(node.pid is not None for node in cluster.nodes)


def test_replicated_topic_survives_killing_the_leader(cluster, proc):
    conf = cluster.client_config()
    admin = AdminClient(conf)
    topic = create_topic(
        conf,
        f"replicated-{uuid.uuid4().hex}",
        partitions=3,
        replication_factor=3,
        config={"min.insync.replicas": "2"},
    )
    before = partition_zero(admin, topic)
    assert sorted(before.replicas) == [1, 2, 3]
    produce_n(conf, topic, 300, config={"acks": "all"})

    leader = cluster.node_by_id(before.leader)
    leader_pid = leader.pid
    assert leader_pid is not None
    leader.kill()
    proc.wait_gone(leader_pid, timeout=5)

    # Writes with acks=all still succeed with two of three replicas in sync ...
    produce_n(conf, topic, 300, start=300, config={"acks": "all"}, timeout=90)
    # ... and reads see every record, old and new.
    assert sorted(int(r.value) for r in read_to_end(conf, topic)) == list(range(600))
    after = partition_zero(admin, topic)
    assert after.leader not in (-1, before.leader)
    assert before.leader not in after.isrs

    cluster.restart_node(cluster.nodes.index(leader))
    assert leader.pid is not None
    assert sorted(admin.list_topics(timeout=10).brokers) == [1, 2, 3]
    # The restarted node catches up and rejoins the in-sync replicas.
    deadline = time.monotonic() + 60
    while sorted(partition_zero(admin, topic).isrs) != [1, 2, 3]:
        assert time.monotonic() < deadline, "the restarted node never rejoined the ISR"
        time.sleep(0.5)
    produce_n(conf, topic, 10, start=600, config={"acks": "all"})
    assert sorted(int(r.value) for r in read_to_end(conf, topic)) == list(range(610))
