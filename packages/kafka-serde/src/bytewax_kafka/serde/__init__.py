"""Serializers and deserializers for Bytewax Kafka flows.

Everything here is a confluent-kafka `Serializer` or `Deserializer`: a
callable `(obj, ctx=None)` usable with confluent's `SerializingProducer` and
`DeserializingConsumer` as well as with bytewax-kafka's operators.

Conventions shared by every serde of this package:

- None in, None out: a None value (Kafka tombstone) or None key (keyless
  message) is passed through unchanged, never encoded or decoded.
- Bad data raises `SerdeError`, a subclass of confluent-kafka's
  `SerializationError`, with a message saying what failed; the underlying
  exception is chained.

Contents:

- `SchemaSerializer`, `SchemaDeserializer`: generic bases for your own serde.
- `PlainAvroSerializer`, `PlainAvroDeserializer`: raw Avro without
  schema-registry framing (fastavro).
- `JsonSerializer`, `JsonDeserializer`: JSON bytes (orjson).
- `GuardedSerializer`, `GuardedDeserializer`: give confluent's
  schema-registry serde (Avro, JSON Schema, Protobuf) the same conventions.
- `registry_client`, `resolve_references`: schema-registry helpers.
"""

from bytewax_kafka.serde.avro_schema import AvroSchema, parse_avro_schema
from bytewax_kafka.serde.base import SchemaDeserializer, SchemaSerializer
from bytewax_kafka.serde.errors import SerdeError
from bytewax_kafka.serde.guard import GuardedDeserializer, GuardedSerializer
from bytewax_kafka.serde.json import JsonDeserializer, JsonSerializer
from bytewax_kafka.serde.plain_avro import PlainAvroDeserializer, PlainAvroSerializer
from bytewax_kafka.serde.registry import registry_client, resolve_references

__version__ = "0.1.0"

__all__ = [
    "AvroSchema",
    "GuardedDeserializer",
    "GuardedSerializer",
    "JsonDeserializer",
    "JsonSerializer",
    "PlainAvroDeserializer",
    "PlainAvroSerializer",
    "SchemaDeserializer",
    "SchemaSerializer",
    "SerdeError",
    "__version__",
    "parse_avro_schema",
    "registry_client",
    "resolve_references",
]
