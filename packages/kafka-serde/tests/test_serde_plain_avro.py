"""PlainAvroSerializer / PlainAvroDeserializer: raw Avro with fastavro."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from bytewax.connectors.kafka import serde as bytewax_serde
from confluent_kafka.schema_registry import Schema
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema, schemaless_writer

from bytewax_kafka.serde import (
    PlainAvroDeserializer,
    PlainAvroSerializer,
    SerdeError,
    parse_avro_schema,
)

READING: dict[str, Any] = {
    "type": "record",
    "name": "Reading",
    "namespace": "sensors",
    "fields": [
        {"name": "sensor", "type": "string"},
        {"name": "value", "type": "double"},
        {"name": "count", "type": "long"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "level", "type": {"type": "enum", "name": "Level", "symbols": ["LOW", "HIGH"]}},
        {"name": "raw", "type": "bytes"},
    ],
}
GOOD = {
    "sensor": "s-1",
    "value": 21.5,
    "count": 2**40,
    "tags": ["a", "é"],
    "note": None,
    "level": "HIGH",
    "raw": b"\x00\xff",
}

ADDRESS = {
    "type": "record",
    "name": "Address",
    "namespace": "people",
    "fields": [{"name": "city", "type": "string"}, {"name": "zip", "type": "string"}],
}
PERSON = {
    "type": "record",
    "name": "Person",
    "namespace": "people",
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "home", "type": "people.Address"},
        {"name": "work", "type": ["null", "people.Address"], "default": None},
    ],
}
ALICE = {
    "name": "Alice",
    "home": {"city": "Paris", "zip": "75001"},
    "work": {"city": "Lyon", "zip": "69001"},
}

CTX = SerializationContext("readings", MessageField.VALUE)


@pytest.mark.parametrize("as_type", ["str", "dict", "schema"])
def test_round_trip_with_every_schema_form(as_type: str) -> None:
    text = json.dumps(READING)
    schema: Any = {"str": text, "dict": READING, "schema": Schema(text, "AVRO")}[as_type]
    ser = PlainAvroSerializer(schema)
    de = PlainAvroDeserializer(schema)
    data = ser(GOOD, CTX)
    assert isinstance(data, bytes)
    assert de(data, CTX) == GOOD


def test_positional_and_keyword_schema_like_bytewax() -> None:
    text = json.dumps(READING)
    assert PlainAvroDeserializer(schema=text)(PlainAvroSerializer(text)(GOOD)) == GOOD


def test_bytes_match_bytewax_and_fastavro() -> None:
    text = json.dumps(READING)
    ours = PlainAvroSerializer(text)(GOOD)
    theirs = bytewax_serde.PlainAvroSerializer(text)(GOOD)
    raw = io.BytesIO()
    schemaless_writer(raw, parse_schema(READING), GOOD)
    assert ours == theirs == raw.getvalue()
    assert bytewax_serde.PlainAvroDeserializer(text)(ours) == GOOD


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ('"string"', "héllo"),
        ('"int"', -7),
        ('"boolean"', True),
        ('"null"', None),
        (["null", "long"], 5),
        ({"type": "map", "values": "int"}, {"a": 1}),
        ({"type": "fixed", "name": "Four", "size": 4}, b"abcd"),
    ],
)
def test_primitive_and_container_round_trips(schema: Any, value: Any) -> None:
    ser = PlainAvroSerializer(schema)
    de = PlainAvroDeserializer(schema)
    if value is None:
        # None never reaches Avro: it is a tombstone / missing key.
        assert ser(None) is None
        assert de(None) is None
        assert de.de(ser.ser(None)) is None
    else:
        assert de(ser(value)) == value


def test_named_schema_from_references() -> None:
    ser = PlainAvroSerializer(PERSON, references=[ADDRESS])
    de = PlainAvroDeserializer(json.dumps(PERSON), references=[json.dumps(ADDRESS)])
    assert de(ser(ALICE)) == ALICE


def test_named_schema_from_confluent_schema_objects() -> None:
    refs = [Schema(json.dumps(ADDRESS), "AVRO")]
    person = Schema(json.dumps(PERSON), "AVRO")
    assert (
        PlainAvroDeserializer(person, references=refs)(PlainAvroSerializer(person, references=refs)(ALICE))
        == ALICE
    )


def test_named_schemas_dict_like_bytewax_is_copied_not_mutated() -> None:
    named: dict[str, Any] = {}
    parse_schema(ADDRESS, named_schemas=named)
    before = dict(named)
    ser = PlainAvroSerializer(json.dumps(PERSON), named)
    de = PlainAvroDeserializer(json.dumps(PERSON), named_schemas=named)
    assert de(ser(ALICE)) == ALICE
    assert named == before


def test_references_can_chain() -> None:
    country = {"type": "enum", "name": "Country", "namespace": "geo", "symbols": ["FR", "DE"]}
    city = {
        "type": "record",
        "name": "City",
        "namespace": "geo",
        "fields": [{"name": "name", "type": "string"}, {"name": "country", "type": "geo.Country"}],
    }
    trip = {"type": "array", "items": "geo.City"}
    value = [{"name": "Paris", "country": "FR"}, {"name": "Berlin", "country": "DE"}]
    refs: list[Any] = [country, city]
    assert (
        PlainAvroDeserializer(trip, references=refs)(PlainAvroSerializer(trip, references=refs)(value))
        == value
    )


@pytest.mark.parametrize(
    ("top", "value"),
    [
        ('"geo.City"', {"name": "Paris", "country": "FR"}),
        (["null", "geo.City"], {"name": "Paris", "country": "FR"}),
        ({"type": "map", "values": "geo.Country"}, {"x": "DE"}),
        ('"geo.Country"', "FR"),
    ],
)
def test_non_record_top_level_using_referenced_types(top: Any, value: Any) -> None:
    refs: list[Any] = [
        {"type": "enum", "name": "Country", "namespace": "geo", "symbols": ["FR", "DE"]},
        {
            "type": "record",
            "name": "City",
            "namespace": "geo",
            "fields": [
                {"name": "name", "type": "string"},
                {"name": "country", "type": "geo.Country"},
            ],
        },
    ]
    data = PlainAvroSerializer(top, references=refs)(value)
    assert PlainAvroDeserializer(top, references=refs)(data) == value


def test_missing_reference_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match=r"unknown type 'people.Address'.*references"):
        PlainAvroSerializer(PERSON)


@pytest.mark.parametrize(
    ("schema", "match"),
    [
        ("{not json", "not valid JSON"),
        ("string", "must be quoted"),
        ({"type": "record", "name": "R", "fields": [{"name": "a"}]}, "invalid Avro schema"),
        ({"type": "nope"}, "invalid Avro schema"),
        (Schema('{"type": "object"}', "JSON"), "expected an Avro schema, got a JSON schema"),
        (None, "schema is None"),
    ],
)
def test_invalid_schemas_raise_value_error(schema: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PlainAvroDeserializer(schema)


def test_schema_of_wrong_python_type_is_type_error() -> None:
    with pytest.raises(TypeError, match="not int"):
        parse_avro_schema(42)  # type: ignore[arg-type]


def test_schema_is_parsed_once_at_construction() -> None:
    ser = PlainAvroSerializer(json.dumps(READING))
    assert isinstance(ser.schema, dict)
    assert ser.schema["name"] == "sensors.Reading"


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        ({**GOOD, "count": "many"}, "sensors.Reading.count", "expected long"),
        ({**GOOD, "value": None}, "sensors.Reading.value", "expected double"),
        ({**GOOD, "level": "MEDIUM"}, "sensors.Reading.level", "expected sensors.Level"),
        ({**GOOD, "count": 2**70}, "sensors.Reading.count", "expected long"),
        ({**GOOD, "note": 3}, "sensors.Reading.note", "expected null"),
    ],
)
def test_record_not_matching_schema_names_the_field(record: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(SerdeError) as info:
        PlainAvroSerializer(READING)(record, CTX)
    assert info.value.field == field
    assert field in str(info.value)
    assert words in str(info.value)
    assert "does not match Avro schema sensors.Reading" in str(info.value)
    assert info.value.__cause__ is not None


def test_missing_field_names_the_field() -> None:
    record = {k: v for k, v in GOOD.items() if k != "sensor"}
    with pytest.raises(SerdeError, match=r"sensors\.Reading\.sensor"):
        PlainAvroSerializer(READING)(record)


def test_not_a_record_at_all() -> None:
    with pytest.raises(SerdeError, match=r"<root> is 5 \(int\), expected sensors.Reading"):
        PlainAvroSerializer(READING)(5)


def test_strict_mode_rejects_extra_fields() -> None:
    record = {**GOOD, "extra": 1}
    assert PlainAvroDeserializer(READING)(PlainAvroSerializer(READING)(record)) == GOOD
    with pytest.raises(SerdeError, match="extra"):
        PlainAvroSerializer(READING, strict=True)(record)


def test_truncated_bytes_raise_serde_error() -> None:
    data = PlainAvroSerializer(READING)(GOOD)
    assert data is not None
    de = PlainAvroDeserializer(READING)
    for cut in range(len(data)):
        with pytest.raises(SerdeError, match="cannot decode"):
            de(data[:cut])


def test_empty_bytes_for_a_record() -> None:
    with pytest.raises(SerdeError, match="ended early"):
        PlainAvroDeserializer(READING)(b"")


def test_trailing_bytes_are_an_error() -> None:
    data = PlainAvroSerializer(READING)(GOOD)
    assert data is not None
    with pytest.raises(SerdeError, match="1 were left over") as info:
        PlainAvroDeserializer(READING)(data + b"\x00")
    assert info.value.position == len(data)


def test_confluent_framed_bytes_get_a_hint() -> None:
    data = PlainAvroSerializer(READING)(GOOD)
    assert data is not None
    framed = b"\x00\x00\x00\x00\x2a" + data
    with pytest.raises(SerdeError, match=r"schema id 42.*AvroDeserializer"):
        PlainAvroDeserializer(READING)(framed)


def test_bad_enum_index_and_bad_utf8() -> None:
    de = PlainAvroDeserializer({"type": "enum", "name": "E", "symbols": ["A"]})
    with pytest.raises(SerdeError, match="malformed data"):
        de(b"\x04")
    with pytest.raises(SerdeError, match="UTF-8"):
        PlainAvroDeserializer('"string"')(b"\x02\xff")


def test_str_input_is_accepted_like_bytewax() -> None:
    assert PlainAvroDeserializer('"string"')("\x06abc") == "abc"  # type: ignore[arg-type]


def test_reader_schema_evolution() -> None:
    v1 = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
    v2 = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "a", "type": "long"},
            {"name": "b", "type": "string", "default": "?"},
        ],
    }
    data = PlainAvroSerializer(v1)({"a": 1})
    assert PlainAvroDeserializer(v1, reader_schema=v2)(data) == {"a": 1, "b": "?"}
