"""Small helpers around confluent-kafka's schema-registry client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

__all__ = ["registry_client", "resolve_references"]


def registry_client(url_or_config: str | Mapping[str, Any]) -> SchemaRegistryClient:
    """Create a schema-registry client from a URL or a client config.

    A `mock://<name>` URL gives confluent-kafka's in-memory mock registry
    (each call a new, empty one: share the returned client between the
    serializers and deserializers that must see the same schemas); any other
    URL a real client. The plain `SchemaRegistryClient(...)` constructor does
    not do this: given a `mock://` URL it builds an HTTP client that cannot
    connect.

    Args:
        url_or_config: The registry URL (e.g. `http://127.0.0.1:8081`), or a
            full client config such as `{"url": ..., "basic.auth.user.info":
            ...}`.

    Returns:
        The client.

    Example:
        >>> client = registry_client("mock://doc-example")
        >>> type(client).__name__
        'MockSchemaRegistryClient'
    """
    conf = {"url": url_or_config} if isinstance(url_or_config, str) else dict(url_or_config)
    new_client = getattr(SchemaRegistryClient, "new_client", None)
    if new_client is not None:
        client: SchemaRegistryClient = new_client(conf)
        return client
    return SchemaRegistryClient(conf)  # pragma: no cover - confluent-kafka < 2.8


def resolve_references(client: SchemaRegistryClient, schema: Schema) -> list[Schema]:
    """Fetch every schema that `schema` references, directly or indirectly.

    A registered schema can use types defined in other registered schemas;
    the registry stores those as references (name, subject, version) and the
    schema text alone does not parse without them. The result is ordered so
    that each schema comes after the ones it depends on, ready for
    `PlainAvroDeserializer(schema, references=...)` and
    `PlainAvroSerializer(schema, references=...)`.

    Args:
        client: The registry client to fetch the references with.
        schema: A schema, e.g. `client.get_latest_version(subject).schema`.

    Returns:
        The referenced schemas, dependencies first, each once.

    Example:
        >>> from bytewax_kafka.serde import PlainAvroDeserializer
        >>> client = registry_client("mock://doc-references")
        >>> schema = client.get_latest_version("sensor_value").schema  # doctest: +SKIP
        >>> de = PlainAvroDeserializer(  # doctest: +SKIP
        ...     schema, references=resolve_references(client, schema)
        ... )
    """
    ordered: list[Schema] = []
    seen: set[tuple[str | None, int | None]] = set()

    def visit(current: Schema) -> None:
        for ref in current.references or []:
            key = (ref.subject, ref.version)
            if key in seen:
                continue
            seen.add(key)
            if ref.subject is None:
                msg = f"schema reference {ref.name!r} has no subject"
                raise ValueError(msg)
            if ref.version is None:
                registered = client.get_latest_version(ref.subject)
            else:
                registered = client.get_version(ref.subject, ref.version)
            dependency = registered.schema
            if dependency is None:  # pragma: no cover - registry always sends one
                msg = f"registry sent no schema for {ref.subject!r} version {ref.version}"
                raise ValueError(msg)
            visit(dependency)
            ordered.append(dependency)

    visit(schema)
    return ordered
