"""Property-based tests: arbitrary input decodes or raises SerdeError, never anything else."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bytewax_kafka.serde import (
    GuardedDeserializer,
    JsonDeserializer,
    JsonSerializer,
    PlainAvroDeserializer,
    PlainAvroSerializer,
    SchemaDeserializer,
    SerdeError,
    registry_client,
)

SETTINGS = settings(
    max_examples=300,
    deadline=2000,  # milliseconds per example: a hang fails instead of stalling
    suppress_health_check=[HealthCheck.too_slow],
)
CTX = SerializationContext("fuzz", MessageField.VALUE)

RECORD = {
    "type": "record",
    "name": "Everything",
    "namespace": "fuzz",
    "fields": [
        {"name": "s", "type": "string"},
        {"name": "i", "type": "int"},
        {"name": "l", "type": "long"},
        {"name": "d", "type": "double"},
        {"name": "f", "type": "float"},
        {"name": "b", "type": "boolean"},
        {"name": "raw", "type": "bytes"},
        {"name": "fix", "type": {"type": "fixed", "name": "Four", "size": 4}},
        {"name": "e", "type": {"type": "enum", "name": "Color", "symbols": ["R", "G", "B"]}},
        {"name": "arr", "type": {"type": "array", "items": "long"}},
        {"name": "m", "type": {"type": "map", "values": "string"}},
        {"name": "u", "type": ["null", "string", "long"]},
        {
            "name": "child",
            "type": {
                "type": "record",
                "name": "Child",
                "fields": [{"name": "tags", "type": {"type": "array", "items": "string"}}],
            },
        },
    ],
}
AVRO_SCHEMAS: list[Any] = [
    RECORD,
    '"string"',
    '"long"',
    '"double"',
    ["null", "string", "bytes"],
    {"type": "map", "values": {"type": "array", "items": "int"}},
]
AVRO_DESERIALIZERS = [PlainAvroDeserializer(schema) for schema in AVRO_SCHEMAS]

_REGISTRY = registry_client("mock://bytewax-kafka-serde-properties")
_REGISTRY_SER = AvroSerializer(_REGISTRY, json.dumps(RECORD))


class GuideJSONDeserializer(SchemaDeserializer[bytes, Any]):
    """The guide's orjson example: only `de`, no error handling of its own."""

    def de(self, obj: bytes) -> Any:
        return orjson.loads(obj)


def _registry_deserializers() -> list[Any]:
    found: list[Any] = [GuardedDeserializer(AvroDeserializer(_REGISTRY))]
    try:
        from confluent_kafka.schema_registry.json_schema import JSONDeserializer
    except ImportError:  # pragma: no cover - extra not installed
        pass
    else:
        found.append(
            GuardedDeserializer(JSONDeserializer('{"type": "object"}', schema_registry_client=_REGISTRY))
        )
    try:
        from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
        from google.protobuf import timestamp_pb2  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - extra not installed
        pass
    else:
        found.append(
            GuardedDeserializer(
                ProtobufDeserializer(timestamp_pb2.Timestamp, {"use.deprecated.format": False})
            )
        )
    return found


ALL_DESERIALIZERS: list[Any] = [
    *AVRO_DESERIALIZERS,
    JsonDeserializer(),
    GuideJSONDeserializer(),
    *_registry_deserializers(),
]
IDS = [type(d).__name__ + str(n) for n, d in enumerate(ALL_DESERIALIZERS)]


@pytest.mark.parametrize("deserializer", ALL_DESERIALIZERS, ids=IDS)
@SETTINGS
@given(data=st.binary(max_size=256))
def test_arbitrary_bytes_decode_or_raise_serde_error(deserializer: Any, data: bytes) -> None:
    try:
        deserializer(data, CTX)
    except SerdeError as err:
        message = str(err)
    else:
        message = "decoded"
    assert message


@pytest.mark.parametrize("deserializer", ALL_DESERIALIZERS, ids=IDS)
@SETTINGS
@given(data=st.binary(max_size=64))
def test_arbitrary_bytes_after_a_wire_format_header(deserializer: Any, data: bytes) -> None:
    # Magic byte 0 and a schema id the mock registry knows (1): get past the framing.
    with contextlib.suppress(SerdeError):
        deserializer(b"\x00\x00\x00\x00\x01" + data, CTX)


