"""JsonSerializer / JsonDeserializer on orjson."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import orjson
import pytest
from confluent_kafka.serialization import MessageField, SerializationContext

from bytewax_kafka.serde import JsonDeserializer, JsonSerializer, SerdeError

CTX = SerializationContext("events", MessageField.VALUE)


@pytest.mark.parametrize(
    "value",
    [
        {"sensor": "a", "values": [1, 2.5, None, True], "nested": {"é": "ü"}},
        [],
        "text",
        0,
        -(2**63),
        1.25,
        False,
    ],
)
def test_round_trip(value: Any) -> None:
    data = JsonSerializer()(value, CTX)
    assert isinstance(data, bytes)
    assert JsonDeserializer()(data, CTX) == value


def test_none_is_passed_through_not_encoded_as_null() -> None:
    assert JsonSerializer()(None, CTX) is None
    assert JsonDeserializer()(None, CTX) is None
    # The JSON text null still decodes (to None).
    assert JsonDeserializer()(b"null") is None


def test_output_is_compact_utf8() -> None:
    assert JsonSerializer()({"a": "é"}) == '{"a":"é"}'.encode()


def test_native_types_options_and_default() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    when = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert JsonSerializer()({"p": Point(1, 2), "t": when}) == (
        b'{"p":{"x":1,"y":2},"t":"2024-01-02T03:04:05+00:00"}'
    )
    assert (
        JsonSerializer(option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)({2: "b", 1: "a"})
        == b'{"1":"a","2":"b"}'
    )
    assert JsonSerializer(default=sorted)({"s": {3, 1, 2}}) == b'{"s":[1,2,3]}'


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"s": {1, 2}}, "set"),
        ({1: "a"}, "Dict key must be str"),
        (2**64, "Integer exceeds 64-bit range"),
    ],
)
def test_unencodable_values_raise_serde_error(value: Any, match: str) -> None:
    with pytest.raises(SerdeError, match=match) as info:
        JsonSerializer()(value, CTX)
    assert isinstance(info.value.__cause__, orjson.JSONEncodeError)


def test_circular_reference() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(SerdeError, match="cannot encode list as JSON"):
        JsonSerializer()(loop)


@pytest.mark.parametrize(
    ("data", "position", "words"),
    [
        (b'{"a": }', 6, "unexpected character"),
        (b"[1, 2", 5, "unexpected end of data"),
        (b"", 0, "empty document"),
        (b'{"a": 1} x', 9, "unexpected content after document"),
        (b'"\xff"', 0, "not valid UTF-8"),
        (b'{\n  "a": tru\n}', 9, "line 2"),
    ],
)
def test_bad_json_raises_serde_error_with_position(data: bytes, position: int, words: str) -> None:
    with pytest.raises(SerdeError) as info:
        JsonDeserializer()(data, CTX)
    assert info.value.position == position
    assert words in str(info.value)
    assert str(info.value).startswith("invalid JSON at line ")


def test_accepts_bytearray_memoryview_and_str() -> None:
    de = JsonDeserializer()
    assert de(bytearray(b"[1]")) == [1]  # type: ignore[arg-type]
    assert de(memoryview(b"[2]")) == [2]  # type: ignore[arg-type]
    assert de('{"a": "é"}') == {"a": "é"}  # type: ignore[arg-type]
