"""Schema-registry serde (confluent's Avro, JSON Schema, Protobuf) with our conventions.

Every test runs twice: against confluent-kafka's in-memory mock registry and
against a real Confluent-compatible registry (Apicurio Registry on loopback,
see conftest.py), which is skipped where Java or Maven is missing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka.schema_registry import (
    Schema,
    SchemaReference,
    SchemaRegistryClient,
    SchemaRegistryError,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import (
    Deserializer,
    MessageField,
    SerializationContext,
    Serializer,
)

from bytewax_kafka.serde import (
    GuardedDeserializer,
    GuardedSerializer,
    PlainAvroDeserializer,
    PlainAvroSerializer,
    SerdeError,
    registry_client,
    resolve_references,
)
from bytewax_kafka.testing.ports import free_port

READING = {
    "type": "record",
    "name": "Reading",
    "namespace": "sensors",
    "fields": [
        {"name": "sensor", "type": "string"},
        {"name": "value", "type": "double"},
    ],
}
SENSOR_KEY = {
    "type": "record",
    "name": "SensorKey",
    "namespace": "sensors",
    "fields": [{"name": "id", "type": "string"}],
}
READING_JSON_SCHEMA = json.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Reading",
        "type": "object",
        "properties": {"sensor": {"type": "string"}, "value": {"type": "number"}},
        "required": ["sensor", "value"],
    }
)


@pytest.fixture(params=["mock", "real"])
def registry(request: pytest.FixtureRequest) -> SchemaRegistryClient:
    """The mock registry, then the real one."""
    name = "mock_registry" if request.param == "mock" else "real_registry"
    client: SchemaRegistryClient = request.getfixturevalue(name)
    return client


def contexts(topic: str) -> tuple[SerializationContext, SerializationContext]:
    return (
        SerializationContext(topic, MessageField.KEY),
        SerializationContext(topic, MessageField.VALUE),
    )


# Avro --------------------------------------------------------------------------


def test_avro_round_trip(registry: SchemaRegistryClient, unique: str) -> None:
    topic = f"readings-{unique}"
    key_ctx, val_ctx = contexts(topic)
    key_ser = GuardedSerializer(AvroSerializer(registry, json.dumps(SENSOR_KEY)))
    val_ser = GuardedSerializer(AvroSerializer(registry, json.dumps(READING)))
    de = GuardedDeserializer(AvroDeserializer(registry))
    assert isinstance(val_ser, Serializer)
    assert isinstance(de, Deserializer)

    key = key_ser({"id": "s-1"}, key_ctx)
    value = val_ser({"sensor": "s-1", "value": 1.5}, val_ctx)
    assert key is not None
    assert key[0] == 0  # magic byte of the wire format
    assert value is not None
    assert value[0] == 0
    assert de(key, key_ctx) == {"id": "s-1"}
    assert de(value, val_ctx) == {"sensor": "s-1", "value": 1.5}
    # Default subject naming: <topic>-key / <topic>-value.
    assert {f"{topic}-key", f"{topic}-value"} <= set(registry.get_subjects())
    # Tombstones and keyless messages stay None.
    assert val_ser(None, val_ctx) is None
    assert de(None, key_ctx) is None


def test_avro_value_not_matching_schema_is_serde_error(registry: SchemaRegistryClient, unique: str) -> None:
    _, val_ctx = contexts(f"readings-{unique}")
    ser = GuardedSerializer(AvroSerializer(registry, json.dumps(READING)))
    with pytest.raises(SerdeError, match=r"AvroSerializer failed to serialize \(value of topic"):
        ser({"sensor": "s-1", "value": "high"}, val_ctx)


def test_avro_bad_bytes_are_serde_errors(registry: SchemaRegistryClient, unique: str) -> None:
    _, val_ctx = contexts(f"readings-{unique}")
    data = AvroSerializer(registry, json.dumps(READING))({"sensor": "s", "value": 2.0}, val_ctx)
    assert data is not None
    de = GuardedDeserializer(AvroDeserializer(registry))
    for bad in [b"", b"\x01\x00\x00\x00\x01\x02", data[:-3], b"\x00\x7f\xff\xff\x00\x02a"]:
        with pytest.raises(SerdeError, match="AvroDeserializer failed to deserialize"):
            de(bad, val_ctx)


def test_unguarded_confluent_deserializer_leaks_other_exceptions(
    mock_registry: SchemaRegistryClient,
) -> None:
    """Why GuardedDeserializer exists: confluent's raises EOFError on truncation."""
    _, val_ctx = contexts("readings")
    data = AvroSerializer(mock_registry, json.dumps(READING))({"sensor": "s", "value": 2.0}, val_ctx)
    assert data is not None
    with pytest.raises(EOFError):
        AvroDeserializer(mock_registry)(data[:-3], val_ctx)


