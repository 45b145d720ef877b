"""Sinks that write to Kafka and never lose a failed delivery silently.

Two forms, same settings:

- :class:`KafkaSink` takes plain streams (``op.output(..., KafkaSink(...))``).
  A bytewax ``DynamicSink`` gets no "epoch complete" call, so to be
  at-least-once under recovery it waits for the deliveries of each batch
  before returning.
- :class:`KafkaEpochSink` takes keyed streams (``(routing key, message)``)
  and waits for deliveries only when bytewax snapshots the epoch, which it
  does after every item of that epoch went through ``write_batch`` and before
  the epoch can be committed: at-least-once without a flush per batch. The
  ``bytewax_kafka.operators.output`` operator uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any
from zlib import adler32

from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)

from bytewax_kafka.core.config import check_add_config, check_addresses
from bytewax_kafka.core.messages import KafkaSinkMessage, KafkaSourceMessage
from bytewax_kafka.core.producer import DeliveringProducer

SinkItem = KafkaSinkMessage[Any, Any] | KafkaSourceMessage[Any, Any]
#: What a KafkaEpochSink partition takes: messages, or whole batches of them.
EpochItem = SinkItem | list[SinkItem]

#: Sink partitions of a :class:`KafkaEpochSink`; routing keys are spread over them.
EPOCH_SINK_PARTS = 16


class _SinkSettings:
    def __init__(
        self, brokers: Iterable[str], topic: str | None, add_config: Mapping[str, Any] | None
    ) -> None:
        self._brokers = check_addresses("brokers", brokers)
        if topic is not None and (not isinstance(topic, str) or not topic):
            raise TypeError(f"topic must be a non-empty str or None, got {topic!r}")
        self._topic = topic
        self._add_config = check_add_config(add_config)

    def producer_config(self) -> dict[str, Any]:
        """Settings the producer is created with (before our defaults are added)."""
        return {"bootstrap.servers": ",".join(self._brokers), **self._add_config}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(brokers={self._brokers!r}, topic={self._topic!r}, "
            f"add_config=<{len(self._add_config)} settings>)"
        )


class KafkaSink(_SinkSettings, DynamicSink[SinkItem]):
    """Write :class:`KafkaSinkMessage` (or :class:`KafkaSourceMessage`) items to Kafka.

    Each message goes to its own ``topic`` (else the sink's), its own
    ``partition`` (else where the ``murmur2_random`` partitioner puts its
    key, as Java clients do), with its timestamp and headers. Every delivery
    report is checked: a failure raises
    :class:`~bytewax_kafka.core.errors.KafkaDeliveryError` naming topic,
    partition and cause.

    Each worker has one producer. ``write_batch`` returns once the batch is
    delivered, so what bytewax's recovery commits is on the broker. For
    throughput prefer :func:`bytewax_kafka.operators.output`, which waits
    once per epoch instead (see :class:`KafkaEpochSink`).

    Args:
        brokers: ``host:port`` addresses of the cluster.
        topic: Default topic; with None every message must name its topic.
        add_config: librdkafka producer settings merged over ours
            (``partitioner=murmur2_random``, ``message.timeout.ms=30000``,
            ``linger.ms=5``).

    Example:
        >>> op.output("out", msgs, KafkaSink(["localhost:19092"], "out-topic"))
    """

    def __init__(
        self,
        brokers: Iterable[str],
        topic: str | None,
        add_config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(brokers, topic, add_config)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _KafkaSinkPartition:
        """One producer per worker."""
        return _KafkaSinkPartition(DeliveringProducer(self.producer_config(), self._topic))


class _KafkaSinkPartition(StatelessSinkPartition[SinkItem]):
    def __init__(self, producer: DeliveringProducer) -> None:
        self._producer = producer

    def write_batch(self, items: list[SinkItem]) -> None:
        self._producer.produce_batch(items)
        self._producer.flush()

    def close(self) -> None:
        self._producer.flush()


class KafkaEpochSink(_SinkSettings, FixedPartitionedSink[EpochItem, None]):
    """Like :class:`KafkaSink`, for keyed streams, waiting for deliveries once per epoch.

    Items are ``(routing_key, message)`` pairs, or ``(routing_key, [messages])``
    to route a whole batch at once (bytewax calls ``part_fn`` per item); the
    routing key only decides which worker writes the messages (messages with
    one routing key are written in order). :func:`bytewax_kafka.operators.output` keys the stream
    for you.

    Bytewax calls a fixed-partitioned sink's ``snapshot()`` for an epoch after
    every item of that epoch has gone through ``write_batch``, and commits the
    epoch only after the snapshot. The producer is flushed there, so all that
    was written in an epoch is on the broker before the epoch's recovery state
    can be committed (at-least-once), with no flush per batch.

    Args:
        brokers: ``host:port`` addresses of the cluster.
        topic: Default topic; with None every message must name its topic.
        add_config: librdkafka producer settings merged over ours.

    Example:
        >>> keyed = op.key_on("route", msgs, lambda m: "all")
        >>> op.output("out", keyed, KafkaEpochSink(["localhost:19092"], "out-topic"))
    """

    def __init__(
        self,
        brokers: Iterable[str],
        topic: str | None,
        add_config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(brokers, topic, add_config)
        self._lock = threading.Lock()
        self._producers: dict[tuple[str, int], tuple[DeliveringProducer, list[int]]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_producers"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def list_parts(self) -> list[str]:
        """A fixed set of parts; any worker can write any topic."""
        return [str(i) for i in range(EPOCH_SINK_PARTS)]

    def part_fn(self, item_key: str) -> int:
        """Route routing keys over the parts (stable across processes and runs)."""
        return adler32(item_key.encode())

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _EpochSinkPartition:
        """Parts built on one worker share that worker's producer."""
        key = (step_id, threading.get_ident())
        with self._lock:
            entry = self._producers.get(key)
            if entry is None:
                entry = (DeliveringProducer(self.producer_config(), self._topic), [0])
                self._producers[key] = entry
            entry[1][0] += 1
        return _EpochSinkPartition(entry[0], entry[1], self, key)

    def _release(self, key: tuple[str, int]) -> None:
        with self._lock:
            entry = self._producers.get(key)
            if entry is not None:
                entry[1][0] -= 1
                if entry[1][0] <= 0:
                    del self._producers[key]


class _EpochSinkPartition(StatefulSinkPartition[EpochItem, None]):
    def __init__(
        self,
        producer: DeliveringProducer,
        users: list[int],
        owner: KafkaEpochSink,
        key: tuple[str, int],
    ) -> None:
        self._producer = producer
        self._owner = owner
        self._key = key
        self._closed = False

    def write_batch(self, values: list[EpochItem]) -> None:
        if values and isinstance(values[0], list):
            # Whole batches routed as one item each (operators.output does):
            # bytewax then calls part_fn once per batch, not per message.
            values = [m for batch in values for m in batch]  # type: ignore[union-attr]
        self._producer.produce_batch(values)

    def snapshot(self) -> None:
        # The epoch is complete for this part: make its writes durable
        # before bytewax may commit the epoch.
        self._producer.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._producer.flush()
        self._owner._release(self._key)
