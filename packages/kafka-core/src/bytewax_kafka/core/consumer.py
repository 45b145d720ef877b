"""The consumer a worker reads all its partitions through, and the loop that turns records into messages.

One librdkafka consumer serves every partition a worker owns (one
connection set and one client thread per worker). ``consume()`` returns
records of all those partitions at once: :meth:`WorkerConsumer.take` turns
them into :class:`~bytewax_kafka.core.KafkaSourceMessage` items as they come
and keeps them per partition until that partition's ``next_batch`` asks.

This is the source's per-message hot path: each record costs the
confluent-kafka accessor calls it needs (error, partition, key, value,
headers, offset, timestamp) and one message built by filling the slots of a
writable twin class and then giving it its real class
(:mod:`bytewax_kafka.core.messages`); error events, rare, are kept as they
came and counted, so a partition's batch without any is handed over as is.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka import KafkaError as CKError

from bytewax_kafka.core.config import make_client, scrub, watch_errors
from bytewax_kafka.core.deadline import Deadlines, bounded, deadline_for
from bytewax_kafka.core.errors import KafkaCallTimeout
from bytewax_kafka.core.logs import drain
from bytewax_kafka.core.messages import NO_HEADERS, KafkaSourceMessage, _new, _SourceSlots

if TYPE_CHECKING:
    from bytewax_kafka.core.source import KafkaSource

log = logging.getLogger("bytewax_kafka.core.source")

#: Longest a consume call may wait for messages to fill a batch (seconds). Bigger
#: batches amortize the engine's per-batch cost; 1 ms bounds the added latency.
WAIT = 0.001
#: Most messages held per partition, in batches, while other partitions are asked.
BACKLOG_BATCHES = 2
#: Seconds a consumer's ``close()`` may take before it is abandoned (with a warning).
_CLOSE_TIMEOUT = 10.0


class PartitionBuffer:
    """What was read for one partition and not yet taken: messages, and raw error events among them."""

    __slots__ = ("events", "items")

    def __init__(self) -> None:
        self.items: list[Any] = []
        #: How many of ``items`` are raw error events (not messages).
        self.events = 0


class WorkerConsumer:
    """One consumer serving every partition a worker owns.

    The backlog held is capped at :data:`BACKLOG_BATCHES` batches per
    partition; past that the consumer is not asked for more until
    partitions take theirs (librdkafka's own prefetch queue is bounded by
    ``queued.max.messages.kbytes``).
    """

    def __init__(self, config: dict[str, Any], timeout: float, batch_size: int) -> None:
        self.down_since: float | None = None
        # librdkafka reports "all brokers down" only to error_cb, never as a
        # consumed event: watch it there (and pass it on to the user's).
        watched, self.errors = watch_errors(config)
        self.config = {**config, "error_cb": self._error_cb(watched["error_cb"])}
        self.consumer: Any = make_client(Consumer, self.config, "consumer")
        self.timeout = timeout
        self.batch_size = batch_size
        self.buffers: dict[tuple[str, int], PartitionBuffer] = {}
        #: The topic of every assigned partition when they share one, else None.
        self._one_topic: str | None = None
        #: Error events of no partition (or of one closed here), for the next taker.
        self.orphans: list[Any] = []
        self.closed = False
        #: The last consume call returned messages.
        self.flowing = False
        #: The source to ask for partition checks, and how often (seconds).
        self.watch: tuple[KafkaSource, float] | None = None
        self.next_check = 0.0
        self._query: Any = None
        #: Blocking calls (look-ups, checks, close) run here under our deadline.
        self.calls = Deadlines("consumer")

    def _error_cb(self, user_cb: Any) -> Any:
        def on_error(err: Any) -> None:
            # Called by librdkafka from within consume()/poll(), on the worker's thread.
            if err.code() == CKError._ALL_BROKERS_DOWN and self.down_since is None:
                self.down_since = time.monotonic()
                log.warning(
                    "every Kafka broker is unreachable (librdkafka retries); the source fails "
                    "if this lasts %.0fs: %s",
                    self.timeout,
                    scrub(str(err), self.config),
                )
            if user_cb is not None:
                user_cb(err)

        return on_error

    def query(self) -> Any:
        """A second consumer for offset look-ups while partitions are built.

        Brokers answer a connection's requests in order, so a look-up sent
        on the fetching consumer's connection waits behind its long-poll
        fetch (up to ``fetch.wait.max.ms``); this one never fetches.
        """
        if self._query is None:
            self._query = make_client(Consumer, self.config, "consumer")
        else:
            drain(self._query)  # log lines of its last look-ups: it never consumes
        return self._query

    def _topics_changed(self) -> None:
        topics = {t for t, _p in self.buffers}
        self._one_topic = next(iter(topics)) if len(topics) == 1 else None

    def add(self, topic: str, partition: int, offset: int) -> None:
        """Start reading ``topic``/``partition`` at ``offset``."""
        self.buffers[(topic, partition)] = PartitionBuffer()
        self._topics_changed()
        self.consumer.incremental_assign([TopicPartition(topic, partition, offset)])

    def remove(self, topic: str, partition: int) -> None:
        """Stop reading a partition; the consumer closes with its last one."""
        self.buffers.pop((topic, partition), None)
        self._topics_changed()
        if self.closed:
            return
        try:
            self.consumer.incremental_unassign([TopicPartition(topic, partition)])
        except Exception as exc:  # the consumer may already be unusable
            log.debug("unassigning %s[%d] failed: %s", topic, partition, exc)
        if not self.buffers:
            self.closed = True
            close_consumer(self.consumer, "the source's consumer", self.calls)
            if self._query is not None:
                drain(self._query)
                close_consumer(self._query, "the source's look-up consumer", self.calls)
                self._query = None
            self.calls.close()

    def maybe_check_partitions(self) -> None:
        """Run the source's partition check when it is due (cheap otherwise)."""
        if self.watch is None:
            return
        now = time.monotonic()
        if now < self.next_check:
            return
        source, interval = self.watch
        self.next_check = now + interval
        source._check_partitions(self.query(), self.calls)

    def take(self, key: tuple[str, int], n: int) -> tuple[list[Any], int]:
        """Up to ``n`` items of partition ``key``, and how many of them are raw error events.

        Items are :class:`KafkaSourceMessage`, in offset order, and error
        events as confluent-kafka gave them. Error events of no partition
        are handed to whichever partition asks next.
        """
        buf = self.buffers[key]
        if len(buf.items) < n and not self.orphans:
            self._fill(key, n)
        if self.orphans:
            out = self.orphans
            self.orphans = []
            return out, len(out)
        items = buf.items
        if len(items) <= n:
            buf.items = []
            events = buf.events
            buf.events = 0
            return items, events
        out = items[:n]
        del items[:n]
        if not buf.events:
            return out, 0
        found = sum(1 for x in out if type(x) is not KafkaSourceMessage)
        buf.events -= found
        return out, found

    def _fill(self, key: tuple[str, int], n: int) -> None:
        # Consume until the asking partition has a batch, the consumer has
        # nothing more, or the backlog held for the other partitions is at
        # its cap; wait (1 ms) only when no partition has anything.
        buffers = self.buffers
        cap = BACKLOG_BATCHES * self.batch_size * len(buffers)
        held = sum(len(b.items) for b in buffers.values())
        asking = buffers[key]
        for _ in range(len(buffers) + 1):
            if held >= cap:
                return
            msgs = self.consumer.consume(self.batch_size * len(buffers), 0.0 if held else WAIT)
            self.flowing = bool(msgs)
            if not msgs:
                return
            held += len(msgs)
            self._route(msgs)
            if len(asking.items) >= n or self.orphans:
                return

    def _route(self, msgs: list[Any]) -> None:
        """Turn consumed records into messages in their partitions' buffers (the hot loop)."""
        buffers = self.buffers
        one_topic = self._one_topic
        new = _new
        slots = _SourceSlots
        cls = KafkaSourceMessage
        empty = NO_HEADERS
        last_t: str | None = None
        last_p = -1
        items: list[Any] | None = None
        for m in msgs:
            if m.error() is None:
                p = m.partition()
                t = m.topic() if one_topic is None else one_topic
                if p != last_p or t != last_t:
                    last_t = t
                    last_p = p
                    b = buffers.get((t, p))
                    items = b.items if b is not None else None
                if items is None:
                    continue  # a late record of a partition closed here: dropped, never emitted
                s: Any = new(slots)
                s.key = m.key()
                s.value = m.value()
                s.topic = t
                s.headers = m.headers() or empty
                s.latency = None
                s.offset = m.offset()
                s.partition = p
                s.timestamp = m.timestamp()
                s.__class__ = cls
                items.append(s)
            else:
                self._route_event(m)

    def _route_event(self, m: Any) -> None:
        t = m.topic()
        p = m.partition()
        b = self.buffers.get((t, p)) if t is not None and p is not None else None
        if b is not None:
            b.items.append(m)
            b.events += 1
        else:
            self.orphans.append(m)  # errors of no partition (or a closed one)


def close_consumer(consumer: Any, what: str, calls: Deadlines | None = None) -> None:
    """Close a consumer under our deadline; one that does not close is abandoned, with a warning."""
    try:
        if calls is None:
            bounded(f"closing {what}", _CLOSE_TIMEOUT, consumer.close)
        else:
            calls.call(f"closing {what}", deadline_for(_CLOSE_TIMEOUT), consumer.close)
    except KafkaCallTimeout as exc:
        log.warning("%s", exc)