def test_avro_with_schema_references(registry: SchemaRegistryClient, unique: str) -> None:
    address = {
        "type": "record",
        "name": "Address",
        "namespace": f"people{unique}",
        "fields": [{"name": "city", "type": "string"}],
    }
    person = {
        "type": "record",
        "name": "Person",
        "namespace": f"people{unique}",
        "fields": [
            {"name": "name", "type": "string"},
            {"name": "home", "type": f"people{unique}.Address"},
        ],
    }
    address_subject = f"people{unique}.Address"
    registry.register_schema(address_subject, Schema(json.dumps(address), "AVRO"))
    version = registry.get_latest_version(address_subject).version
    person_schema = Schema(
        json.dumps(person),
        "AVRO",
        [SchemaReference(f"people{unique}.Address", address_subject, version)],
    )
    registry.register_schema(f"people-{unique}-value", person_schema)

    fetched = registry.get_latest_version(f"people-{unique}-value").schema
    refs = resolve_references(registry, fetched)
    assert [json.loads(r.schema_str or "")["name"] for r in refs] == ["Address"]
    alice = {"name": "Alice", "home": {"city": "Paris"}}
    data = PlainAvroSerializer(fetched, references=refs)(alice)
    assert PlainAvroDeserializer(fetched, references=refs)(data) == alice


def test_guide_get_latest_version_flow(registry: SchemaRegistryClient, unique: str) -> None:
    """The guide: fetch schemas from the registry, decode plain (unframed) Avro."""
    key_subject, val_subject = f"sensor_key{unique}", f"sensor_value{unique}"
    registry.register_schema(key_subject, Schema(json.dumps(SENSOR_KEY), "AVRO"))
    registry.register_schema(val_subject, Schema(json.dumps(READING), "AVRO"))
    # Produced by a non-confluent library: plain Avro, no magic byte / id.
    key_bytes = PlainAvroSerializer(SENSOR_KEY)({"id": "s-9"})
    val_bytes = PlainAvroSerializer(READING)({"sensor": "s-9", "value": -3.0})

    # As in the guide:
    key_schema = registry.get_latest_version(key_subject).schema
    key_de = PlainAvroDeserializer(schema=key_schema.schema_str)
    val_schema = registry.get_latest_version(val_subject).schema
    val_de = PlainAvroDeserializer(schema=val_schema.schema_str)

    key_ctx, val_ctx = contexts("sensors")
    assert key_de(key_bytes, key_ctx) == {"id": "s-9"}
    assert val_de(val_bytes, val_ctx) == {"sensor": "s-9", "value": -3.0}
    # The Schema object itself works too.
    assert PlainAvroDeserializer(val_schema)(val_bytes) == {"sensor": "s-9", "value": -3.0}


# JSON Schema -------------------------------------------------------------------


def test_json_schema_round_trip(registry: SchemaRegistryClient, unique: str) -> None:
    json_schema = pytest.importorskip(
        "confluent_kafka.schema_registry.json_schema",
        reason="needs bytewax-kafka-serde[json-schema] (uv sync --all-packages)",
    )
    _, val_ctx = contexts(f"json-readings-{unique}")
    ser = GuardedSerializer(json_schema.JSONSerializer(READING_JSON_SCHEMA, registry))
    de = GuardedDeserializer(
        json_schema.JSONDeserializer(READING_JSON_SCHEMA, schema_registry_client=registry)
    )
    data = ser({"sensor": "s-1", "value": 3}, val_ctx)
    assert data is not None
    assert data[0] == 0
    assert de(data, val_ctx) == {"sensor": "s-1", "value": 3}
    assert ser(None, val_ctx) is None
    assert de(None, val_ctx) is None
    with pytest.raises(SerdeError, match="'value' is a required property"):
        ser({"sensor": "s-1"}, val_ctx)
    for bad in [b"", b"\x00\x00\x00", data[:-4], data + b"}"]:
        with pytest.raises(SerdeError, match="JSONDeserializer failed to deserialize"):
            de(bad, val_ctx)


# Protobuf ----------------------------------------------------------------------


