"""The items that flow between Kafka and a dataflow.

Every message read from Kafka becomes one :class:`KafkaSourceMessage`, so
these types are built once per message: they are frozen slotted dataclasses,
and the source builds them through :func:`_source_message`, which skips the
per-field ``object.__setattr__`` calls of a frozen dataclass's ``__init__``
(about half the cost; see ``benchmarks/test_bench_messages.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from confluent_kafka import KafkaError as ConfluentKafkaError

K = TypeVar("K")
"""Type of a message's key."""
V = TypeVar("V")
"""Type of a message's value."""
K2 = TypeVar("K2")
V2 = TypeVar("V2")

#: A header list as confluent-kafka gives it: ``(name, value)`` pairs, values may be None.
Headers = list[tuple[str, "bytes | None"]]


@dataclass(frozen=True, slots=True)
class KafkaSourceMessage(Generic[K, V]):
    """A message read from Kafka by :class:`~bytewax_kafka.core.KafkaSource`.

    Attributes:
        key: The message key (``bytes`` or None as read; any type after
            deserialization).
        value: The message value (None for a tombstone).
        topic: Topic it was read from.
        headers: ``(name, value)`` pairs, in order; empty when none.
        latency: Producer latency in seconds where the client reports it, else None.
        offset: Offset in its partition.
        partition: Partition index.
        timestamp: ``(timestamp_type, milliseconds)`` as confluent-kafka gives it.

    Example:
        >>> msg = KafkaSourceMessage(key=b"k", value=b"v", topic="t", partition=0, offset=7)
        >>> msg.to_sink()
        KafkaSinkMessage(key=b'k', value=b'v', topic=None, headers=[], partition=None, timestamp=0)
    """

    key: K
    value: V
    topic: str | None = None
    headers: Headers = field(default_factory=list)
    latency: float | None = None
    offset: int | None = None
    partition: int | None = None
    timestamp: tuple[int, int] | None = None

    def to_sink(self) -> KafkaSinkMessage[K, V]:
        """Convert to a message for a sink: key, value, headers and timestamp are kept.

        The topic and partition are not kept: the sink's topic (or the
        message's own, set on the result with :func:`dataclasses.replace`)
        decides where it goes, and the partitioner places it.
        The timestamp is kept when the broker gave one (type > 0).
        """
        ts = self.timestamp
        return KafkaSinkMessage(
            key=self.key,
            value=self.value,
            headers=self.headers,
            timestamp=ts[1] if ts is not None and ts[0] > 0 and ts[1] > 0 else 0,
        )

    def _with_key(self, key: K2) -> KafkaSourceMessage[K2, V]:
        return dataclasses.replace(self, key=key)  # type: ignore[return-value, arg-type]

    def _with_value(self, value: V2) -> KafkaSourceMessage[K, V2]:
        return dataclasses.replace(self, value=value)  # type: ignore[return-value, arg-type]

    def _with_key_and_value(self, key: K2, value: V2) -> KafkaSourceMessage[K2, V2]:
        return dataclasses.replace(self, key=key, value=value)  # type: ignore[return-value, arg-type]


@dataclass(frozen=True, slots=True, init=False)
class KafkaSinkMessage(Generic[K, V]):
    """A message to write with :class:`~bytewax_kafka.core.KafkaSink`.

    Attributes:
        key: Message key (None for keyless).
        value: Message value (None for a tombstone).
        topic: Destination topic; the sink's topic when None.
        headers: ``(name, value)`` pairs (None is taken as no headers).
        partition: Destination partition; the partitioner decides when None.
        timestamp: Milliseconds since the epoch; 0 lets the producer set it.

    Example:
        >>> KafkaSinkMessage(key=None, value=b"some_value", topic="out", partition=2)
        KafkaSinkMessage(key=None, value=b'some_value', topic='out', headers=[], partition=2, timestamp=0)
    """

    key: K
    value: V
    topic: str | None = None
    headers: Headers = field(default_factory=list)
    partition: int | None = None
    timestamp: int = 0

    def __init__(
        self,
        key: K,
        value: V,
        topic: str | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp: int = 0,
    ) -> None:
        # Written out (not generated) because a flow builds one per message:
        # slot setters cost half of a frozen dataclass's object.__setattr__.
        _SINK_KEY(self, key)
        _SINK_VALUE(self, value)
        _SINK_TOPIC(self, topic)
        _SINK_HEADERS(self, [] if headers is None else headers)
        _SINK_PARTITION(self, partition)
        _SINK_TIMESTAMP(self, timestamp)

    def _with_key(self, key: K2) -> KafkaSinkMessage[K2, V]:
        return dataclasses.replace(self, key=key)  # type: ignore[return-value, arg-type]

    def _with_value(self, value: V2) -> KafkaSinkMessage[K, V2]:
        return dataclasses.replace(self, value=value)  # type: ignore[return-value, arg-type]

    def _with_key_and_value(self, key: K2, value: V2) -> KafkaSinkMessage[K2, V2]:
        return dataclasses.replace(self, key=key, value=value)  # type: ignore[return-value, arg-type]


