"""Hot-path micro-benchmarks: each serializer and deserializer on one benchmark record.

Run (with the message benchmarks beside this file):
``uv run pytest benchmarks --benchmark-only --benchmark-json=.benchmarks/micro.json``;
``--benchmark-autosave`` keeps each run under ``.benchmarks/`` named by commit, and
``uv run pytest-benchmark compare`` lines runs up.

The record is what ``kafka-bench``'s serde scenario sends: ``{"t": <ns>, "seq": <n>,
"pad": "xxx..."}``, about 100 bytes encoded. The registry serde uses
confluent-kafka's in-memory mock registry, so no HTTP round trip is timed (a real
registry is asked once per schema and cached the same way).
"""

from __future__ import annotations

import json

import pytest
from bytewax.connectors.kafka import serde as reference
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bytewax_kafka.bench.payload import AVRO_SCHEMA
from bytewax_kafka.serde import (
    GuardedDeserializer,
    GuardedSerializer,
    JsonDeserializer,
    JsonSerializer,
    PlainAvroDeserializer,
    PlainAvroSerializer,
    registry_client,
)

RECORD = {"t": 1_795_000_000_123_456_789, "seq": 123_456, "pad": "x" * 70}
CTX = SerializationContext("bench", MessageField.VALUE)
SCHEMA_TEXT = json.dumps(AVRO_SCHEMA)


@pytest.mark.benchmark(group="json-serialize")
def test_json_serialize(benchmark):
    ser = JsonSerializer()
    assert benchmark(ser, RECORD, CTX)


@pytest.mark.benchmark(group="json-deserialize")
def test_json_deserialize(benchmark):
    data = JsonSerializer()(RECORD)
    de = JsonDeserializer()
    assert benchmark(de, data, CTX) == RECORD


@pytest.mark.benchmark(group="avro-serialize")
def test_plain_avro_serialize(benchmark):
    ser = PlainAvroSerializer(AVRO_SCHEMA)
    assert benchmark(ser, RECORD, CTX)


@pytest.mark.benchmark(group="avro-serialize")
def test_plain_avro_serialize_bytewax_reference(benchmark):
    ser = reference.PlainAvroSerializer(SCHEMA_TEXT)
    assert benchmark(ser, RECORD, CTX)


@pytest.mark.benchmark(group="avro-deserialize")
def test_plain_avro_deserialize(benchmark):
    data = PlainAvroSerializer(AVRO_SCHEMA)(RECORD)
    de = PlainAvroDeserializer(AVRO_SCHEMA)
    assert benchmark(de, data, CTX) == RECORD


@pytest.mark.benchmark(group="avro-deserialize")
def test_plain_avro_deserialize_bytewax_reference(benchmark):
    data = PlainAvroSerializer(AVRO_SCHEMA)(RECORD)
    de = reference.PlainAvroDeserializer(SCHEMA_TEXT)
    assert benchmark(de, data, CTX) == RECORD


@pytest.fixture
def registry():
    client = registry_client("mock://bench-serde")
    client.register_schema("bench-value", Schema(SCHEMA_TEXT, "AVRO"))
    return client


@pytest.mark.benchmark(group="registry-avro-serialize")
def test_registry_avro_serialize(benchmark, registry):
    ser = GuardedSerializer(AvroSerializer(registry, SCHEMA_TEXT))
    assert benchmark(ser, RECORD, CTX)[:1] == b"\x00"


@pytest.mark.benchmark(group="registry-avro-serialize")
def test_registry_avro_serialize_unguarded(benchmark, registry):
    ser = AvroSerializer(registry, SCHEMA_TEXT)
    assert benchmark(ser, RECORD, CTX)[:1] == b"\x00"


@pytest.mark.benchmark(group="registry-avro-deserialize")
def test_registry_avro_deserialize(benchmark, registry):
    data = AvroSerializer(registry, SCHEMA_TEXT)(RECORD, CTX)
    de = GuardedDeserializer(AvroDeserializer(registry))
    assert benchmark(de, data, CTX) == RECORD


@pytest.mark.benchmark(group="registry-avro-deserialize")
def test_registry_avro_deserialize_unguarded(benchmark, registry):
    data = AvroSerializer(registry, SCHEMA_TEXT)(RECORD, CTX)
    de = AvroDeserializer(registry)
    assert benchmark(de, data, CTX) == RECORD
