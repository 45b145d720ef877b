"""(De)serialization operators: ok and error paths, None pass-through, contexts.

Most flows here run on TestingSource items (no broker); the last tests
round-trip through a real broker with confluent's schema-registry Avro serde.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.testing import TestingSink, TestingSource, run_main
from confluent_kafka import TIMESTAMP_CREATE_TIME
from confluent_kafka import KafkaError as CKError
from confluent_kafka.schema_registry import SchemaRegistryClient, SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import (
    MessageField,
    SerializationContext,
    StringDeserializer,
    StringSerializer,
)

from bytewax_kafka import operators as kop
from bytewax_kafka.core import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax_kafka.operators import KafkaOpOut, KafkaStepError
from bytewax_kafka.serde import JsonDeserializer, JsonSerializer, PlainAvroSerializer

TOPIC = "sensors"


def src(key: Any, value: Any, offset: int = 0, **kw: Any) -> KafkaSourceMessage[Any, Any]:
    kw.setdefault("topic", TOPIC)
    kw.setdefault("partition", 0)
    kw.setdefault("headers", [("h", b"1")])
    kw.setdefault("timestamp", (TIMESTAMP_CREATE_TIME, 1_700_000_000_000 + offset))
    return KafkaSourceMessage(key, value, offset=offset, **kw)


def run_op(
    items: list[Any], build: Callable[[Any], KafkaOpOut[Any, Any]], flow_id: str = "f"
) -> tuple[list[Any], list[Any]]:
    """Run ``build(stream)`` on ``items``; return what reached ``oks`` and ``errs``."""
    flow = Dataflow(flow_id)
    up = op.input("inp", flow, TestingSource(items))
    out = build(up)
    oks: list[Any] = []
    errs: list[Any] = []
    op.output("oks", out.oks, TestingSink(oks))
    op.output("errs", out.errs, TestingSink(errs))
    run_main(flow)
    return oks, errs


def root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


class Recorder:
    """A (de)serializer that records its calls and applies ``fn``."""

    def __init__(self, fn: Callable[[Any], Any] = lambda x: x) -> None:
        self.fn = fn
        self.calls: list[tuple[Any, str, str, list[Any] | None]] = []

    def __call__(self, data: Any, ctx: SerializationContext | None = None) -> Any:
        assert ctx is not None
        self.calls.append((data, ctx.topic, str(ctx.field), ctx.headers))
        return self.fn(data)


# -- deserialize ----------------------------------------------------------------


def test_deserialize_ok() -> None:
    msgs = [src(b"a", b'{"v": 1}', 0), src(b"b", b"[2]", 1)]
    oks, errs = run_op(
        msgs,
        lambda s: kop.deserialize(
            "de", s, key_deserializer=StringDeserializer(), val_deserializer=JsonDeserializer()
        ),
    )
    assert errs == []
    assert [(m.key, m.value) for m in oks] == [("a", {"v": 1}), ("b", [2])]
    # Everything but key and value is unchanged.
    for before, after in zip(msgs, oks, strict=True):
        assert (after.topic, after.partition, after.offset, after.headers, after.timestamp) == (
            before.topic,
            before.partition,
            before.offset,
            before.headers,
            before.timestamp,
        )


def test_deserialize_errors_keep_the_original_message() -> None:
    bad_key = src(b"\xff", b"{}", 0)
    bad_value = src(b"k", b"{nope", 1)
    good = src(b"k", b"{}", 2)
    oks, errs = run_op(
        [bad_key, bad_value, good],
        lambda s: kop.deserialize(
            "de", s, key_deserializer=StringDeserializer("ascii"), val_deserializer=JsonDeserializer()
        ),
    )
    assert [(m.key, m.value) for m in oks] == [("k", {})]
    assert len(errs) == 2
    key_err, value_err = errs
    for e in errs:
        assert isinstance(e, KafkaStepError)
        assert isinstance(e, KafkaError)
        assert e.step_id == "f.de"
    assert key_err.msg == bad_key
    assert key_err.err.code() == CKError._KEY_DESERIALIZATION
    assert key_err.err.str().startswith("key deserialization failed in step 'f.de': ")
    assert "UnicodeDecodeError" in key_err.err.str() or "SerializationError" in key_err.err.str()
    # The key had deserialized fine, yet the error holds the original bytes.
    assert value_err.msg == bad_value
    assert value_err.msg.key == b"k"
    assert value_err.err.code() == CKError._VALUE_DESERIALIZATION
    assert value_err.err.str().startswith(
        "value deserialization failed in step 'f.de': SerdeError: invalid JSON"
    )


def test_deserialize_key_and_value_alone() -> None:
    msgs = [src(b"k", b'{"a": 1}', 0), src(b"\xff", b"x", 1)]
    oks, errs = run_op(msgs, lambda s: kop.deserialize_key("dk", s, StringDeserializer("ascii")))
    assert [(m.key, m.value) for m in oks] == [("k", b'{"a": 1}')]
    assert [e.err.code() for e in errs] == [CKError._KEY_DESERIALIZATION]
    assert errs[0].msg == msgs[1]

    oks, errs = run_op(msgs, lambda s: kop.deserialize_value("dv", s, JsonDeserializer()))
    assert [(m.key, m.value) for m in oks] == [(b"k", {"a": 1})]
    assert [e.err.code() for e in errs] == [CKError._VALUE_DESERIALIZATION]
    assert errs[0].msg == msgs[1]
    assert errs[0].step_id == "f.dv"


def test_deserialize_passes_none_through_without_calling() -> None:
    key_de = Recorder(bytes.decode)
    val_de = Recorder(bytes.decode)
    msgs = [src(None, b"v", 0), src(b"k", None, 1), src(None, None, 2)]
    oks, errs = run_op(
        msgs, lambda s: kop.deserialize("de", s, key_deserializer=key_de, val_deserializer=val_de)
    )
    assert errs == []
    assert [(m.key, m.value) for m in oks] == [(None, "v"), ("k", None), (None, None)]
    assert [c[0] for c in key_de.calls] == [b"k"]
    assert [c[0] for c in val_de.calls] == [b"v"]


def test_deserialize_context_names_topic_field_and_headers() -> None:
    key_de = Recorder()
    val_de = Recorder()
    msg = src(b"k", b"v", 0, topic="in-topic", headers=[("schema", b"7")])
    run_op([msg], lambda s: kop.deserialize("de", s, key_deserializer=key_de, val_deserializer=val_de))
    assert key_de.calls == [(b"k", "in-topic", "key", [("schema", b"7")])]
    assert val_de.calls == [(b"v", "in-topic", "value", [("schema", b"7")])]


def test_deserializer_may_return_none() -> None:
    oks, errs = run_op([src(b"k", b"v")], lambda s: kop.deserialize_value("dv", s, lambda v, ctx: None))
    assert errs == []
    assert oks[0].value is None


def test_deserialize_rejects_other_items() -> None:
    with pytest.raises(BytewaxRuntimeError) as info:
        run_op([b"raw bytes"], lambda s: kop.deserialize_value("dv", s, JsonDeserializer()))
    cause = root_cause(info.value)
    assert isinstance(cause, TypeError)
    assert "step 'f.dv' takes KafkaSourceMessage items, got bytes" in str(cause)


def _raising(exc: BaseException) -> Callable[..., Any]:
    def de(data: Any, ctx: Any = None) -> Any:
        raise exc

    return de


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError("registry down"),
        TimeoutError("timed out"),
        SchemaRegistryError(500, 50001, "internal error"),
        SchemaRegistryError(401, 40101, "unauthorized"),
    ],
    ids=["refused", "timeout", "registry-500", "registry-401"],
)
def test_outages_stop_the_flow(exc: BaseException) -> None:
    with pytest.raises(BytewaxRuntimeError) as info:
        run_op([src(b"k", b"v")], lambda s: kop.deserialize_value("dv", s, _raising(exc)))
    assert root_cause(info.value) is exc
    with pytest.raises(BytewaxRuntimeError) as info:
        run_op(
            [KafkaSinkMessage(b"k", "v")], lambda s: kop.serialize_value("sv", s, _raising(exc), topic="t")
        )
    assert root_cause(info.value) is exc


def test_unknown_schema_id_is_a_message_error() -> None:
    # Bytes in the registry wire format naming a schema id the registry lacks:
    # the registry answers 404, which is about the message, not an outage.
    client = SchemaRegistryClient.new_client({"url": f"mock://{uuid.uuid4().hex}"})
    framed = b"\x00\x00\x00\x03\xe7" + b"\x02a"
    oks, errs = run_op(
        [src(b"k", framed)], lambda s: kop.deserialize_value("dv", s, AvroDeserializer(client))
    )
    assert oks == []
    assert errs[0].err.code() == CKError._VALUE_DESERIALIZATION
    assert "SchemaRegistryError" in errs[0].err.str()


# -- serialize ------------------------------------------------------------------


def test_serialize_ok_sink_and_source_messages() -> None:
    sink = KafkaSinkMessage("k", {"v": 1}, topic="own", headers=[("h", b"1")], partition=3, timestamp=42)
    source = src("k2", {"v": 2}, 5, timestamp=(TIMESTAMP_CREATE_TIME, 1234))
    oks, errs = run_op(
        [sink, source],
        lambda s: kop.serialize(
            "ser", s, key_serializer=StringSerializer(), val_serializer=JsonSerializer(), topic="out"
        ),
    )
    assert errs == []
    assert oks == [
        KafkaSinkMessage(b"k", b'{"v":1}', topic="own", headers=[("h", b"1")], partition=3, timestamp=42),
        # A source message is converted: key, value, headers, timestamp kept;
        # its topic and partition are the source's, not kept.
        KafkaSinkMessage(
            b"k2", b'{"v":2}', topic=None, headers=[("h", b"1")], partition=None, timestamp=1234
        ),
    ]


def test_serialize_context_topic_is_the_destination() -> None:
    key_ser = Recorder(str.encode)
    val_ser = Recorder(str.encode)
    items = [
        KafkaSinkMessage("a", "1", topic="own-topic"),
        KafkaSinkMessage("b", "2"),
        src("c", "3", 0, topic="source-topic"),
    ]
    oks, errs = run_op(
        items, lambda s: kop.serialize("ser", s, key_serializer=key_ser, val_serializer=val_ser, topic="dest")
    )
    assert errs == []
    assert [(c[1], c[2]) for c in key_ser.calls] == [("own-topic", "key"), ("dest", "key"), ("dest", "key")]
    assert [(c[1], c[2]) for c in val_ser.calls] == [
        ("own-topic", "value"),
        ("dest", "value"),
        ("dest", "value"),
    ]
    # The messages' own topics are not changed: the output decides.
    assert [m.topic for m in oks] == ["own-topic", None, None]


def test_serialize_key_and_value_alone() -> None:
    oks, errs = run_op(
        [KafkaSinkMessage("k", {"v": 1})], lambda s: kop.serialize_key("sk", s, StringSerializer(), topic="t")
    )
    assert errs == []
    assert (oks[0].key, oks[0].value) == (b"k", {"v": 1})
    oks, errs = run_op(
        [KafkaSinkMessage("k", {"v": 1})], lambda s: kop.serialize_value("sv", s, JsonSerializer(), topic="t")
    )
    assert errs == []
    assert (oks[0].key, oks[0].value) == ("k", b'{"v":1}')


def test_serialize_passes_none_through_and_allows_none_results() -> None:
    key_ser = Recorder(lambda k: None)  # e.g. a serializer that drops keys
    val_ser = Recorder(str.encode)
    items = [KafkaSinkMessage(None, "v"), KafkaSinkMessage("k", None), KafkaSinkMessage(None, None)]
    oks, errs = run_op(
        items, lambda s: kop.serialize("ser", s, key_serializer=key_ser, val_serializer=val_ser, topic="t")
    )
    assert errs == []
    assert [(m.key, m.value) for m in oks] == [(None, b"v"), (None, None), (None, None)]
    assert [c[0] for c in key_ser.calls] == ["k"]
    assert [c[0] for c in val_ser.calls] == ["v"]
    # confluent's StringSerializer on a keyless message: no assert trips.
    oks, errs = run_op(
        [KafkaSinkMessage(None, "v")],
        lambda s: kop.serialize(
            "ser", s, key_serializer=StringSerializer(), val_serializer=StringSerializer(), topic="t"
        ),
    )
    assert (errs, [(m.key, m.value) for m in oks]) == ([], [(None, b"v")])


def test_serialize_errors() -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "v", "type": "int"}]}
    sink_bad_value = KafkaSinkMessage("k", {"v": "x"}, headers=[("h", b"1")], timestamp=99)
    source_bad_value = src("k", {"v": "y"}, 7)
    sink_bad_key = KafkaSinkMessage(object(), {"v": 1}, topic="own")
    oks, errs = run_op(
        [sink_bad_value, source_bad_value, sink_bad_key, KafkaSinkMessage("k", {"v": 1})],
        lambda s: kop.serialize(
            "ser",
            s,
            key_serializer=StringSerializer(),
            val_serializer=PlainAvroSerializer(schema),
            topic="dest",
        ),
    )
    assert [(m.key, m.value) for m in oks] == [(b"k", b"\x02")]
    assert [e.err.code() for e in errs] == [
        CKError._VALUE_SERIALIZATION,
        CKError._VALUE_SERIALIZATION,
        CKError._KEY_SERIALIZATION,
    ]
    assert all(e.step_id == "f.ser" for e in errs)
    assert errs[0].err.str().startswith("value serialization failed in step 'f.ser': SerdeError: ")
    assert errs[2].err.str().startswith("key serialization failed in step 'f.ser': ")
    # A sink message's error holds a source message with its (unserialized)
    # key, value and headers, and the destination topic.
    assert errs[0].msg == KafkaSourceMessage(
        "k", {"v": "x"}, topic="dest", headers=[("h", b"1")], timestamp=(TIMESTAMP_CREATE_TIME, 99)
    )
    # A source message's error holds it unchanged (source topic/partition/offset).
    assert errs[1].msg is source_bad_value or errs[1].msg == source_bad_value
    assert errs[2].msg.topic == "own"
    assert errs[2].msg.timestamp is None


def test_serializer_added_headers_are_kept() -> None:
    def ser(obj: Any, ctx: SerializationContext | None = None) -> bytes:
        assert ctx is not None
        assert ctx.headers is not None
        ctx.headers.append((f"{ctx.field}.schema", b"1"))
        return str(obj).encode()

    original = KafkaSinkMessage("k", "v", headers=[("h", b"0")])
    oks, errs = run_op(
        [original], lambda s: kop.serialize("ser", s, key_serializer=ser, val_serializer=ser, topic="t")
    )
    assert errs == []
    assert oks[0].headers == [("h", b"0"), ("key.schema", b"1"), ("value.schema", b"1")]
    assert original.headers == [("h", b"0")]  # the input message is not mutated


def test_serialize_rejects_other_items() -> None:
    with pytest.raises(BytewaxRuntimeError) as info:
        run_op([{"not": "a message"}], lambda s: kop.serialize_value("sv", s, JsonSerializer()))
    cause = root_cause(info.value)
    assert isinstance(cause, TypeError)
    assert "KafkaSinkMessage or KafkaSourceMessage" in str(cause)


AVRO_VALUE = """
{"type": "record", "name": "Reading", "fields": [
  {"name": "sensor", "type": "string"}, {"name": "v", "type": "int"}]}
