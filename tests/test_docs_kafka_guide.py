"""Every code block of docs/kafka-guide.md runs against the session's broker.

Blocks are taken from the page itself, in their sections. Each is adapted
only mechanically: ``"localhost:19092"`` becomes the test broker, topic names
(``"in-topic"``, ...) fresh topics, the consumer group a fresh group; sources
are made finite (see ``docblocks.finite_sources``) and ``registry_client``
returns a mock registry holding the schemas the block expects. Then the flow
runs and what it wrote is read back. A block without a check here fails
``test_every_block_is_checked``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

import bytewax_kafka.serde
from bytewax_kafka import operators as kop
from bytewax_kafka.serde import PlainAvroSerializer
from docblocks import DOCS, Block, blocks_by_section, collect, finite_sources, quoted_names, run_block

GUIDE = DOCS / "kafka-guide.md"
BLOCKS = {b.id: b for b in blocks_by_section(GUIDE)}
TOPICS = ("in-topic", "in_topic", "out-topic", "out-topic-1", "out-topic-2", "dead-letters")
REGISTRY_URL = "http://localhost:8081"


@dataclass
class Guide:
    """One block of the guide, adapted to the test's broker and topics."""

    block: Block
    bootstrap: str
    topics: dict[str, str]
    produce: Callable[..., int]
    read: Callable[..., list[Any]]
    new_topic: Callable[..., str]

    def code(self, extra: dict[str, str] | None = None) -> str:
        code = self.block.code.replace('"localhost:19092"', repr(self.bootstrap))
        for name, topic in {**self.topics, **(extra or {})}.items():
            code = code.replace(f'"{name}"', repr(topic))
        return code

    def run(self, extra: dict[str, str] | None = None) -> dict[str, Any]:
        """Run the block; return its namespace (its flow not run yet)."""
        name = f"{self.block.page}[{self.block.id}]"
        return run_block(self.code(extra), {"__name__": "guide_block"}, name)

    def pairs(self, name: str) -> list[tuple[bytes | None, bytes | None]]:
        return sorted((r.key, r.value) for r in self.read(self.topics[name]))


@pytest.fixture
def guide(request, kafka_bootstrap, topic_factory, kafka_produce, kafka_read_to_end, monkeypatch) -> Guide:
    block = BLOCKS[request.param]
    finite_sources(monkeypatch)
    topics = {name: topic_factory(partitions=2) for name in quoted_names(block.code, TOPICS)}
    return Guide(block, kafka_bootstrap, topics, kafka_produce, kafka_read_to_end, topic_factory)


def messages(n: int) -> list[tuple[bytes, bytes]]:
    return [(f"k{i}".encode(), f"v{i}".encode()) for i in range(n)]


# -- the checks, one per block -----------------------------------------------------


def copies_in_to_out(g: Guide) -> None:
    sent = messages(30)
    g.produce(g.topics["in-topic"], sent)
    run_main(g.run()["flow"])
    assert g.pairs("out-topic") == sorted(sent)


def raises_on_errors_only(g: Guide) -> None:
    # No consumer error on a healthy broker: the flow ends and nothing is raised.
    g.produce(g.topics["in-topic"], messages(5))
    ns = g.run()
    got = collect(ns["kinp"].oks, "got")
    run_main(ns["flow"])
    assert len(got) == 5


def dead_letters_stay_empty(g: Guide) -> None:
    sent = messages(12)
    g.produce(g.topics["in-topic"], sent)
    run_main(g.run()["flow"])
    assert g.pairs("out-topic") == sorted(sent)
    assert g.read(g.topics["dead-letters"]) == []


def sink_message_is_written(g: Guide) -> None:
    ns = g.run()
    topic = g.new_topic()
    flow = Dataflow("sink_message")
    kop.output("out", op.input("inp", flow, TestingSource([ns["msg"]])), brokers=[g.bootstrap], topic=topic)
    run_main(flow)
    assert [(r.key, r.value) for r in g.read(topic)] == [(None, b"some_value")]


def routes_by_message_topic(g: Guide) -> None:
    src = g.topics["in-topic"]
    sent = messages(20)
    g.produce(src, sent)
    run_main(g.run()["flow"])
    by_offset = {(r.partition, r.offset): (r.key, r.value) for r in g.read(src)}
    even = sorted(kv for (_p, o), kv in by_offset.items() if o % 2 == 0)
    odd = sorted(kv for (_p, o), kv in by_offset.items() if o % 2 == 1)
    assert g.pairs("out-topic-1") == even
    assert g.pairs("out-topic-2") == odd


def consumer_group_resumes(g: Guide) -> None:
    group = f"consumer_group_{uuid.uuid4().hex}"

    def run_once() -> list[bytes]:
        ns = g.run({"consumer_group": group})
        got = collect(ns["kinp"].oks, "got")
        run_main(ns["flow"])
        return sorted(m.value for m in got)

    src = g.topics["in_topic"]
    g.produce(src, [f"first-{i}".encode() for i in range(6)])
    assert run_once() == sorted(f"first-{i}".encode() for i in range(6))
    # The group's committed offsets make the next run start after them.
    g.produce(src, [f"second-{i}".encode() for i in range(4)])
    assert run_once() == sorted(f"second-{i}".encode() for i in range(4))
    assert run_once() == []


KEY_SCHEMA = '{"type": "record", "name": "SensorKey", "fields": [{"name": "id", "type": "string"}]}'
VALUE_SCHEMA = """{"type": "record", "name": "Reading", "fields": [
    {"name": "id", "type": "string"}, {"name": "temp", "type": "double"}]}"""
