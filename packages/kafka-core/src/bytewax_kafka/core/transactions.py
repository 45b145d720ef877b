"""Exactly-once Kafka -> Kafka, and consumer-group commits the broker can see.

Both need to know, when a worker's outputs of an epoch are on the broker,
how far that worker's source partitions have been read *in that epoch*. The
pieces that give it (all inserted by ``bytewax_kafka.operators.input`` and
``.output``; see docs/guarantees.md):

- after the source, ``op.inspect_debug`` records, per worker and epoch, the
  next offset of every source partition (:meth:`EpochTracker.record_source`);
- before the sink, ``op.inspect_debug`` records the epoch of each item
  (:meth:`EpochTracker.record_item`);
- a tiny ``DynamicSink`` (:class:`WorkerIndexSink`) learns each worker
  thread's index when the flow is built, so every worker writes through its
  *own* sink partition (``"w<index>"``): items never change worker between
  source and sink, as long as the steps between are stateless (map, filter,
  flat_map, branch, ...);
- :class:`KafkaTrackedSink` writes, and when bytewax snapshots epoch ``N``
  (after every item of ``N`` went through ``write_batch``, before any item of
  ``N + 1`` does) it either commits one Kafka transaction holding the epoch's
  outputs and the source offsets up to ``N`` (:class:`ExactlyOnce`), or
  flushes and then commits those offsets to a consumer group
  (:class:`CommitProgress`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)
from confluent_kafka import Consumer, Producer, TopicPartition

from bytewax_kafka.core.config import (
    for_consumer,
    for_producer,
    make_client,
    scrub,
)
from bytewax_kafka.core.deadline import Deadlines, bounded, deadline_for
from bytewax_kafka.core.errors import KafkaCallTimeout, KafkaConnectorError, KafkaTransactionError
from bytewax_kafka.core.gc_tuning import tune_gc
from bytewax_kafka.core.messages import KafkaSinkMessage
from bytewax_kafka.core.producer import DeliveringProducer
from bytewax_kafka.core.sink import _SinkSettings, produce_all

log = logging.getLogger(__name__)

__all__ = [
    "CommitProgress",
    "EpochTracker",
    "ExactlyOnce",
    "KafkaTrackedSink",
    "KafkaTransactionError",
    "WorkerIndexSink",
]

Position = dict[tuple[str, int], int]


class EpochTracker:
    """What each worker read per epoch, and which epoch each output item belongs to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: thread ident -> (worker index, worker count)
        self.workers: dict[int, tuple[int, int]] = {}
        #: worker index -> epoch -> (topic, partition) -> next offset
        self.source: dict[int, dict[int, Position]] = {}
        #: id(item) -> epoch, between the inspect before the sink and write_batch
        self.item_epochs: dict[int, int] = {}

    # -- recorded by the flow ---------------------------------------------------

    def register_worker(self, index: int, count: int) -> None:
        """Remember the calling thread's worker index (from a DynamicSink build)."""
        with self._lock:
            self.workers[threading.get_ident()] = (index, count)

    def record_source(self, _step_id: str, item: Any, epoch: int, worker: int) -> None:
        """``op.inspect_debug`` callback after the source."""
        if type(item) is list:  # a batch (input(..., batches=True)): one partition, in offset order
            item = item[-1]
        msg = getattr(item, "msg", item)  # KafkaError items carry the message
        offset = msg.offset
        if offset is None or offset < 0 or msg.partition is None or msg.topic is None:
            return
        key = (msg.topic, msg.partition)
        by_epoch = self.source.get(worker)
        if by_epoch is None:
            with self._lock:
                by_epoch = self.source.setdefault(worker, {})
        pos = by_epoch.get(epoch)
        if pos is None:
            pos = by_epoch.setdefault(epoch, {})
        if pos.get(key, -1) <= offset:
            pos[key] = offset + 1

    def record_item(self, _step_id: str, item: Any, epoch: int, _worker: int) -> None:
        """``op.inspect_debug`` callback just before the sink."""
        self.item_epochs[id(item)] = epoch

    # -- read by the sink ---------------------------------------------------------

    def worker(self) -> tuple[int, int]:
        """(index, count) of the calling worker thread."""
        try:
            return self.workers[threading.get_ident()]
        except KeyError:
            raise KafkaConnectorError(
                "exactly-once/commit-progress outputs must be written with "
                "bytewax_kafka.operators.output(..., exactly_once=/commit_progress=): the worker "
                "of this thread is unknown"
            ) from None

    def epoch_of(self, item: Any) -> int:
        """The epoch recorded for ``item`` (and forget it)."""
        return self.item_epochs.pop(id(item))

    def positions_upto(self, worker: int, epoch: int) -> Position:
        """Next offsets of ``worker``'s source partitions after ``epoch``; forgets older epochs."""
        by_epoch = self.source.get(worker, {})
        out: Position = {}
        for e in sorted(e for e in list(by_epoch) if e <= epoch):
            for key, off in by_epoch.pop(e).items():
                if out.get(key, -1) < off:
                    out[key] = off
        return out

    def positions_all(self, worker: int) -> Position:
        """Next offsets after every epoch recorded for ``worker`` (at the end of the input)."""
        return self.positions_upto(worker, 2**63)


