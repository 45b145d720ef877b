"""Plain (unframed) Avro: the bytes are the Avro encoding and nothing else."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from bytewax_kafka.serde.avro_schema import AvroSchema, parse_avro_schema, schema_name
from bytewax_kafka.serde.base import SchemaDeserializer, SchemaSerializer
from bytewax_kafka.serde.errors import SerdeError

__all__ = ["PlainAvroDeserializer", "PlainAvroSerializer"]

_CONFLUENT_HEADER_SIZE = 5
"""Magic byte 0 plus a 4-byte schema id, as written by schema-registry serializers."""


class PlainAvroSerializer(SchemaSerializer[Any, bytes]):
    r"""Encode Python objects as raw Avro, without any schema-registry framing.

    The bytes hold the Avro binary encoding of one datum and nothing else: no
    magic byte, no schema id. Readers must know the schema beforehand. If the
    readers expect the schema-registry wire format, use confluent-kafka's
    `confluent_kafka.schema_registry.avro.AvroSerializer` instead.

    The schema is parsed once, at construction. None is passed through as
    None (a tombstone or a missing key), never encoded.

    Args:
        schema: The writer schema: JSON text, a dict (a list for a union), or
            a confluent-kafka `Schema`, e.g. from
            `client.get_latest_version(subject).schema`.
        named_schemas: Named types already parsed by fastavro, as in
            `fastavro.parse_schema(..., named_schemas=...)`. Copied, not
            modified.
        references: Schemas defining named types that `schema` uses by name,
            parsed in order before it (a registry's schema references).
        strict: Reject records with fields the schema does not have, and
            records missing a field even when the schema gives it a default.

    Raises:
        ValueError: A schema is not valid Avro.

    Example:
        >>> schema = {
        ...     "type": "record",
        ...     "name": "Reading",
        ...     "fields": [
        ...         {"name": "sensor", "type": "string"},
        ...         {"name": "v", "type": "int"},
        ...     ],
        ... }
        >>> ser = PlainAvroSerializer(schema)
        >>> ser({"sensor": "a", "v": 3})
        b'\x02a\x06'
    """

    def __init__(
        self,
        schema: AvroSchema | None,
        named_schemas: Mapping[str, Any] | None = None,
        *,
        references: Sequence[AvroSchema] = (),
        strict: bool = False,
    ) -> None:
        self.schema = parse_avro_schema(schema, references=references, named_schemas=named_schemas)
        self._strict = strict
        self._name = schema_name(self.schema)

    def ser(self, obj: Any) -> bytes:
        """Encode one datum.

        Args:
            obj: A value matching the schema (a dict for a record).

        Returns:
            The Avro binary encoding.

        Raises:
            SerdeError: `obj` does not match the schema; the message and the
                `field` attribute name the offending field where known.
        """
        out = io.BytesIO()
        try:
            schemaless_writer(out, self.schema, obj, strict=self._strict)
        except Exception as exc:
            raise self._mismatch(obj, exc) from exc
        return out.getvalue()

    def _mismatch(self, obj: Any, exc: Exception) -> SerdeError:
        """Build the error for a datum fastavro refused, naming fields if it can."""
        problems: list[str] = []
        field: str | None = None
        try:
            validate(obj, self.schema, raise_errors=True, strict=self._strict)
        except ValidationError as verr:
            problems = [_describe_validation(error) for error in verr.errors]
            fields = [getattr(error, "field", None) for error in verr.errors]
            field = next((name for name in fields if name), None)
        except Exception:
            # Validation only improves the message; fastavro's own is the fallback.
            problems = []
        detail = "; ".join(problems) if problems else f"{type(exc).__name__}: {exc}"
        msg = f"value does not match Avro schema {self._name}: {detail}"
        return SerdeError(msg, field=field)


def _describe_validation(error: Any) -> str:
    """Render one fastavro ValidationErrorData without dumping whole schemas."""
    field = getattr(error, "field", "") or "<root>"
    datum = getattr(error, "datum", None)
    expected = schema_name(getattr(error, "schema", None))
    shown = repr(datum)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{field} is {shown} ({type(datum).__name__}), expected {expected}"


class PlainAvroDeserializer(SchemaDeserializer[bytes, Any]):
    r"""Decode raw Avro bytes, without any schema-registry framing, into Python objects.

    The writer's schema must be given, since the bytes do not say which one
    was used. Bytes in the schema-registry wire format (magic byte 0 and a
    schema id before the Avro data) are not plain Avro: decode those with
    confluent-kafka's `confluent_kafka.schema_registry.avro.AvroDeserializer`.

    The schema is parsed once, at construction. None (a tombstone or a missing
    key) is passed through as None. Input that does not decode, or that has
    bytes left over after one datum, raises `SerdeError`.

    Args:
        schema: The writer schema: JSON text, a dict (a list for a union), or
            a confluent-kafka `Schema`.
        named_schemas: Named types already parsed by fastavro. Copied, not
            modified.
        references: Schemas defining named types that `schema` (or
            `reader_schema`) uses by name, parsed in order before it.
        reader_schema: Optional schema to resolve the data into (Avro schema
            evolution: added fields with defaults, removed fields, ...).

    Raises:
        ValueError: A schema is not valid Avro.

    Example:
        >>> schema = {
        ...     "type": "record",
        ...     "name": "Reading",
        ...     "fields": [
        ...         {"name": "sensor", "type": "string"},
        ...         {"name": "v", "type": "int"},
        ...     ],
        ... }
        >>> de = PlainAvroDeserializer(schema)
        >>> de(b"\x02a\x06")
        {'sensor': 'a', 'v': 3}
        >>> de(None) is None
        True
    """

    def __init__(
        self,
        schema: AvroSchema | None,
        named_schemas: Mapping[str, Any] | None = None,
        *,
        references: Sequence[AvroSchema] = (),
        reader_schema: AvroSchema | None = None,
    ) -> None:
        self.schema = parse_avro_schema(schema, references=references, named_schemas=named_schemas)
        self.reader_schema = (
            None
            if reader_schema is None
            else parse_avro_schema(reader_schema, references=references, named_schemas=named_schemas)
        )
        self._name = schema_name(self.schema)

    def de(self, obj: bytes) -> Any:
        """Decode one datum.

        Args:
            obj: The Avro binary encoding of exactly one datum (`str` is
                accepted and encoded as UTF-8, as bytewax's version did).

        Returns:
            The decoded value (a dict for a record).

        Raises:
            SerdeError: The bytes are truncated, malformed for this schema, or
                followed by extra bytes.
        """
        data = obj.encode() if isinstance(obj, str) else obj
        buffer = io.BytesIO(data)
        try:
            value = schemaless_reader(buffer, self.schema, self.reader_schema)
        except Exception as exc:
            reason = _read_failure(exc)
            msg = f"cannot decode {len(data)} bytes as Avro {self._name}: {reason}"
            raise SerdeError(msg + _framing_hint(data), position=buffer.tell()) from exc
        left = len(data) - buffer.tell()
        if left:
            msg = (
                f"cannot decode {len(data)} bytes as Avro {self._name}: one datum "
                f"used {buffer.tell()} bytes, {left} were left over (wrong schema?)"
            )
            raise SerdeError(msg + _framing_hint(data), position=buffer.tell())
        return value


def _read_failure(exc: Exception) -> str:
    """Explain a fastavro read failure in words."""
    if isinstance(exc, EOFError):
        return "the input ended early (truncated, or not written with this schema)"
    if isinstance(exc, UnicodeDecodeError):
        return f"a string is not valid UTF-8 ({exc.reason})"
    text = str(exc)
    return f"malformed data ({type(exc).__name__}{': ' + text if text else ''})"


def _framing_hint(data: bytes) -> str:
    """Suggest the registry deserializer when the bytes look registry-framed."""
    if len(data) > _CONFLUENT_HEADER_SIZE and data[0] == 0:
        schema_id = int.from_bytes(data[1:_CONFLUENT_HEADER_SIZE], "big")
        return (
            f"; the bytes start like the schema-registry wire format (magic byte 0, "
            f"schema id {schema_id}): if so, use "
            "confluent_kafka.schema_registry.avro.AvroDeserializer"
        )
    return ""
