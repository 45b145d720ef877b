"""Turning the ways users hold an Avro schema into one parsed fastavro schema."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from confluent_kafka.schema_registry import Schema
from fastavro import parse_schema
from fastavro.schema import SchemaParseException, UnknownType

__all__ = ["AvroSchema", "parse_avro_schema", "schema_name"]

AvroSchema: TypeAlias = "str | Mapping[str, Any] | Sequence[Any] | Schema"
"""An Avro schema as JSON text, as decoded JSON (a dict, or a list for a union),
or as a confluent-kafka `Schema` (what a schema registry returns)."""


def _to_json_value(schema: AvroSchema | None) -> Any:
    """Return the decoded JSON form of `schema`.

    Raises:
        ValueError: The text is not JSON, the `Schema` is not an Avro one, or
            `schema` is None.
        TypeError: `schema` is none of the accepted types.
    """
    if schema is None:
        # Accepted in the signature because confluent types `Schema.schema_str`
        # as optional, and the guide passes it straight in.
        msg = "schema is None: no Avro schema text was given"
        raise ValueError(msg)
    if isinstance(schema, Schema):
        if schema.schema_type not in (None, "AVRO"):
            msg = f"expected an Avro schema, got a {schema.schema_type} schema"
            raise ValueError(msg)
        if schema.schema_str is None:
            msg = "the Schema object has no schema_str"
            raise ValueError(msg)
        schema = schema.schema_str
    if isinstance(schema, str):
        try:
            return json.loads(schema)
        except json.JSONDecodeError as exc:
            msg = (
                f"Avro schema text is not valid JSON ({exc}); a primitive type "
                "must be quoted, e.g. '\"string\"'"
            )
            raise ValueError(msg) from exc
    if isinstance(schema, Mapping):
        return dict(schema)
    if isinstance(schema, Sequence):
        return list(schema)
    msg = (
        "schema must be JSON text, a dict, a list (union) or a "
        f"confluent_kafka.schema_registry.Schema, not {type(schema).__name__}"
    )
    raise TypeError(msg)


def parse_avro_schema(
    schema: AvroSchema | None,
    *,
    references: Sequence[AvroSchema] = (),
    named_schemas: Mapping[str, Any] | None = None,
) -> Any:
    """Parse an Avro schema once, resolving types defined in other schemas.

    Args:
        schema: The schema to parse. None (what a `Schema` without text
            holds) is rejected with ValueError.
        references: Schemas defining named types (records, enums, fixed) that
            `schema` refers to by name, each in any accepted form. They are
            parsed in order, so a reference may itself use types defined by an
            earlier one.
        named_schemas: Named types already parsed by fastavro (the
            `named_schemas` dict `fastavro.parse_schema` fills in). It is
            copied, never modified.

    Returns:
        The parsed schema, ready for `fastavro.schemaless_writer` and
        `fastavro.schemaless_reader`.

    Raises:
        ValueError: A schema is not valid JSON or not valid Avro, or refers
            to a type defined nowhere.
        TypeError: A schema is none of the accepted types.

    Example:
        >>> address = {
        ...     "type": "record",
        ...     "name": "Address",
        ...     "fields": [{"name": "city", "type": "string"}],
        ... }
        >>> user = {
        ...     "type": "record",
        ...     "name": "User",
        ...     "fields": [{"name": "home", "type": "Address"}],
        ... }
        >>> parse_avro_schema(user, references=[address])["name"]
        'User'
    """
    named: dict[str, Any] = dict(named_schemas or {})
    for position, reference in enumerate(references):
        _parse_one(reference, named, f"reference #{position}")
    return _self_contained(_parse_one(schema, named, "schema"), named)


def _parse_one(schema: AvroSchema | None, named: dict[str, Any], what: str) -> Any:
    """Parse one schema into `named`, raising ValueError on any failure."""
    value = _to_json_value(schema)
    try:
        return parse_schema(value, named_schemas=named)
    except UnknownType as exc:
        msg = (
            f"invalid Avro {what}: unknown type {exc.name!r}; pass the schema that defines it in `references`"
        )
        raise ValueError(msg) from exc
    except (SchemaParseException, ValueError, TypeError, KeyError, AttributeError) as exc:
        msg = f"invalid Avro {what}: {exc}"
        raise ValueError(msg) from exc


def _self_contained(parsed: Any, named: dict[str, Any]) -> Any:
    """Make a parsed schema carry the named types it uses.

    fastavro's reader and writer re-parse the schema they are given with no
    named types known, unless it is a dict marked as parsed that lists them.
    `parse_schema` marks only records that way, so an array, map, union or
    bare name using a type from a reference would fail with UnknownType when
    used. Mark every dict at the top (and in a top-level union) the same way,
    and replace a bare name by its definition.
    """
    if isinstance(parsed, str) and parsed in named:
        parsed = named[parsed]
    if isinstance(parsed, dict):
        return {**parsed, "__fastavro_parsed": True, "__named_schemas": named}
    if isinstance(parsed, list):
        return [_self_contained(member, named) for member in parsed]
    return parsed


def schema_name(parsed: Any) -> str:
    """Return a short name for a parsed schema, for error messages.

    Args:
        parsed: A schema as returned by `parse_avro_schema`.

    Returns:
        The full name of a named type, the type name of a primitive or
        container, or "union" for a union.
    """
    if isinstance(parsed, str):
        return parsed
    if isinstance(parsed, list):
        return "union"
    if isinstance(parsed, dict):
        return str(parsed.get("name") or parsed.get("type") or "schema")
    return "schema"