def _valid_record_bytes() -> bytes:
    value = _REGISTRY_SER(
        {
            "s": "x",
            "i": 1,
            "l": 2,
            "d": 0.5,
            "f": 0.25,
            "b": True,
            "raw": b"r",
            "fix": b"abcd",
            "e": "G",
            "arr": [1, 2],
            "m": {"k": "v"},
            "u": None,
            "child": {"tags": ["t"]},
        },
        CTX,
    )
    assert isinstance(value, bytes)
    return value


_VALID_FRAMED = _valid_record_bytes()


@SETTINGS
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_corrupted_valid_messages(position: int, flip: int) -> None:
    framed = _VALID_FRAMED
    plain = framed[5:]
    for deserializer, data in [
        (GuardedDeserializer(AvroDeserializer(_REGISTRY)), framed),
        (AVRO_DESERIALIZERS[0], plain),
    ]:
        index = position % len(data)
        corrupt = data[:index] + bytes([data[index] ^ flip]) + data[index + 1 :]
        for candidate in (corrupt, data[:index]):
            with contextlib.suppress(SerdeError):
                deserializer(candidate, CTX)


# Round trips -------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@SETTINGS
@given(value=json_values)
def test_json_round_trip(value: Any) -> None:
    data = JsonSerializer()(value)
    if value is None:
        assert data is None
        return
    assert data is not None
    assert JsonDeserializer()(data) == value


records = st.fixed_dictionaries(
    {
        "s": st.text(),
        "i": st.integers(min_value=-(2**31), max_value=2**31 - 1),
        "l": st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "d": st.floats(allow_nan=False),
        "f": st.floats(width=32, allow_nan=False),
        "b": st.booleans(),
        "raw": st.binary(),
        "fix": st.binary(min_size=4, max_size=4),
        "e": st.sampled_from(["R", "G", "B"]),
        "arr": st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1)),
        "m": st.dictionaries(st.text(), st.text(), max_size=4),
        "u": st.none() | st.text() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "child": st.fixed_dictionaries({"tags": st.lists(st.text(), max_size=3)}),
    }
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


@SETTINGS
@given(record=records)
def test_plain_avro_round_trip(record: dict[str, Any]) -> None:
    data = PlainAvroSerializer(RECORD)(record)
    assert data is not None
    back = PlainAvroDeserializer(RECORD)(data)
    assert isinstance(back, dict)
    assert back.keys() == record.keys()
    assert all(_same(back[k], record[k]) for k in record)


@SETTINGS
@given(
    record=st.dictionaries(
        st.sampled_from([f["name"] for f in RECORD["fields"]] + ["extra"]),  # type: ignore[index]
        st.none() | st.integers() | st.text() | st.binary() | st.floats() | st.lists(st.integers()),
    )
)
def test_arbitrary_dicts_encode_or_raise_serde_error(record: dict[str, Any]) -> None:
    try:
        PlainAvroSerializer(RECORD)(record)
    except SerdeError as err:
        message = str(err)
    else:
        message = "does not match Avro schema fuzz.Everything (encoded fine)"
    assert "does not match Avro schema fuzz.Everything" in message


odd_values = (
    st.sets(st.integers(), max_size=3)
    | st.frozensets(st.text(), max_size=3)
    | st.complex_numbers()
    | st.decimals()
    | st.integers(min_value=2**64)
    | st.dictionaries(st.integers() | st.none() | st.tuples(st.integers()), st.text(), max_size=3)
    | st.builds(object)
    | st.binary()
    | st.datetimes()
    | st.uuids()
    | st.floats()
)


@SETTINGS
@given(value=st.recursive(odd_values | json_values, lambda c: st.lists(c, max_size=3), max_leaves=6))
def test_arbitrary_objects_encode_or_raise_serde_error_as_json(value: Any) -> None:
    with contextlib.suppress(SerdeError):
        JsonSerializer()(value)