class _TrackedMode:
    """Shared settings of :class:`ExactlyOnce` and :class:`CommitProgress`."""

    transactional = False

    def __init__(self, group_id: str, commit_timeout: float = 30.0) -> None:
        if not isinstance(group_id, str) or not group_id:
            raise TypeError(f"group_id must be a non-empty str, got {group_id!r}")
        self.group_id = group_id
        self.commit_timeout = float(commit_timeout)
        self.tracker = EpochTracker()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(group_id={self.group_id!r})"


class ExactlyOnce(_TrackedMode):
    """Exactly-once Kafka -> Kafka: outputs and consumed offsets in one transaction per epoch.

    Pass the same instance to ``bytewax_kafka.operators.input(...,
    exactly_once=)`` and ``output(..., exactly_once=)``. Each worker writes
    through a transactional producer whose ``transactional.id`` is
    ``"<name>-w<worker index>"`` (one output per ``ExactlyOnce``; stable across restarts with
    the same worker count, so a restarted flow fences the old producer and
    aborts its open transaction); per epoch it commits the epoch's outputs
    together with the source offsets, sent to the consumer group ``name``.
    The source resumes from that group's committed offsets. Read the output
    with ``isolation.level=read_committed``.

    Holds for stateless steps between input and output (map, filter,
    flat_map, branch, ...): stateful operators move items between workers
    and keep state that is not part of the transaction. See
    docs/guarantees.md for the exact guarantee and its limits.

    Args:
        name: Names the consumer group and prefixes the transactional ids;
            keep it stable across restarts and unique per flow.
        transaction_timeout_ms: ``transaction.timeout.ms`` of the producers:
            how long a transaction left open by a crashed run blocks
            ``read_committed`` readers if nothing fences it.
        commit_timeout: Seconds each transactional call (``init_transactions``,
            ``send_offsets_to_transaction``, ``commit_transaction``,
            ``abort_transaction``) may take; one that has not returned two
            seconds later fails the flow with ``KafkaTransactionError``,
            whatever librdkafka does.

    Example:
        >>> eos = ExactlyOnce("orders-enricher")
        >>> kinp = kop.input("in", flow, brokers=b, topics=["orders"], exactly_once=eos)
        >>> kop.output("out", kinp.oks, brokers=b, topic="enriched", exactly_once=eos)
    """

    transactional = True

    def __init__(
        self, name: str, *, transaction_timeout_ms: int = 60000, commit_timeout: float = 30.0
    ) -> None:
        super().__init__(name, commit_timeout)
        self.name = name
        self.transaction_timeout_ms = int(transaction_timeout_ms)
        self._fenced: set[int] = set()

    def producer_settings(self, worker: int) -> dict[str, Any]:
        """Transactional settings of worker ``worker``'s producer."""
        return {
            "transactional.id": f"{self.name}-{_part_name(worker)}",
            "transaction.timeout.ms": self.transaction_timeout_ms,
        }

    def fence(self, config: Mapping[str, Any]) -> None:
        """Fence the calling worker's producer of an earlier run, once per run.

        Called by the source before it reads committed offsets: a run killed
        between sending offsets and committing leaves them pending, and the
        broker answers offset reads only once that transaction is aborted,
        which fencing does at once (else ``transaction_timeout_ms`` later).
        """
        index, _count = self.tracker.worker()
        if index in self._fenced:
            return
        conf = {**for_producer(config), **self.producer_settings(index)}
        producer = make_client(Producer, conf, "producer")
        what = "fencing the transactions of an earlier run (init_transactions)"
        try:
            bounded(what, self.commit_timeout, producer.init_transactions, self.commit_timeout)
        except KafkaCallTimeout as exc:
            raise KafkaTransactionError(
                f"worker {index}: {what} for {self.name!r} did not return within {exc.elapsed:.1f}s "
                f"(commit_timeout={self.commit_timeout:g}s): {exc}"
            ) from None
        except Exception as exc:
            raise KafkaTransactionError(
                f"worker {index}: fencing the transactions of an earlier run failed for "
                f"{self.name!r}: {scrub(str(exc), conf)}"
            ) from None
        producer.flush(0)
        self._fenced.add(index)


