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
from typing import Any, Protocol
from zlib import adler32

from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)

from bytewax_kafka.core.config import check_add_config, check_addresses
from bytewax_kafka.core.gc_tuning import tune_gc
from bytewax_kafka.core.messages import KafkaSinkMessage, KafkaSourceMessage
from bytewax_kafka.core.producer import DeliveringProducer

SinkItem = KafkaSinkMessage[Any, Any] | KafkaSourceMessage[Any, Any]
#: What a KafkaEpochSink partition takes: messages, or whole batches of them.
EpochItem = SinkItem | list[SinkItem]

#: Sink partitions of a :class:`KafkaEpochSink`; routing keys are spread over them.
EPOCH_SINK_PARTS = 16


def produce_all(producer: DeliveringProducer, values: list[Any]) -> None:
    """Queue messages, and the messages of lists among them (whole batches routed as one item).

    Bytewax calls ``part_fn`` once per item, so :func:`bytewax_kafka.operators.output`
    routes each batch as one list.
    """
    if not values:
        return
    if type(values[0]) is not list:
        producer.produce_batch(values)
        return
    for batch in values:
        producer.produce_batch(batch if type(batch) is list else [batch])


class _SinkSettings:
    def __init__(
        self,
        brokers: Iterable[str],
        topic: str | None,
        add_config: Mapping[str, Any] | None,
        gc_tuning: bool = True,
    ) -> None:
        self._brokers = check_addresses("brokers", brokers)
        if topic is not None and (not isinstance(topic, str) or not topic):
            raise TypeError(f"topic must be a non-empty str or None, got {topic!r}")
        self._topic = topic
        self._add_config = check_add_config(add_config)
        self._gc_tuning = bool(gc_tuning)

    def _producer(self) -> DeliveringProducer:
        """A new producer with these settings (and, once per process, the collector tuned)."""
        if self._gc_tuning:
            tune_gc()
        return DeliveringProducer(self.producer_config(), self._topic)

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
        add_config: librdkafka producer settings merged over ours (see
            :data:`~bytewax_kafka.core.producer.PRODUCER_DEFAULTS`).
        gc_tuning: Tune Python's garbage collector for streaming once the
            flow is built (see :mod:`bytewax_kafka.core.gc_tuning`).

    Example:
        >>> op.output("out", msgs, KafkaSink(["localhost:19092"], "out-topic"))
    """

    def __init__(
        self,
        brokers: Iterable[str],
        topic: str | None,
        add_config: Mapping[str, Any] | None = None,
        *,
        gc_tuning: bool = True,
    ) -> None:
        super().__init__(brokers, topic, add_config, gc_tuning)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _KafkaSinkPartition:
        """One producer per worker."""
        return _KafkaSinkPartition(self._producer())


class _KafkaSinkPartition(StatelessSinkPartition[SinkItem]):
    def __init__(self, producer: DeliveringProducer) -> None:
        self._producer = producer

    def write_batch(self, items: list[SinkItem]) -> None:
        produce_all(self._producer, items)
        self._producer.flush()

    def close(self) -> None:
        self._producer.flush()


class KafkaEpochSink(_SinkSettings, FixedPartitionedSink[EpochItem, None]):
    """Like :class:`KafkaSink`, for keyed streams, waiting for deliveries once per epoch.

    Items are ``(routing_key, message)`` pairs, or ``(routing_key, [messages])``
    to route a whole batch at once (bytewax calls ``part_fn`` per item); the
    routing key only decides which worker writes the messages (messages with
    one routing key are written in order). :func:`bytewax_kafka.operators.output` keys the stream
    for you (with one part per worker, so that messages never move to
    another worker: see :class:`WorkerEpochSink`).

    Bytewax calls a fixed-partitioned sink's ``snapshot()`` for an epoch after
    every item of that epoch has gone through ``write_batch``, and commits the
    epoch only after the snapshot. The producer is flushed there, so all that
    was written in an epoch is on the broker before the epoch's recovery state
    can be committed (at-least-once), with no flush per batch.

    Args:
        brokers: ``host:port`` addresses of the cluster.
        topic: Default topic; with None every message must name its topic.
        add_config: librdkafka producer settings merged over ours.
        gc_tuning: As for :class:`KafkaSink`.

    Example:
        >>> keyed = op.key_on("route", msgs, lambda m: "all")
        >>> op.output("out", keyed, KafkaEpochSink(["localhost:19092"], "out-topic"))
    """

    def __init__(
        self,
        brokers: Iterable[str],
        topic: str | None,
        add_config: Mapping[str, Any] | None = None,
        *,
        gc_tuning: bool = True,
    ) -> None:
        super().__init__(brokers, topic, add_config, gc_tuning)
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
                entry = (self._producer(), [0])
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
        produce_all(self._producer, values)

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


class WorkerIndex(Protocol):
    """Tells the calling worker thread's ``(index, count)`` (learned when the flow is built)."""

    def worker(self) -> tuple[int, int]:
        """``(worker index, worker count)`` of the calling thread."""
        ...


def worker_part(index: int) -> str:
    """The name of worker ``index``'s own sink part."""
    return f"w{index}"


class WorkerEpochSink(KafkaEpochSink):
    """A :class:`KafkaEpochSink` with one part per worker, each listed only by its worker.

    So each worker is the primary of its own part and writes what it emits
    itself: routed with :meth:`routing_key`, no item moves to another
    worker (with 16 shared parts, a batch routed to a part of another
    worker is pickled and sent there). Built by
    :func:`bytewax_kafka.operators.output`, with a ``DynamicSink`` built before
    it that tells ``workers`` each thread's index.
    """

    def __init__(
        self,
        brokers: Iterable[str],
        topic: str | None,
        add_config: Mapping[str, Any] | None,
        workers: WorkerIndex,
        *,
        gc_tuning: bool = True,
    ) -> None:
        super().__init__(brokers, topic, add_config, gc_tuning=gc_tuning)
        self._workers = workers

    def routing_key(self) -> str:
        """The routing key of the calling worker's own part."""
        return worker_part(self._workers.worker()[0])

    def list_parts(self) -> list[str]:
        """Only the calling worker's own part: so this worker is its primary."""
        return [self.routing_key()]

    def part_fn(self, item_key: str) -> int:
        """Position of ``w<index>`` among all workers' parts, in bytewax's (sorted) order."""
        _index, count = self._workers.worker()
        return sorted(worker_part(i) for i in range(count)).index(item_key)