"""


def test_registry_avro_serializer_default_subject_strategy() -> None:
    # confluent's AvroSerializer names the subject "<ctx.topic>-value": it
    # needs the destination topic, even for messages without one (defect 7).
    client = SchemaRegistryClient.new_client({"url": f"mock://{uuid.uuid4().hex}"})
    ser = AvroSerializer(client, AVRO_VALUE)
    items = [KafkaSinkMessage(None, {"sensor": "a", "v": 1}), src(b"k", {"sensor": "b", "v": 2})]
    oks, errs = run_op(items, lambda s: kop.serialize_value("ser", s, ser, topic="readings"))
    assert errs == []
    assert client.get_subjects() == ["readings-value"]
    de = AvroDeserializer(client)
    ctx = SerializationContext("readings", MessageField.VALUE)
    assert [de(m.value, ctx) for m in oks] == [{"sensor": "a", "v": 1}, {"sensor": "b", "v": 2}]
    # A value that does not fit the schema is an error item, not a crash.
    oks, errs = run_op(
        [KafkaSinkMessage(None, {"sensor": 1})],
        lambda s: kop.serialize_value("ser", s, ser, topic="readings"),
    )
    assert oks == []
    assert errs[0].err.code() == CKError._VALUE_SERIALIZATION


def test_registry_avro_round_trip_through_kafka(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    kafka_read_to_end: Callable[..., list[Any]],
) -> None:
    brokers = [kafka_bootstrap]
    topic = topic_factory(partitions=2)
    client = SchemaRegistryClient.new_client({"url": f"mock://{uuid.uuid4().hex}"})
    readings = [{"sensor": f"s{i % 3}", "v": i} for i in range(20)]

    flow = Dataflow("write")
    docs = op.input("docs", flow, TestingSource([KafkaSinkMessage(r["sensor"], r) for r in readings]))
    ser = kop.serialize(
        "ser",
        docs,
        key_serializer=StringSerializer(),
        val_serializer=AvroSerializer(client, AVRO_VALUE),
        topic=topic,
    )
    kop.output("out", ser.oks, brokers=brokers, topic=topic)
    run_main(flow)
    assert len(kafka_read_to_end(topic)) == len(readings)

    flow = Dataflow("read")
    kinp = kop.input("in", flow, brokers=brokers, topics=[topic], tail=False)
    de = kop.deserialize(
        "de", kinp.oks, key_deserializer=StringDeserializer(), val_deserializer=AvroDeserializer(client)
    )
    got: list[Any] = []
    errs: list[Any] = []
    op.output("got", de.oks, TestingSink(got))
    op.output("errs", op.merge("all_errs", kinp.errs, de.errs), TestingSink(errs))
    run_main(flow)
    assert errs == []
    assert sorted((m.key, m.value["v"]) for m in got) == sorted((r["sensor"], r["v"]) for r in readings)
    assert all(m.value["sensor"] == m.key for m in got)
