"""Listing a source's partitions never creates a topic.

Apache Kafka (``auto.create.topics.enable=true`` by default) and Tansu create
a topic that a metadata request names, unless the request forbids it. The
source asks for every topic (a request that creates nothing) and describes
by name, with auto-creation forbidden, only a topic that listing does not
show. So a flow started on a missing topic fails naming it every time, not
only the first (when an earlier check had created an empty topic, the second
run read nothing and went on).
"""

from __future__ import annotations

import uuid

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.testing import TestingSink, run_main
from confluent_kafka.admin import AdminClient

from bytewax_kafka.core import KafkaSource, KafkaTopicError


def chain(exc: BaseException | None) -> str:
    out = []
    while exc is not None:
        out.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(out)


def topic_names(broker) -> set[str]:
    return set(AdminClient(broker.client_config()).list_topics(timeout=10).topics)


@pytest.mark.parametrize("kind", ["apache_kafka", "tansu_broker"])
def test_a_missing_topic_fails_every_run_and_is_never_created(kind, request, broker_topic_factory):
    broker = request.getfixturevalue(kind)
    present = broker_topic_factory(broker)(partitions=2)
    missing = f"no-such-topic-{uuid.uuid4().hex}"
    for run in range(2):
        flow = Dataflow("missing_topic")
        src = KafkaSource(broker.brokers, [present, missing], tail=False, timeout=10)
        op.output("out", op.input("in", flow, src), TestingSink([]))
        with pytest.raises(BytewaxRuntimeError) as info:
            run_main(flow)
        text = chain(info.value)
        assert "KafkaTopicError" in text, f"run {run}: {text}"
        assert f"topic {missing!r} does not exist" in text, f"run {run}: {text}"
    assert missing not in topic_names(broker)
    assert present in topic_names(broker)


@pytest.mark.parametrize("kind", ["apache_kafka", "tansu_broker"])
def test_list_parts_of_a_missing_topic_creates_nothing(kind, request):
    broker = request.getfixturevalue(kind)
    missing = f"no-such-topic-{uuid.uuid4().hex}"
    src = KafkaSource(broker.brokers, [missing], timeout=10)
    for _ in range(2):
        with pytest.raises(KafkaTopicError, match=f"topic '{missing}' does not exist") as info:
            src.list_parts()
        assert info.value.topic == missing
    assert missing not in topic_names(broker)


def test_consumers_never_auto_create_topics():
    src = KafkaSource(["127.0.0.1:1"], ["t"])
    assert src.consumer_config()["allow.auto.create.topics"] is False
