"""SchemaSerializer / SchemaDeserializer: the contract every serde here follows."""

from __future__ import annotations

import pickle
from typing import Any, Dict  # noqa: UP035 - the guide's example spells Dict

import orjson
import pytest
from confluent_kafka import DeserializingConsumer, SerializingProducer, TopicPartition
from confluent_kafka.serialization import (
    Deserializer,
    MessageField,
    SerializationContext,
    SerializationError,
    Serializer,
)

from bytewax_kafka.serde import SchemaDeserializer, SchemaSerializer, SerdeError

# The guide's "Implementing custom ser/de classes" example, verbatim but for
# the import path (bytewax.connectors.kafka.serde -> bytewax_kafka.serde).


class KeyDeserializer(SchemaDeserializer[bytes, str]):
    def de(self, obj: bytes) -> str:
        return str(obj)


class JSONDeserializer(SchemaDeserializer[bytes, Dict]):  # type: ignore[type-arg]  # noqa: UP006
    def de(self, obj: bytes) -> Dict[Any, Any]:  # noqa: UP006
        return orjson.loads(obj)  # type: ignore[no-any-return]


class Upper(SchemaSerializer[str, bytes]):
    def ser(self, obj: str) -> bytes:
        return obj.upper().encode()


class Boom(SchemaDeserializer[bytes, int]):
    def de(self, obj: bytes) -> int:
        raise KeyError("no such thing")


class Refuses(SchemaSerializer[str, bytes]):
    def ser(self, obj: str) -> bytes:
        raise SerializationError("already a serialization error")


VALUE_CTX = SerializationContext("sensors", MessageField.VALUE)
KEY_CTX = SerializationContext("sensors", MessageField.KEY, [("h", b"1")])


def test_guide_classes_work_as_written() -> None:
    val_de = JSONDeserializer()
    key_de = KeyDeserializer()
    assert val_de(b'{"temp": 21.5, "ok": true}', VALUE_CTX) == {"temp": 21.5, "ok": True}
    assert key_de(b"sensor-1", KEY_CTX) == "b'sensor-1'"
    assert val_de.de(b"[1]") == [1]  # type: ignore[comparison-overlap]


def test_instances_are_confluent_serde() -> None:
    assert isinstance(JSONDeserializer(), Deserializer)
    assert isinstance(Upper(), Serializer)
    assert callable(Upper())


def test_ctx_is_optional_and_positional() -> None:
    assert Upper()("abc") == b"ABC"
    assert Upper()("abc", VALUE_CTX) == b"ABC"
    assert JSONDeserializer()(b"{}") == {}


@pytest.mark.parametrize("ctx", [None, VALUE_CTX, KEY_CTX])
def test_none_passes_through_without_calling_ser_or_de(ctx: SerializationContext | None) -> None:
    # A None value is a tombstone, a None key a keyless message: both stay None.
    assert KeyDeserializer()(None, ctx) is None
    assert Boom()(None, ctx) is None
    assert Upper()(None, ctx) is None


def test_abstract_methods_are_required() -> None:
    class Incomplete(SchemaDeserializer[bytes, str]):
        pass

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]


def test_other_exceptions_become_serde_error_naming_class_topic_field() -> None:
    with pytest.raises(SerdeError) as info:
        Boom()(b"x", VALUE_CTX)
    text = str(info.value)
    assert "Boom failed to deserialize" in text
    assert "value of topic 'sensors'" in text
    assert "no such thing" in text
    assert isinstance(info.value.__cause__, KeyError)
    assert isinstance(info.value, SerializationError)


def test_guide_json_deserializer_bad_input_is_serde_error() -> None:
    with pytest.raises(SerdeError, match=r"JSONDeserializer failed to deserialize \(key"):
        JSONDeserializer()(b"{nope", KEY_CTX)


def test_serialization_errors_propagate_unchanged() -> None:
    with pytest.raises(SerializationError, match="already a serialization error") as info:
        Refuses()("x")
    assert not isinstance(info.value, SerdeError)


def test_serde_error_pickles_with_its_attributes() -> None:
    err = SerdeError("bad", field="a.b", position=3)
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, SerdeError)
    assert (str(back), back.field, back.position) == ("bad", "a.b", 3)


def test_works_inside_confluent_producer_and_consumer() -> None:
    """SerializingProducer/DeserializingConsumer accept our serde (librdkafka mock cluster)."""
    topic = "serde-base-roundtrip"
    producer = SerializingProducer(
        {
            "bootstrap.servers": "127.0.0.1:1",
            "test.mock.num.brokers": 1,
            "key.serializer": Upper(),
            "value.serializer": Upper(),
        }
    )
    brokers = ",".join(f"{b.host}:{b.port}" for b in producer.list_topics(timeout=10).brokers.values())
    producer.produce(topic, key="k", value="hello")
    producer.produce(topic, key=None, value=None)
    assert producer.flush(10) == 0
    consumer = DeserializingConsumer(
        {
            "bootstrap.servers": brokers,
            "group.id": "serde-base",
            "auto.offset.reset": "earliest",
            "key.deserializer": KeyDeserializer(),
            "value.deserializer": KeyDeserializer(),
        }
    )
    try:
        parts = producer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        seen: list[tuple[Any, Any]] = []
        for _ in range(100):
            msg = consumer.poll(0.1)
            if msg is not None and msg.error() is None:
                seen.append((msg.key(), msg.value()))
            if len(seen) == 2:
                break
        assert sorted(seen, key=repr) == sorted([("b'K'", "b'HELLO'"), (None, None)], key=repr)
    finally:
        consumer.close()