def reading_message_class() -> Any:
    """A protobuf message class built at run time (no protoc needed)."""
    descriptor_pb2 = pytest.importorskip(
        "google.protobuf.descriptor_pb2",
        reason="needs bytewax-kafka-serde[protobuf] (uv sync --all-packages)",
    )
    from google.protobuf import (  # type: ignore[import-untyped]
        descriptor_pool,
        message_factory,
    )

    pool = descriptor_pool.Default()
    name = "bytewax_kafka_serde_tests.Reading"
    try:
        descriptor = pool.FindMessageTypeByName(name)
    except KeyError:
        field = descriptor_pb2.FieldDescriptorProto
        proto = descriptor_pb2.FileDescriptorProto(
            name="bytewax_kafka_serde_tests/reading.proto",
            package="bytewax_kafka_serde_tests",
            syntax="proto3",
        )
        message = proto.message_type.add(name="Reading")
        message.field.add(name="sensor", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
        message.field.add(name="value", number=2, type=field.TYPE_DOUBLE, label=field.LABEL_OPTIONAL)
        message.field.add(name="tags", number=3, type=field.TYPE_STRING, label=field.LABEL_REPEATED)
        pool.Add(proto)
        descriptor = pool.FindMessageTypeByName(name)
    return message_factory.GetMessageClass(descriptor)


def test_protobuf_round_trip(registry: SchemaRegistryClient, unique: str) -> None:
    reading_cls = reading_message_class()
    from confluent_kafka.schema_registry.protobuf import (
        ProtobufDeserializer,
        ProtobufSerializer,
    )

    _, val_ctx = contexts(f"proto-readings-{unique}")
    ser = GuardedSerializer(ProtobufSerializer(reading_cls, registry, {"use.deprecated.format": False}))
    de = GuardedDeserializer(ProtobufDeserializer(reading_cls, {"use.deprecated.format": False}))
    reading = reading_cls(sensor="s-1", value=1.5, tags=["a", "b"])
    data = ser(reading, val_ctx)
    assert data is not None
    assert data[0] == 0
    assert de(data, val_ctx) == reading
    assert ser(None, val_ctx) is None
    assert de(None, val_ctx) is None
    with pytest.raises(SerdeError, match="ProtobufSerializer failed to serialize"):
        ser({"sensor": "not a message"}, val_ctx)
    for bad in [b"", b"\x00\x00\x00\x00\x01", data[:-2], b"\x00\x00\x00\x00\x01\x05"]:
        with pytest.raises(SerdeError, match="ProtobufDeserializer failed to deserialize"):
            de(bad, val_ctx)


# What is not a data error ------------------------------------------------------


def test_unknown_schema_id_is_a_data_error(registry: SchemaRegistryClient) -> None:
    _, val_ctx = contexts("readings")
    de = GuardedDeserializer(AvroDeserializer(registry))
    with pytest.raises(SerdeError) as info:
        de(b"\x00\x7f\x00\x00\x01\x02a", val_ctx)
    assert isinstance(info.value.__cause__, SchemaRegistryError)


def test_unreachable_registry_is_not_turned_into_a_data_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    _, val_ctx = contexts("readings")
    with registry_client({"url": url, "timeout": 2, "max.retries": 0}) as client:
        de = GuardedDeserializer(AvroDeserializer(client))
        with pytest.raises(Exception) as info:  # noqa: PT011 - any client error but SerdeError
            de(b"\x00\x00\x00\x00\x01\x02a", val_ctx)
    assert not isinstance(info.value, SerdeError)


def test_registry_refusal_while_serializing_propagates(registry: SchemaRegistryClient) -> None:
    """A subject that does not exist is a configuration problem, not a bad value."""
    _, val_ctx = contexts("never-registered-topic")
    ser = GuardedSerializer(
        AvroSerializer(
            registry,
            json.dumps(READING),
            conf={"auto.register.schemas": False, "use.latest.version": True},
        )
    )
    with pytest.raises(SchemaRegistryError):
        ser({"sensor": "s", "value": 1.0}, val_ctx)


def test_registry_client_accepts_url_or_config() -> None:
    assert type(registry_client("mock://one")).__name__ == "MockSchemaRegistryClient"
    assert type(registry_client({"url": "mock://two"})).__name__ == "MockSchemaRegistryClient"
    real = registry_client("http://127.0.0.1:8081")
    assert type(real) is SchemaRegistryClient
