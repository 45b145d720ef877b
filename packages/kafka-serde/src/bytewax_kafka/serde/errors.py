"""The one exception type every serde of this package raises for bad data."""

from __future__ import annotations

from confluent_kafka.serialization import SerializationContext, SerializationError

__all__ = ["SerdeError"]


class SerdeError(SerializationError):
    """A value could not be serialized, or bytes could not be deserialized.

    It subclasses confluent-kafka's `SerializationError`, so code that already
    catches that (including confluent's `SerializingProducer` and
    `DeserializingConsumer`) catches this too. The message says what failed;
    the original exception, when there was one, is chained as `__cause__`.

    Attributes:
        message: Human-readable description of the failure.
        field: Dotted path of the offending field when the format reports one
            (Avro records), else None.
        position: Byte or character offset in the input where decoding failed,
            when the format reports one (JSON), else None.

    Example:
        >>> from bytewax_kafka.serde import JsonDeserializer, SerdeError
        >>> try:
        ...     JsonDeserializer()(b'{"a": }')
        ... except SerdeError as err:
        ...     print(err.position)
        6
    """

    def __init__(self, message: str, *, field: str | None = None, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.position = position

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


def in_context(ctx: SerializationContext | None) -> str:
    """Say which message field of which topic a failure happened on, if known.

    Args:
        ctx: The context a (de)serializer was called with.

    Returns:
        Text such as `" (value of topic 'sensors')"`, or an empty string.
    """
    if ctx is None:
        return ""
    return f" ({ctx.field} of topic {ctx.topic!r})"