class CommitProgress(_TrackedMode):
    """Commit what the flow has written back to a consumer group after each epoch.

    So that ``kafka-consumer-groups``, lag exporters and Redpanda Console show
    the flow's progress. Offsets are committed only once the outputs that
    came from them are on the broker: never ahead of what was processed.
    Bytewax recovery stays the source of truth for where the flow resumes.

    Args:
        group_id: Consumer group to commit to.
        commit_timeout: Seconds to wait for the flush before a commit.

    Example:
        >>> progress = CommitProgress("orders-enricher")
        >>> kinp = kop.input("in", flow, brokers=b, topics=["orders"], commit_progress=progress)
        >>> kop.output("out", kinp.oks, brokers=b, topic="enriched", commit_progress=progress)
    """


class _WorkerIndexPartition(StatelessSinkPartition[Any]):
    def write_batch(self, items: list[Any]) -> None:
        return None


class WorkerIndexSink(DynamicSink[Any]):
    """Learns each worker thread's index when the flow is built; writes nothing."""

    def __init__(self, tracker: EpochTracker) -> None:
        self._tracker = tracker

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _WorkerIndexPartition:
        """Record the calling thread's worker index."""
        self._tracker.register_worker(worker_index, worker_count)
        return _WorkerIndexPartition()


def _part_name(index: int) -> str:
    return f"w{index}"


class KafkaTrackedSink(_SinkSettings, FixedPartitionedSink[KafkaSinkMessage[Any, Any], None]):
    """The sink of exactly-once and commit-progress outputs: one partition per worker.

    Built by ``bytewax_kafka.operators.output``; not meant to be used alone.
    Takes the same settings as :class:`~bytewax_kafka.core.KafkaSink`, checked
    the same way when the flow is built.
    """

    def __init__(
        self,
        brokers: Iterable[str],
        topic: str | None,
        add_config: Mapping[str, Any] | None,
        mode: ExactlyOnce | CommitProgress,
        *,
        gc_tuning: bool = True,
    ) -> None:
        super().__init__(brokers, topic, add_config, gc_tuning)
        self._mode = mode

    def __repr__(self) -> str:
        return (
            f"KafkaTrackedSink(brokers={self._brokers!r}, topic={self._topic!r}, mode={self._mode!r}, "
            f"add_config=<{len(self._add_config)} settings>)"
        )

    def list_parts(self) -> list[str]:
        """Only this worker's own partition: so this worker is its primary."""
        index, _count = self._mode.tracker.worker()
        return [_part_name(index)]

    def part_fn(self, item_key: str) -> int:
        """Position of ``w<index>`` among all workers' partitions, in bytewax's (sorted) order."""
        _index, count = self._mode.tracker.worker()
        return sorted(_part_name(i) for i in range(count)).index(item_key)

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _TrackedPartition:
        """Build this worker's writer (transactional for exactly-once)."""
        index, _count = self._mode.tracker.worker()
        if self._gc_tuning:
            tune_gc()
        return _TrackedPartition(step_id, index, self.producer_config(), self._topic, self._mode)


