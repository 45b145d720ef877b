"""Give any confluent-kafka (de)serializer this package's conventions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryError
from confluent_kafka.serialization import Deserializer, SerializationContext, Serializer

from bytewax_kafka.serde.errors import SerdeError, in_context

__all__ = ["GuardedDeserializer", "GuardedSerializer"]

_NETWORK_MODULES = frozenset({"httpx", "httpx2", "httpcore", "requests", "urllib3"})
"""Top-level packages whose exceptions mean the registry could not be reached."""

_NOT_FOUND = 404


def _is_outage(exc: Exception, *, deserializing: bool) -> bool:
    """Tell failures of the registry or network apart from bad data.

    A deserializer asking the registry for the schema id found in the bytes
    and getting 404 is looking at bad data; every other registry answer, and
    any network failure, says nothing about the message and must not be
    turned into a per-message error.
    """
    if isinstance(exc, SchemaRegistryError):
        return not (deserializing and exc.http_status_code == _NOT_FOUND)
    if isinstance(exc, OSError):
        return True
    return type(exc).__module__.partition(".")[0] in _NETWORK_MODULES


class GuardedSerializer(Serializer):
    """Wrap a serializer so that bad values raise `SerdeError` and None stays None.

    confluent-kafka's schema-registry serializers (`AvroSerializer`,
    `JSONSerializer`, `ProtobufSerializer`) already have the right call
    signature, but a value that does not fit the schema escapes as whatever
    the encoder raised (`TypeError`, `ValueError`, jsonschema's
    `ValidationError`, ...). Wrapped, such failures become a `SerdeError`
    naming the serializer, the topic and the field, with the original chained.

    Failures that are not about the value are re-raised unchanged: any answer
    from the schema registry (`SchemaRegistryError`: unknown subject,
    incompatible schema, authentication, ...) and network errors reaching it.

    Args:
        inner: The serializer to wrap: any callable `(obj, ctx) -> bytes`.

    Example:
        >>> from confluent_kafka.serialization import StringSerializer
        >>> ser = GuardedSerializer(StringSerializer("ascii"))
        >>> ser("abc")
        b'abc'
        >>> ser("é")
        Traceback (most recent call last):
        ...
        bytewax_kafka.serde.errors.SerdeError: StringSerializer failed to serialize: ...
    """

    def __init__(self, inner: Callable[..., bytes | None]) -> None:
        self.inner = inner

    def __call__(self, obj: Any, ctx: SerializationContext | None = None) -> bytes | None:
        """Serialize `obj` with the wrapped serializer; None stays None.

        Args:
            obj: The value to encode, or None.
            ctx: Topic, message field and headers, passed to the wrapped
                serializer (the registry serializers need it to name the
                subject).

        Returns:
            The encoded value, or None if `obj` is None.

        Raises:
            SerdeError: The wrapped serializer rejected the value.
        """
        if obj is None:
            return None
        try:
            return self.inner(obj, ctx)
        except SerdeError:
            raise
        except Exception as exc:
            if _is_outage(exc, deserializing=False):
                raise
            name = type(self.inner).__name__
            msg = f"{name} failed to serialize{in_context(ctx)}: {exc}"
            raise SerdeError(msg) from exc

    def set_cluster_id_resolver(self, resolver: Callable[[], Any]) -> None:
        """Forward the producer's cluster-id resolver to the wrapped serializer."""
        forward = getattr(self.inner, "set_cluster_id_resolver", None)
        if forward is not None:
            forward(resolver)

    def close(self) -> None:
        """Close the wrapped serializer, if it can be closed."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


class GuardedDeserializer(Deserializer):
    r"""Wrap a deserializer so that bad bytes raise `SerdeError` and None stays None.

    confluent-kafka's schema-registry deserializers raise their own
    `SerializationError` for bytes without the wire-format header, but
    truncated or corrupt payloads escape as `EOFError`, `IndexError`,
    protobuf's `DecodeError`, ... and a schema id the registry does not know
    as `SchemaRegistryError`. Wrapped, all of those become a `SerdeError`
    naming the deserializer, the topic and the field, with the original
    chained.

    Failures that are not about the bytes are re-raised unchanged: registry
    answers other than "schema not found" and network errors reaching the
    registry.

    Args:
        inner: The deserializer to wrap: any callable `(value, ctx) -> object`.

    Example:
        >>> from confluent_kafka.serialization import IntegerDeserializer
        >>> de = GuardedDeserializer(IntegerDeserializer())
        >>> de(b"\x00\x00\x00\x07")
        7
        >>> de(None) is None
        True
        >>> de(b"\x07")
        Traceback (most recent call last):
        ...
        bytewax_kafka.serde.errors.SerdeError: IntegerDeserializer failed to deserialize: ...
    """

    def __init__(self, inner: Callable[..., Any]) -> None:
        self.inner = inner

    def __call__(self, value: bytes | None, ctx: SerializationContext | None = None) -> Any:
        """Deserialize `value` with the wrapped deserializer; None stays None.

        Args:
            value: The encoded bytes, or None (tombstone value, missing key).
            ctx: Topic, message field and headers, passed to the wrapped
                deserializer.

        Returns:
            The decoded object, or None if `value` is None.

        Raises:
            SerdeError: The wrapped deserializer could not decode the bytes.
        """
        if value is None:
            return None
        try:
            return self.inner(value, ctx)
        except SerdeError:
            raise
        except Exception as exc:
            if _is_outage(exc, deserializing=True):
                raise
            name = type(self.inner).__name__
            msg = f"{name} failed to deserialize{in_context(ctx)}: {exc}"
            raise SerdeError(msg) from exc

    def set_cluster_id_resolver(self, resolver: Callable[[], Any]) -> None:
        """Forward the consumer's cluster-id resolver to the wrapped deserializer."""
        forward = getattr(self.inner, "set_cluster_id_resolver", None)
        if forward is not None:
            forward(resolver)

    def close(self) -> None:
        """Close the wrapped deserializer, if it can be closed."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
