"""Generic base classes for writing your own serializers and deserializers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from confluent_kafka.serialization import (
    Deserializer,
    SerializationContext,
    SerializationError,
    Serializer,
)

from bytewax_kafka.serde.errors import SerdeError, in_context

__all__ = ["In", "Out", "SchemaDeserializer", "SchemaSerializer"]

In = TypeVar("In")
"""Type a (de)serializer accepts."""

Out = TypeVar("Out")
"""Type a (de)serializer returns."""


class SchemaSerializer(Serializer, ABC, Generic[In, Out]):
    """Base class for serializers: implement `ser`, get a confluent `Serializer`.

    Instances are callables with confluent-kafka's serializer signature,
    `serializer(obj, ctx=None)`, so they can be handed to confluent's
    `SerializingProducer`, to bytewax's `serialize` operators and to ours,
    which pass a `SerializationContext` naming the topic and the field (key or
    value). Calling the instance:

    - returns None for None without calling `ser`: a None value is a Kafka
      tombstone and a None key a keyless message, and both must stay None;
    - lets a `SerializationError` (such as our `SerdeError`) raised by `ser`
      through unchanged;
    - wraps any other exception raised by `ser` in a `SerdeError` that names
      the serializer class, the topic and the field, chaining the original.

    Example:
        >>> class Upper(SchemaSerializer[str, bytes]):
        ...     def ser(self, obj: str) -> bytes:
        ...         return obj.upper().encode()
        >>> Upper()("hi")
        b'HI'
        >>> Upper()(None) is None
        True
    """

    @abstractmethod
    def ser(self, obj: In) -> Out:
        """Serialize one non-None object.

        Args:
            obj: The object to encode; never None when called through
                `__call__`.

        Returns:
            The encoded form, usually bytes.
        """

    def __call__(  # type: ignore[override]
        self, obj: In | None, ctx: SerializationContext | None = None
    ) -> Out | None:
        """Serialize `obj`; None stays None.

        Args:
            obj: The object to encode, or None.
            ctx: Topic, message field and headers of the message being
                produced; only used to describe failures.

        Returns:
            The encoded form, or None if `obj` is None.

        Raises:
            SerdeError: `ser` failed (other `SerializationError`s raised by
                `ser` propagate as they are).
        """
        if obj is None:
            return None
        try:
            return self.ser(obj)
        except SerializationError:
            raise
        except Exception as exc:
            msg = f"{type(self).__name__} failed to serialize{in_context(ctx)}: {exc}"
            raise SerdeError(msg) from exc


class SchemaDeserializer(Deserializer, ABC, Generic[In, Out]):
    """Base class for deserializers: implement `de`, get a confluent `Deserializer`.

    Instances are callables with confluent-kafka's deserializer signature,
    `deserializer(value, ctx=None)`, so they can be handed to confluent's
    `DeserializingConsumer`, to bytewax's `deserialize` operators and to ours.
    Calling the instance:

    - returns None for None without calling `de`: Kafka tombstones have a None
      value and keyless messages a None key, and both are passed through
      unchanged rather than treated as errors;
    - lets a `SerializationError` (such as our `SerdeError`) raised by `de`
      through unchanged;
    - wraps any other exception raised by `de` in a `SerdeError` that names
      the deserializer class, the topic and the field, chaining the original.

    Example:
        >>> import orjson
        >>> class JSONDeserializer(SchemaDeserializer[bytes, dict]):
        ...     def de(self, obj: bytes) -> dict:
        ...         return orjson.loads(obj)
        >>> JSONDeserializer()(b'{"a": 1}')
        {'a': 1}
        >>> JSONDeserializer()(None) is None
        True
    """

    @abstractmethod
    def de(self, obj: In) -> Out:
        """Deserialize one non-None input.

        Args:
            obj: The encoded input, usually bytes; never None when called
                through `__call__`.

        Returns:
            The decoded object.
        """

    def __call__(  # type: ignore[override]
        self, value: In | None, ctx: SerializationContext | None = None
    ) -> Out | None:
        """Deserialize `value`; None stays None.

        Args:
            value: The encoded input, or None (tombstone value, missing key).
            ctx: Topic, message field and headers of the consumed message;
                only used to describe failures.

        Returns:
            The decoded object, or None if `value` is None.

        Raises:
            SerdeError: `de` failed (other `SerializationError`s raised by
                `de` propagate as they are).
        """
        if value is None:
            return None
        try:
            return self.de(value)
        except SerializationError:
            raise
        except Exception as exc:
            msg = f"{type(self).__name__} failed to deserialize{in_context(ctx)}: {exc}"
            raise SerdeError(msg) from exc
