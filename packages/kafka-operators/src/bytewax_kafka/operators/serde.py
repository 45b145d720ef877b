"""Operators that (de)serialize message keys and values, with an error stream.

The (de)serializers are anything with confluent-kafka's ``Serializer`` /
``Deserializer`` call signature, ``f(data, ctx)``: confluent's own
(``StringDeserializer``, the schema-registry ``AvroSerializer``, ...), those
of ``bytewax_kafka.serde``, or your own functions.

Conventions shared by every operator here:

- A None key (keyless message) or None value (tombstone) is passed through
  as None: the (de)serializer is not called.
- A (de)serializer may return None; the message then has a None key/value.
- A failure does not stop the flow: the message becomes an item of ``errs``,
  a :class:`~bytewax_kafka.operators.KafkaStepError` whose ``err`` is a
  confluent-kafka ``KafkaError`` with code ``_KEY_DESERIALIZATION``,
  ``_VALUE_DESERIALIZATION``, ``_KEY_SERIALIZATION`` or
  ``_VALUE_SERIALIZATION`` and a reason naming the step, the part that
  failed, the exception type and its text.
- Except when the failure says nothing about the message: an ``OSError``
  (connection refused, timeout), an error of the HTTP client reaching a
  schema registry, or a ``SchemaRegistryError`` (other than "schema not found"
  while deserializing, which means the bytes name a schema id that does not
  exist) is raised and stops the flow, as sending every message to ``errs``
  during a registry outage would be wrong. Under recovery the messages are
  read again on restart.
- Nothing attached to ``errs`` means failed messages are dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from confluent_kafka import TIMESTAMP_CREATE_TIME
from confluent_kafka import KafkaError as CKError
from confluent_kafka.serialization import MessageField, SerializationContext

from bytewax_kafka.core import KafkaSinkMessage, KafkaSourceMessage
from bytewax_kafka.operators.io import _split
from bytewax_kafka.operators.types import KafkaOpOut, KafkaStepError

__all__ = [
    "DeserializerFn",
    "SerializerFn",
    "deserialize",
    "deserialize_key",
    "deserialize_value",
    "serialize",
    "serialize_key",
    "serialize_value",
]

#: A confluent ``Deserializer`` or any callable ``(data, ctx) -> object``.
DeserializerFn = Callable[[Any, SerializationContext], Any]
#: A confluent ``Serializer`` or any callable ``(obj, ctx) -> bytes | None``.
SerializerFn = Callable[[Any, SerializationContext], Any]

SourceMsg = KafkaSourceMessage[Any, Any]
SinkMsg = KafkaSinkMessage[Any, Any]
StepError = KafkaStepError[Any, Any]

_KEY = MessageField.KEY
_VALUE = MessageField.VALUE
_NETWORK_MODULES = frozenset({"httpx", "httpcore", "requests", "urllib3", "h11", "h2"})
_NOT_FOUND = 404


def _is_outage(exc: BaseException, *, deserializing: bool) -> bool:
    """True when ``exc`` is about the registry or network rather than the message."""
    if isinstance(exc, OSError):
        return True
    for cls in type(exc).__mro__:
        if cls.__name__ == "SchemaRegistryError" and cls.__module__.startswith("confluent_kafka"):
            status = getattr(exc, "http_status_code", None)
            return not (deserializing and status == _NOT_FOUND)
    return type(exc).__module__.partition(".")[0] in _NETWORK_MODULES


def _reason(step_id: str, what: str, exc: BaseException) -> str:
    text = str(exc)
    why = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"{what} failed in step {step_id!r}: {why}"


def _not_a(step_id: str, expected: str, item: Any) -> TypeError:
    return TypeError(f"step {step_id!r} takes {expected} items, got {type(item).__name__}: {item!r:.200}")


def _deserializer(
    step_id: str, key_de: DeserializerFn | None, val_de: DeserializerFn | None
) -> Callable[[list[Any]], list[Any]]:
    def de_batch(batch: list[Any]) -> list[Any]:
        out: list[Any] = []
        append = out.append
        for msg in batch:
            if not isinstance(msg, KafkaSourceMessage):
                raise _not_a(step_id, "KafkaSourceMessage", msg)
            key = msg.key
            value = msg.value
            try:
                if key_de is not None and key is not None:
                    key = key_de(key, SerializationContext(msg.topic, _KEY, msg.headers))  # type: ignore[arg-type]
            except Exception as exc:
                if _is_outage(exc, deserializing=True):
                    raise
                reason = _reason(step_id, "key deserialization", exc)
                append(KafkaStepError(CKError(CKError._KEY_DESERIALIZATION, reason), msg, step_id))
                continue
            try:
                if val_de is not None and value is not None:
                    value = val_de(value, SerializationContext(msg.topic, _VALUE, msg.headers))  # type: ignore[arg-type]
            except Exception as exc:
                if _is_outage(exc, deserializing=True):
                    raise
                reason = _reason(step_id, "value deserialization", exc)
                append(KafkaStepError(CKError(CKError._VALUE_DESERIALIZATION, reason), msg, step_id))
                continue
            if key is msg.key and value is msg.value:
                append(msg)
            elif key_de is None:
                append(msg._with_value(value))
            elif val_de is None:
                append(msg._with_key(key))
            else:
                append(msg._with_key_and_value(key, value))
        return out

    return de_batch


@operator
def deserialize(
    step_id: str,
    up: Stream[SourceMsg],
    *,
    key_deserializer: DeserializerFn,
    val_deserializer: DeserializerFn,
) -> KafkaOpOut[SourceMsg, StepError]:
    """Deserialize the keys and values of Kafka messages.

    Each deserializer is called as ``d(data, SerializationContext(msg.topic,
    MessageField.KEY or VALUE, msg.headers))``; a None key or value is kept
    as None without calling it. The key is deserialized first; if it fails,
    the value is not tried.

    Args:
        step_id: Unique id of the step.
        up: :class:`~bytewax_kafka.core.KafkaSourceMessage` items, as read.
        key_deserializer: Deserializer for keys.
        val_deserializer: Deserializer for values.

    Returns:
        ``oks``: the messages with deserialized key and value (topic,
        partition, offset, headers and timestamp unchanged). ``errs``: a
        :class:`~bytewax_kafka.operators.KafkaStepError` per message where
        either failed, holding the original message unchanged (original
        bytes, topic, partition, offset), with code ``_KEY_DESERIALIZATION``
        or ``_VALUE_DESERIALIZATION``.

    Example:
        >>> from bytewax.dataflow import Dataflow
        >>> from confluent_kafka.serialization import StringDeserializer
        >>> from bytewax_kafka import operators as kop
        >>> from bytewax_kafka.serde import JsonDeserializer
        >>> flow = Dataflow("example")
        >>> kinp = kop.input("in", flow, brokers=["localhost:19092"], topics=["in-topic"])
        >>> msgs = kop.deserialize(
        ...     "de", kinp.oks, key_deserializer=StringDeserializer(), val_deserializer=JsonDeserializer()
        ... )
        >>> kop.dead_letter("dlq", msgs.errs, brokers=["localhost:19092"], topic="in-topic-dlq")
    """
    mapped = op.flat_map_batch("map", up, _deserializer(step_id, key_deserializer, val_deserializer))
    out: KafkaOpOut[SourceMsg, StepError] = _split("split_err", mapped, step_id)
    return out


@operator
def deserialize_key(
    step_id: str,
    up: Stream[SourceMsg],
    deserializer: DeserializerFn,
) -> KafkaOpOut[SourceMsg, StepError]:
    """Deserialize the keys of Kafka messages; values are left as they are.

    A None key (keyless message) stays None without calling ``deserializer``.

    Args:
        step_id: Unique id of the step.
        up: :class:`~bytewax_kafka.core.KafkaSourceMessage` items.
        deserializer: Called as ``deserializer(key,
            SerializationContext(msg.topic, MessageField.KEY, msg.headers))``.

    Returns:
        ``oks``: messages with deserialized keys. ``errs``: a
        :class:`~bytewax_kafka.operators.KafkaStepError` (code
        ``_KEY_DESERIALIZATION``) holding the original message, per failure.

    Example:
        >>> from bytewax.dataflow import Dataflow
        >>> from confluent_kafka.serialization import StringDeserializer
        >>> from bytewax_kafka import operators as kop
        >>> flow = Dataflow("example")
        >>> kinp = kop.input("in", flow, brokers=["localhost:19092"], topics=["in-topic"])
        >>> keyed = kop.deserialize_key("de_key", kinp.oks, StringDeserializer())
    """
    mapped = op.flat_map_batch("map", up, _deserializer(step_id, deserializer, None))
    out: KafkaOpOut[SourceMsg, StepError] = _split("split_err", mapped, step_id)
    return out


@operator
def deserialize_value(
    step_id: str,
    up: Stream[SourceMsg],
    deserializer: DeserializerFn,
) -> KafkaOpOut[SourceMsg, StepError]:
    """Deserialize the values of Kafka messages; keys are left as they are.

    A None value (tombstone) stays None without calling ``deserializer``.

    Args:
        step_id: Unique id of the step.
        up: :class:`~bytewax_kafka.core.KafkaSourceMessage` items.
        deserializer: Called as ``deserializer(value,
            SerializationContext(msg.topic, MessageField.VALUE, msg.headers))``.

    Returns:
        ``oks``: messages with deserialized values. ``errs``: a
        :class:`~bytewax_kafka.operators.KafkaStepError` (code
        ``_VALUE_DESERIALIZATION``) holding the original message, per failure.

    Example:
        >>> from bytewax.dataflow import Dataflow
        >>> from bytewax_kafka import operators as kop
        >>> from bytewax_kafka.serde import JsonDeserializer
        >>> flow = Dataflow("example")
        >>> kinp = kop.input("in", flow, brokers=["localhost:19092"], topics=["in-topic"])
        >>> docs = kop.deserialize_value("de_val", kinp.oks, JsonDeserializer())
    """
    mapped = op.flat_map_batch("map", up, _deserializer(step_id, None, deserializer))
    out: KafkaOpOut[SourceMsg, StepError] = _split("split_err", mapped, step_id)
    return out


def _failed_sink_message(msg: SinkMsg, topic: str | None) -> SourceMsg:
    """What the error item of a sink message that failed to serialize holds."""
    ts = msg.timestamp
    return KafkaSourceMessage(
        key=msg.key,
        value=msg.value,
        topic=msg.topic or topic,
        headers=msg.headers,
        timestamp=(TIMESTAMP_CREATE_TIME, ts) if ts else None,
    )


def _serializer(
    step_id: str, key_ser: SerializerFn | None, val_ser: SerializerFn | None, topic: str | None
) -> Callable[[list[Any]], list[Any]]:
    def ser_batch(batch: list[Any]) -> list[Any]:
        out: list[Any] = []
        append = out.append
        for item in batch:
            if type(item) is KafkaSinkMessage:
                msg = item
            elif isinstance(item, KafkaSourceMessage):
                msg = item.to_sink()
            elif isinstance(item, KafkaSinkMessage):
                msg = item
            else:
                raise _not_a(step_id, "KafkaSinkMessage or KafkaSourceMessage", item)
            dest = msg.topic or topic
            key = msg.key
            value = msg.value
            headers = msg.headers or []
            # A serializer may add headers (confluent's header_schema_id_serializer
            # appends the schema id): give it a copy and keep what it adds.
            ctx_headers = list(headers)
            on_key = True
            try:
                if key_ser is not None and key is not None:
                    key = key_ser(key, SerializationContext(dest, _KEY, ctx_headers))  # type: ignore[arg-type]
                on_key = False
                if val_ser is not None and value is not None:
                    value = val_ser(value, SerializationContext(dest, _VALUE, ctx_headers))  # type: ignore[arg-type]
            except Exception as exc:
                if _is_outage(exc, deserializing=False):
                    raise
                if on_key:
                    code, what = CKError._KEY_SERIALIZATION, "key serialization"
                else:
                    code, what = CKError._VALUE_SERIALIZATION, "value serialization"
                failed = item if isinstance(item, KafkaSourceMessage) else _failed_sink_message(msg, topic)
                append(KafkaStepError(CKError(code, _reason(step_id, what, exc)), failed, step_id))
                continue
            if key is msg.key and value is msg.value and len(ctx_headers) == len(headers):
                append(msg)
            elif len(ctx_headers) != len(headers):
                append(KafkaSinkMessage(key, value, msg.topic, ctx_headers, msg.partition, msg.timestamp))
            elif key_ser is None:
                append(msg._with_value(value))
            elif val_ser is None:
                append(msg._with_key(key))
            else:
                append(msg._with_key_and_value(key, value))
        return out

    return ser_batch


def _is_sink_message(item: Any) -> bool:
    return isinstance(item, KafkaSinkMessage)


@operator
def _split_sink(step_id: str, up: Stream[Any]) -> KafkaOpOut[SinkMsg, StepError]:
    b = op.branch("branch", up, _is_sink_message)
    return KafkaOpOut(b.trues, b.falses)


@operator
def serialize(
    step_id: str,
    up: Stream[SinkMsg | SourceMsg],
    *,
    key_serializer: SerializerFn,
    val_serializer: SerializerFn,
    topic: str | None = None,
) -> KafkaOpOut[SinkMsg, StepError]:
    """Serialize the keys and values of messages to be written to Kafka.

    Each serializer is called as ``s(obj, SerializationContext(msg.topic or
    topic, MessageField.KEY or VALUE, headers))``: the context names the
    topic the message will be written to, which schema-registry serializers
    use to choose the subject (``<topic>-key``, ``<topic>-value``). Pass the
    destination topic as ``topic`` unless every message names its own. If
    neither is set the context's topic is None, and topic-based subject
    strategies fail for every message.

    A None key (keyless message) or value (tombstone) stays None without
    calling the serializer; a serializer may return None. Headers a
    serializer appends to ``ctx.headers`` (confluent's
    ``header_schema_id_serializer`` does) are added to the message.

    Args:
        step_id: Unique id of the step.
        up: :class:`~bytewax_kafka.core.KafkaSinkMessage` items, or
            :class:`~bytewax_kafka.core.KafkaSourceMessage` items converted
            with :meth:`~bytewax_kafka.core.KafkaSourceMessage.to_sink`
            (key, value, headers and timestamp kept).
        key_serializer: Serializer for keys.
        val_serializer: Serializer for values.
        topic: Destination topic for the serializers' context, for messages
            whose ``topic`` is None. The messages themselves are not changed:
            give the same topic to :func:`~bytewax_kafka.operators.output`.

    Returns:
        ``oks``: :class:`~bytewax_kafka.core.KafkaSinkMessage` items with
        serialized key and value. ``errs``: a
        :class:`~bytewax_kafka.operators.KafkaStepError` per failure, code
        ``_KEY_SERIALIZATION`` or ``_VALUE_SERIALIZATION``. Its ``msg`` is
        the input message if that was a ``KafkaSourceMessage`` (so the source
        topic, partition and offset are kept); for a ``KafkaSinkMessage``, a
        ``KafkaSourceMessage`` with its key, value and headers (not
        serialized), ``topic`` the destination topic, no partition or offset,
        and its timestamp if it had one.

    Example:
        >>> import bytewax.operators as op
        >>> from bytewax.dataflow import Dataflow
        >>> from bytewax.testing import TestingSource
        >>> from confluent_kafka.serialization import StringSerializer
        >>> from bytewax_kafka import operators as kop
        >>> from bytewax_kafka.core import KafkaSinkMessage
        >>> from bytewax_kafka.serde import JsonSerializer
        >>> flow = Dataflow("example")
        >>> docs = op.input("docs", flow, TestingSource([KafkaSinkMessage("a", {"v": 1})]))
        >>> out = kop.serialize(
        ...     "ser", docs, key_serializer=StringSerializer(), val_serializer=JsonSerializer(), topic="out"
        ... )
        >>> kop.output("kafka-out", out.oks, brokers=["localhost:19092"], topic="out")
    """
    mapped = op.flat_map_batch("map", up, _serializer(step_id, key_serializer, val_serializer, topic))
    out: KafkaOpOut[SinkMsg, StepError] = _split_sink("split_err", mapped)
    return out


@operator
def serialize_key(
    step_id: str,
    up: Stream[SinkMsg | SourceMsg],
    serializer: SerializerFn,
    topic: str | None = None,
) -> KafkaOpOut[SinkMsg, StepError]:
    """Serialize the keys of messages to be written to Kafka; values are left as they are.

    Same rules as :func:`serialize`: the context's topic is ``msg.topic or
    topic``; a None key stays None; failures (code ``_KEY_SERIALIZATION``) go
    to ``errs``.

    Args:
        step_id: Unique id of the step.
        up: Sink or source messages (source messages are converted).
        serializer: Called as ``serializer(key, SerializationContext(msg.topic
            or topic, MessageField.KEY, headers))``.
        topic: Destination topic for the context of messages without one.

    Returns:
        ``oks`` and ``errs`` as :func:`serialize` does.

    Example:
        >>> import bytewax.operators as op
        >>> from bytewax.dataflow import Dataflow
        >>> from bytewax.testing import TestingSource
        >>> from confluent_kafka.serialization import StringSerializer
        >>> from bytewax_kafka import operators as kop
        >>> from bytewax_kafka.core import KafkaSinkMessage
        >>> flow = Dataflow("example")
        >>> msgs = op.input("msgs", flow, TestingSource([KafkaSinkMessage("k", b"v")]))
        >>> out = kop.serialize_key("ser_key", msgs, StringSerializer(), topic="out")
    """
    mapped = op.flat_map_batch("map", up, _serializer(step_id, serializer, None, topic))
    out: KafkaOpOut[SinkMsg, StepError] = _split_sink("split_err", mapped)
    return out


@operator
def serialize_value(
    step_id: str,
    up: Stream[SinkMsg | SourceMsg],
    serializer: SerializerFn,
    topic: str | None = None,
) -> KafkaOpOut[SinkMsg, StepError]:
    """Serialize the values of messages to be written to Kafka; keys are left as they are.

    Same rules as :func:`serialize`: the context's topic is ``msg.topic or
    topic``; a None value (tombstone) stays None; failures (code
    ``_VALUE_SERIALIZATION``) go to ``errs``.

    Args:
        step_id: Unique id of the step.
        up: Sink or source messages (source messages are converted).
        serializer: Called as ``serializer(value,
            SerializationContext(msg.topic or topic, MessageField.VALUE, headers))``.
        topic: Destination topic for the context of messages without one.

    Returns:
        ``oks`` and ``errs`` as :func:`serialize` does.

    Example:
        >>> import bytewax.operators as op
        >>> from bytewax.dataflow import Dataflow
        >>> from bytewax.testing import TestingSource
        >>> from bytewax_kafka import operators as kop
        >>> from bytewax_kafka.core import KafkaSinkMessage
        >>> from bytewax_kafka.serde import JsonSerializer
        >>> flow = Dataflow("example")
        >>> msgs = op.input("msgs", flow, TestingSource([KafkaSinkMessage(b"k", {"v": 1})]))
        >>> out = kop.serialize_value("ser_val", msgs, JsonSerializer(), topic="out")
    """
    mapped = op.flat_map_batch("map", up, _serializer(step_id, None, serializer, topic))
    out: KafkaOpOut[SinkMsg, StepError] = _split_sink("split_err", mapped)
    return out
