"""The kafka-testing plugin's fixtures work from another package's tests.

Nothing is imported from bytewax_kafka.testing: the fixtures come from the
plugin's ``pytest11`` entry point alone.
"""

from __future__ import annotations


def test_session_broker_fixtures_round_trip(topic_factory, kafka_produce, kafka_read_to_end):
    # Four partitions: a topic shape every broker kind can make (the mock's default).
    topic = topic_factory(partitions=4)
    sent = [(f"key-{i}".encode(), f"value-{i}".encode()) for i in range(100)]
    assert kafka_produce(topic, sent) == 100

    records = kafka_read_to_end(topic)
    assert sorted((r.key, r.value) for r in records) == sorted(sent)
    assert {r.topic for r in records} == {topic}
    assert {r.partition for r in records} <= {0, 1, 2, 3}