READINGS = [({"id": f"s{i}"}, {"id": f"s{i}", "temp": 20.0 + i / 4}) for i in range(9)]


def mock_registry(monkeypatch: pytest.MonkeyPatch) -> SchemaRegistryClient:
    """A mock registry that the block's ``registry_client(REGISTRY_URL)`` returns."""
    client = SchemaRegistryClient.new_client({"url": f"mock://{uuid.uuid4().hex}"})

    def registry_client(url: str) -> SchemaRegistryClient:
        assert url == REGISTRY_URL
        return client

    monkeypatch.setattr(bytewax_kafka.serde, "registry_client", registry_client)
    return client


def deserializes_wire_format(g: Guide, monkeypatch: pytest.MonkeyPatch) -> None:
    client = mock_registry(monkeypatch)
    src = g.topics["in-topic"]
    key_ser, val_ser = AvroSerializer(client, KEY_SCHEMA), AvroSerializer(client, VALUE_SCHEMA)
    g.produce(
        src,
        [
            (
                key_ser(k, SerializationContext(src, MessageField.KEY)),
                val_ser(v, SerializationContext(src, MessageField.VALUE)),
            )
            for k, v in READINGS
        ]
        + [(b"not avro", b"not avro")],
    )
    ns = g.run()
    got, errs = collect(ns["msgs"].oks, "got"), collect(ns["msgs"].errs, "errs")
    run_main(ns["flow"])
    assert sorted((m.key["id"], m.value["temp"]) for m in got) == sorted(
        (k["id"], v["temp"]) for k, v in READINGS
    )
    assert [e.msg.value for e in errs] == [b"not avro"]


def deserializes_plain_avro(g: Guide, monkeypatch: pytest.MonkeyPatch) -> None:
    client = mock_registry(monkeypatch)
    client.register_schema("sensor_key", Schema(KEY_SCHEMA, "AVRO"))
    client.register_schema("sensor_value", Schema(VALUE_SCHEMA, "AVRO"))
    key_ser, val_ser = PlainAvroSerializer(KEY_SCHEMA), PlainAvroSerializer(VALUE_SCHEMA)
    g.produce(g.topics["in-topic"], [(key_ser(k), val_ser(v)) for k, v in READINGS])
    ns = g.run()
    got, errs = collect(ns["msgs"].oks, "got"), collect(ns["msgs"].errs, "errs")
    run_main(ns["flow"])
    assert errs == []
    assert sorted((m.key["id"], m.value["temp"]) for m in got) == sorted(
        (k["id"], v["temp"]) for k, v in READINGS
    )


def serializes_for_the_output_topic(g: Guide, monkeypatch: pytest.MonkeyPatch) -> None:
    client = mock_registry(monkeypatch)
    g.produce(g.topics["in-topic"], [(b"s1", b"21.5"), (b"s2", b"19")])
    ns = g.run()
    errs = collect(ns["out"].errs, "errs")
    run_main(ns["flow"])
    assert errs == []
    dst = g.topics["out-topic"]
    assert client.get_subjects() == [f"{dst}-value"]
    de = AvroDeserializer(client)
    got = sorted((r.key, de(r.value, SerializationContext(dst, MessageField.VALUE))) for r in g.read(dst))
    assert got == [(b"s1", {"sensor": "s1", "temp": 21.5}), (b"s2", {"sensor": "s2", "temp": 19.0})]


def custom_deserializer(g: Guide, capsys: pytest.CaptureFixture[str]) -> None:
    docs = [{"sensor": f"s{i}", "v": i} for i in range(5)]
    g.produce(
        g.topics["in-topic"],
        [(f"k{i}".encode(), orjson.dumps(d)) for i, d in enumerate(docs)] + [(b"bad", b"{nope")],
    )
    ns = g.run()
    got, errs = collect(ns["json_stream"].oks, "got"), collect(ns["json_stream"].errs, "errs")
    run_main(ns["flow"])
    assert sorted((m.key, m.value["v"]) for m in got) == [(f"k{i}", i) for i in range(5)]
    assert [e.msg.value for e in errs] == [b"{nope"]
    assert capsys.readouterr().out.count("example.inspect: KafkaSourceMessage(") == len(docs)


CHECKS: dict[str, Callable[..., None]] = {
    "connecting-to-kafka-0": copies_in_to_out,
    "connecting-to-kafka-1": copies_in_to_out,
    "error-handling-0": raises_on_errors_only,
    "error-handling-1": dead_letters_stay_empty,
    "batch-sizes-0": copies_in_to_out,
    "message-types-0": sink_message_is_written,
    "dynamic-topic-writes-0": routes_by_message_topic,
    "kafka-and-recovery-0": consumer_group_resumes,
    "serialization-and-deserialization-0": deserializes_wire_format,
    "serialization-and-deserialization-1": deserializes_plain_avro,
    "serialization-and-deserialization-2": serializes_for_the_output_topic,
    "implementing-custom-ser-de-classes-0": custom_deserializer,
}


def test_every_block_is_checked() -> None:
    assert sorted(BLOCKS) == sorted(CHECKS)


@pytest.mark.parametrize("guide", sorted(BLOCKS), indirect=True)
def test_guide_block(guide: Guide, request: pytest.FixtureRequest) -> None:
    check = CHECKS[guide.block.id]
    wanted = check.__code__.co_varnames[1 : check.__code__.co_argcount]
    check(guide, *(request.getfixturevalue(name) for name in wanted))
