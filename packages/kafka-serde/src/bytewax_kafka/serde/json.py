"""JSON as UTF-8 bytes, on orjson, with no schema and no registry framing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from bytewax_kafka.serde.base import SchemaDeserializer, SchemaSerializer
from bytewax_kafka.serde.errors import SerdeError

__all__ = ["JsonDeserializer", "JsonSerializer"]


class JsonSerializer(SchemaSerializer[Any, bytes]):
    """Encode Python objects as compact UTF-8 JSON bytes with orjson.

    Dicts, lists, str, int, float, bool, dataclasses, datetimes, UUIDs, enums
    and numpy arrays are encoded natively by orjson; anything else goes
    through `default`. None is passed through as None (a Kafka tombstone or a
    missing key), not encoded as `null`.

    Args:
        default: Called with each object orjson cannot encode; returns an
            encodable replacement or raises `TypeError`.
        option: orjson option flags, e.g. `orjson.OPT_SORT_KEYS |
            orjson.OPT_NON_STR_KEYS`.

    Example:
        >>> JsonSerializer()({"sensor": "a", "v": [1, 2]})
        b'{"sensor":"a","v":[1,2]}'
        >>> JsonSerializer(default=sorted)({"s": {3, 1}})
        b'{"s":[1,3]}'
    """

    def __init__(self, *, default: Callable[[Any], Any] | None = None, option: int | None = None) -> None:
        self._default = default
        self._option = option

    def ser(self, obj: Any) -> bytes:
        """Encode one object.

        Args:
            obj: The object to encode.

        Returns:
            UTF-8 JSON.

        Raises:
            SerdeError: orjson cannot encode `obj` (an unsupported type, a
                non-str dict key without `OPT_NON_STR_KEYS`, an integer beyond
                64 bits, a circular reference, ...).
        """
        try:
            return orjson.dumps(obj, default=self._default, option=self._option)
        except orjson.JSONEncodeError as exc:
            msg = f"cannot encode {type(obj).__name__} as JSON: {exc}"
            raise SerdeError(msg) from exc


class JsonDeserializer(SchemaDeserializer[bytes, Any]):
    """Decode UTF-8 JSON bytes into Python objects with orjson.

    None (a tombstone or a missing key) is passed through as None. The JSON
    text `null` decodes to None as well; check the raw message if the
    difference matters.

    Example:
        >>> de = JsonDeserializer()
        >>> de(b'{"sensor": "a", "v": [1, 2]}')
        {'sensor': 'a', 'v': [1, 2]}
        >>> de(b'{"sensor": }')
        Traceback (most recent call last):
        ...
        bytewax_kafka.serde.errors.SerdeError: invalid JSON at line 1, column 12 (char 11): ...
    """

    def de(self, obj: bytes) -> Any:
        """Decode one JSON document.

        Args:
            obj: UTF-8 JSON (`bytes`, `bytearray`, `memoryview` or `str`).

        Returns:
            The decoded value.

        Raises:
            SerdeError: The input is not valid UTF-8 or not one valid JSON
                document; `position` is the character offset orjson reports.
        """
        try:
            return orjson.loads(obj)
        except orjson.JSONDecodeError as exc:
            msg = f"invalid JSON at line {exc.lineno}, column {exc.colno} (char {exc.pos}): "
            raise SerdeError(msg + exc.msg, position=exc.pos) from exc