class _TrackedPartition(StatefulSinkPartition[KafkaSinkMessage[Any, Any], None]):
    def __init__(
        self,
        step_id: str,
        worker: int,
        base: dict[str, Any],
        topic: str | None,
        mode: ExactlyOnce | CommitProgress,
    ) -> None:
        self._worker = worker
        self._mode = mode
        self._tracker = mode.tracker
        self._epoch: int | None = None
        conf = dict(base)
        self._group = make_client(
            Consumer,
            {**for_consumer(conf), "group.id": mode.group_id, "enable.auto.commit": False},
            "consumer",
        )
        self._config = conf
        if isinstance(mode, ExactlyOnce):
            conf = {**conf, **mode.producer_settings(worker)}
        self._producer = DeliveringProducer(conf, topic)
        #: The producer's helper thread: transactional calls run there under our deadline.
        self._calls: Deadlines = self._producer.calls
        #: A transactional call overran: the producer is unusable, nothing more is committed.
        self._stuck: str | None = None
        self._tx = mode.transactional
        if self._tx:
            p = self._producer.producer
            timeout = mode.commit_timeout
            self._call("initialising transactions (fencing earlier runs)", p.init_transactions, timeout)
            self._call("beginning a transaction", p.begin_transaction)

    def _call(self, what: str, fn: Any, *args: Any) -> None:
        """A transactional call under our deadline: ``commit_timeout`` plus the grace."""
        name = getattr(fn, "__name__", "call")
        if self._stuck is not None:
            raise KafkaTransactionError(
                f"worker {self._worker}: {what} ({name}) not attempted for group "
                f"{self._mode.group_id!r}: {self._stuck} earlier never returned"
            )
        timeout = self._mode.commit_timeout
        try:
            self._calls.call(f"{what} ({name})", deadline_for(timeout), fn, *args)
        except KafkaCallTimeout as exc:
            self._stuck = name
            raise KafkaTransactionError(
                f"worker {self._worker}: {what} ({name}) did not return within {exc.elapsed:.1f}s "
                f"(commit_timeout={timeout:g}s) for group {self._mode.group_id!r}; librdkafka ignored "
                "its timeout. The flow stops: restarted, it fences this producer, the open "
                "transaction is aborted and nothing is lost or written twice"
            ) from None
        except Exception as exc:
            text = scrub(str(exc), self._config)
            raise KafkaTransactionError(
                f"worker {self._worker}: {what} failed for group {self._mode.group_id!r}: {text}"
            ) from None

    def write_batch(self, values: list[KafkaSinkMessage[Any, Any]]) -> None:
        if values:
            epoch_of = self._tracker.epoch_of
            epoch = max(epoch_of(v) for v in values)
            if self._epoch is None or epoch > self._epoch:
                self._epoch = epoch
        produce_all(self._producer, values)

    def _offsets(self, positions: Mapping[tuple[str, int], int]) -> list[TopicPartition]:
        return [TopicPartition(t, p, off) for (t, p), off in sorted(positions.items())]

    def _commit(self, positions: Mapping[tuple[str, int], int]) -> None:
        offsets = self._offsets(positions)
        if self._tx:
            p = self._producer.producer
            self._producer.check()  # a failed delivery must not be committed
            if offsets:
                meta = self._group.consumer_group_metadata()
                self._call(
                    "sending offsets to the transaction",
                    p.send_offsets_to_transaction,
                    offsets,
                    meta,
                    self._mode.commit_timeout,
                )
            self._call("committing the transaction", p.commit_transaction, self._mode.commit_timeout)
            self._producer.check()
            self._call("beginning a transaction", p.begin_transaction)
        else:
            self._producer.flush()
            if offsets:
                try:
                    self._calls.call(
                        "committing progress to the consumer group",
                        deadline_for(self._mode.commit_timeout),
                        self._group.commit,
                        offsets=offsets,
                        asynchronous=False,
                    )
                except Exception as exc:  # monitoring only: never fail the flow for it
                    log.warning("committing progress to group %r failed: %s", self._mode.group_id, exc)

    def snapshot(self) -> None:
        # Every item of epoch self._epoch has been written; none of a later one.
        if self._epoch is None:
            return
        self._commit(self._tracker.positions_upto(self._worker, self._epoch))
        self._epoch = None

    def close(self) -> None:
        # End of the input: every epoch is complete.
        try:
            if self._stuck is None:
                self._commit(self._tracker.positions_all(self._worker))
                if self._tx:
                    self._call(
                        "closing the transaction",
                        self._producer.producer.abort_transaction,
                        self._mode.commit_timeout,
                    )
        finally:
            try:
                self._calls.call("closing the group consumer", deadline_for(10.0), self._group.close)
            except KafkaCallTimeout as exc:
                log.warning("%s", exc)