@dataclass(frozen=True, slots=True)
class KafkaError(Generic[K, V]):
    """An error met while reading, or while processing a message.

    ``msg`` carries what is known of the message the error belongs to: its
    topic, partition and offset always where Kafka told them, and its key and
    value where there were any (for a deserialization error, the original
    bytes).

    Attributes:
        err: The confluent-kafka error (code, reason, fatal/retriable flags).
        msg: The message the error belongs to.

    Example:
        >>> from confluent_kafka import KafkaError as CKError
        >>> e = KafkaError(CKError(CKError._BAD_MSG, "bad"), KafkaSourceMessage(None, None, "t", offset=3))
        >>> e.msg.offset
        3
    """

    err: ConfluentKafkaError
    msg: KafkaSourceMessage[K, V]


_new = object.__new__


def _setter(name: str, cls: type = KafkaSourceMessage) -> Callable[[Any, Any], None]:
    setter: Callable[[Any, Any], None] = vars(cls)[name].__set__
    return setter


_SET_KEY = _setter("key")
_SET_VALUE = _setter("value")
_SET_TOPIC = _setter("topic")
_SET_HEADERS = _setter("headers")
_SET_LATENCY = _setter("latency")
_SET_OFFSET = _setter("offset")
_SET_PARTITION = _setter("partition")
_SET_TIMESTAMP = _setter("timestamp")
_SINK_KEY = _setter("key", KafkaSinkMessage)
_SINK_VALUE = _setter("value", KafkaSinkMessage)
_SINK_TOPIC = _setter("topic", KafkaSinkMessage)
_SINK_HEADERS = _setter("headers", KafkaSinkMessage)
_SINK_PARTITION = _setter("partition", KafkaSinkMessage)
_SINK_TIMESTAMP = _setter("timestamp", KafkaSinkMessage)


def _source_message(
    key: Any,
    value: Any,
    topic: str | None,
    headers: Headers,
    latency: float | None,
    offset: int | None,
    partition: int | None,
    timestamp: tuple[int, int] | None,
) -> KafkaSourceMessage[Any, Any]:
    """Build a :class:`KafkaSourceMessage` without the frozen ``__init__``'s overhead.

    Produces exactly what ``KafkaSourceMessage(...)`` would (equal, hashable
    alike, same repr); only for trusted callers that pass every field.
    """
    m: KafkaSourceMessage[Any, Any] = _new(KafkaSourceMessage)
    _SET_KEY(m, key)
    _SET_VALUE(m, value)
    _SET_TOPIC(m, topic)
    _SET_HEADERS(m, headers)
    _SET_LATENCY(m, latency)
    _SET_OFFSET(m, offset)
    _SET_PARTITION(m, partition)
    _SET_TIMESTAMP(m, timestamp)
    return m


def to_sink_message(item: Any) -> KafkaSinkMessage[Any, Any]:
    """Accept a sink message, or convert a source message (see :meth:`KafkaSourceMessage.to_sink`).

    Raises:
        TypeError: For any other item, naming its type.
    """
    if isinstance(item, KafkaSinkMessage):
        return item
    if isinstance(item, KafkaSourceMessage):
        return item.to_sink()
    raise TypeError(
        "a Kafka sink takes KafkaSinkMessage or KafkaSourceMessage items, "
        f"got {type(item).__name__}: {item!r:.200}"
    )
