"""The items that flow between Kafka and a dataflow.

Every message read from Kafka becomes one :class:`KafkaSourceMessage`, and
most flows build one :class:`KafkaSinkMessage` per message, so both are built
as cheaply as Python allows while staying frozen dataclasses:

- the source's loop fills a :class:`KafkaSourceMessage`'s slots on a
  writable twin class with the same layout and then gives the object its
  real class (half the cost of a frozen dataclass's ``__init__``);
- a :class:`KafkaSinkMessage` keeps its fields in private slots behind
  read-only properties, so its constructor is a few plain stores (a third
  of a frozen dataclass's cost; sinks read the slots directly).

See ``benchmarks/test_bench_messages.py`` and ``benchmarks/test_bench_hot_path.py``.
Empty headers are the shared empty tuple ``()``, not a new list per message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from confluent_kafka import KafkaError as ConfluentKafkaError

K = TypeVar("K")
"""Type of a message's key."""
V = TypeVar("V")
"""Type of a message's value."""
K2 = TypeVar("K2")
V2 = TypeVar("V2")

#: Headers: ``(name, value)`` pairs, values may be None. Read messages carry
#: confluent-kafka's list, or the shared ``()`` when there are none.
Headers = Sequence[tuple[str, "bytes | None"]]

#: The headers of a message that has none (shared: one object for every such message).
NO_HEADERS: Headers = ()


@dataclass(frozen=True, slots=True, init=False)
class KafkaSourceMessage(Generic[K, V]):
    """A message read from Kafka by :class:`~bytewax_kafka.core.KafkaSource`.

    Attributes:
        key: The message key (``bytes`` or None as read; any type after
            deserialization).
        value: The message value (None for a tombstone).
        topic: Topic it was read from.
        headers: ``(name, value)`` pairs, in order; ``()`` when none.
        latency: Producer latency in seconds where the client reports it, else None.
        offset: Offset in its partition.
        partition: Partition index.
        timestamp: ``(timestamp_type, milliseconds)`` as confluent-kafka gives it.

    Example:
        >>> msg = KafkaSourceMessage(key=b"k", value=b"v", topic="t", partition=0, offset=7)
        >>> msg.to_sink()
        KafkaSinkMessage(key=b'k', value=b'v', topic=None, headers=(), partition=None, timestamp=0)
    """

    key: K
    value: V
    topic: str | None = None
    headers: Headers = NO_HEADERS
    latency: float | None = None
    offset: int | None = None
    partition: int | None = None
    timestamp: tuple[int, int] | None = None

    def __init__(
        self,
        key: K,
        value: V,
        topic: str | None = None,
        headers: Headers | None = None,
        latency: float | None = None,
        offset: int | None = None,
        partition: int | None = None,
        timestamp: tuple[int, int] | None = None,
    ) -> None:
        cls = type(self)
        if cls is not KafkaSourceMessage:  # a subclass may have another layout
            for name, v in zip(
                _SOURCE_FIELDS,
                (key, value, topic, headers or NO_HEADERS, latency, offset, partition, timestamp),
                strict=True,
            ):
                object.__setattr__(self, name, v)
            return
        # Written out (not generated): see the module's docstring.
        _set_attr(self, "__class__", _SourceSlots)
        m: Any = self
        m.key = key
        m.value = value
        m.topic = topic
        m.headers = headers or NO_HEADERS
        m.latency = latency
        m.offset = offset
        m.partition = partition
        m.timestamp = timestamp
        m.__class__ = KafkaSourceMessage

    def to_sink(self) -> KafkaSinkMessage[K, V]:
        """Convert to a message for a sink: key, value, headers and timestamp are kept.

        The topic and partition are not kept: the sink's topic (or the
        message's own, set on the result with :func:`dataclasses.replace`)
        decides where it goes, and the partitioner places it.
        The timestamp is kept when the broker gave one (type > 0).
        """
        ts = self.timestamp
        m: Any = _new(KafkaSinkMessage)
        m._key = self.key
        m._value = self.value
        m._topic = None
        m._headers = self.headers
        m._partition = None
        m._timestamp = ts[1] if ts is not None and ts[0] > 0 and ts[1] > 0 else 0
        sink: KafkaSinkMessage[K, V] = m
        return sink

    def _with_key(self, key: K2) -> KafkaSourceMessage[K2, V]:
        return dataclasses.replace(self, key=key)  # type: ignore[return-value, arg-type]

    def _with_value(self, value: V2) -> KafkaSourceMessage[K, V2]:
        return dataclasses.replace(self, value=value)  # type: ignore[return-value, arg-type]

    def _with_key_and_value(self, key: K2, value: V2) -> KafkaSourceMessage[K2, V2]:
        return dataclasses.replace(self, key=key, value=value)  # type: ignore[return-value, arg-type]


@dataclass(frozen=True, init=False)
class KafkaSinkMessage(Generic[K, V]):
    """A message to write with :class:`~bytewax_kafka.core.KafkaSink`.

    Attributes:
        key: Message key (None for keyless).
        value: Message value (None for a tombstone).
        topic: Destination topic; the sink's topic when None.
        headers: ``(name, value)`` pairs; ``()`` when none (None and an empty
            list are taken as none).
        partition: Destination partition; the partitioner decides when None.
        timestamp: Milliseconds since the epoch; 0 lets the producer set it.

    Example:
        >>> KafkaSinkMessage(key=None, value=b"some_value", topic="out", partition=2)
        KafkaSinkMessage(key=None, value=b'some_value', topic='out', headers=(), partition=2, timestamp=0)
    """

    # The fields live in private slots, read through read-only properties
    # (set below): the constructor fills them with plain stores, the cost of
    # an ordinary class, where a frozen dataclass pays a call per field.
    __slots__ = ("_headers", "_key", "_partition", "_timestamp", "_topic", "_value")

    key: K
    value: V
    topic: str | None = None
    headers: Headers = NO_HEADERS
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
        m: Any = self
        m._key = key
        m._value = value
        m._topic = topic
        m._headers = headers or NO_HEADERS
        m._partition = partition
        m._timestamp = timestamp

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
_set_attr = object.__setattr__
_SOURCE_FIELDS = tuple(f.name for f in dataclasses.fields(KafkaSourceMessage))


class _SourceSlots(Generic[K, V]):
    """Same slots as :class:`KafkaSourceMessage`, writable: built, then given the real class."""

    __slots__ = _SOURCE_FIELDS


def _frozen_setattr(self: object, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def freeze(cls: type) -> type:
    """Make a frozen slotted dataclass refuse every assignment with ``FrozenInstanceError``.

    On Python 3.10-3.12 the ``__setattr__`` that ``dataclass(frozen=True,
    slots=True)`` generates refers to the class it replaced, so an assignment
    of a name that is not a field raises ``TypeError`` instead: typing's
    ``KafkaSinkMessage[bytes, bytes](...)`` sets ``__orig_class__`` and
    crashed. These refuse every name, as a frozen dataclass should.
    """
    cls.__setattr__ = _frozen_setattr  # type: ignore[method-assign, assignment]
    cls.__delattr__ = _frozen_delattr  # type: ignore[method-assign, assignment]
    return cls


for _cls in (KafkaSourceMessage, KafkaError):
    freeze(_cls)


def _read_only(name: str) -> property:
    """A field of :class:`KafkaSinkMessage`: read from its private slot; set once, by construction.

    A second assignment raises ``FrozenInstanceError``. The first is allowed
    so that a frozen dataclass subclass's generated ``__init__`` (which
    assigns every field with ``object.__setattr__``) still works.
    """
    slot = vars(KafkaSinkMessage)[f"_{name}"]
    get = slot.__get__
    put = slot.__set__

    def fset(self: Any, value: Any) -> None:
        try:
            get(self)
        except AttributeError:
            put(self, value)
            return
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def fdel(self: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    return property(attrgetter(f"_{name}"), fset, fdel, f"The message's {name}.")


# Its stores are plain slot writes: no __setattr__ of a frozen dataclass.
del KafkaSinkMessage.__setattr__
del KafkaSinkMessage.__delattr__
for _f in dataclasses.fields(KafkaSinkMessage):
    setattr(KafkaSinkMessage, _f.name, _read_only(_f.name))


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
    """Build a :class:`KafkaSourceMessage` from every field, headers as given.

    Produces exactly what ``KafkaSourceMessage(...)`` would (equal, same
    repr); the source's loop inlines the same steps.
    """
    m: Any = _new(_SourceSlots)
    m.key = key
    m.value = value
    m.topic = topic
    m.headers = headers
    m.latency = latency
    m.offset = offset
    m.partition = partition
    m.timestamp = timestamp
    m.__class__ = KafkaSourceMessage
    msg: KafkaSourceMessage[Any, Any] = m
    return msg


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
