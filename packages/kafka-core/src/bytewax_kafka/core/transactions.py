"""Exactly-once Kafka -> Kafka, and consumer-group commits the broker can see.

All need to know, when a worker's outputs of an epoch are on the broker,
how far that worker's source partitions have been read *in that epoch*. The
pieces that give it (all inserted by ``bytewax_kafka.operators.input`` and
``.output``; see docs/guarantees.md):

- after the source, a ``flat_map_batch`` step turns each batch a worker's
  source emits into one tick holding the next offset of every partition in
  the batch, and an ``op.inspect_debug`` on the ticks records their epoch
  (:mod:`bytewax_kafka.core.epochs`: one look at each item's offset, no
  Python call per item);
- a tiny ``DynamicSink`` (:class:`WorkerIndexSink`) learns each worker
  thread's index when the flow is built, so every worker writes through its
  *own* sink partitions: items never change worker between source and sink,
  as long as the steps between are stateless (map, filter, flat_map,
  branch, ...);
- :class:`KafkaTrackedSink` has two partitions per worker: ``"w<index>"``
  writes the output's messages, ``"t<index>"`` takes the input's ticks, so
  that bytewax snapshots it at the end of every epoch in which the worker
  read something, whether or not this output wrote anything;
- every output sharing a mode writes through the worker's
  :class:`~bytewax_kafka.core.worker_writer.WorkerWriter`, which commits the
  epoch once each of those outputs has closed it: one Kafka transaction
  holding the epoch's outputs and the source offsets up to it
  (:class:`ExactlyOnce`), or a flush and a commit of those offsets to a
  consumer group (:class:`CommitProgress`, and ``ConsumerGroup`` of
  :mod:`bytewax_kafka.core.group`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)
from confluent_kafka import Producer

from bytewax_kafka.core.config import check_add_config, check_addresses, for_producer, make_client, scrub
from bytewax_kafka.core.deadline import bounded
from bytewax_kafka.core.epochs import EpochTracker, Tick
from bytewax_kafka.core.errors import KafkaCallTimeout, KafkaConnectorError, KafkaTransactionError
from bytewax_kafka.core.gc_tuning import tune_gc
from bytewax_kafka.core.sink import _SinkSettings
from bytewax_kafka.core.worker_writer import WorkerWriter

if TYPE_CHECKING:
    from bytewax_kafka.core.group import GroupMember

__all__ = [
    "CommitProgress",
    "EpochTracker",
    "ExactlyOnce",
    "KafkaTrackedSink",
    "KafkaTransactionError",
    "Tick",
    "WorkerIndexSink",
]


class _TrackedMode:
    """What :class:`ExactlyOnce`, :class:`CommitProgress` and ``ConsumerGroup`` share.

    The tracker, and per flow: the outputs sharing the mode (and their
    producer settings, which must agree), the input's tick streams, and the
    writer of each worker.
    """

    transactional = False
    #: Offsets go to the group through the worker's member of it (``ConsumerGroup``).
    group_mode = False

    def __init__(self, group_id: str, commit_timeout: float = 30.0) -> None:
        if not isinstance(group_id, str) or not group_id:
            raise TypeError(f"group_id must be a non-empty str, got {group_id!r}")
        self.group_id = group_id
        self.commit_timeout = float(commit_timeout)
        self.tracker = EpochTracker()
        # Reentrant: a writer made under it asks for the worker's group member.
        self._lock = threading.RLock()
        self._outputs: dict[str, dict[str, tuple[list[str], dict[str, Any]]]] = {}
        self._ticks: dict[str, dict[str, Any]] = {}
        self._writers: dict[tuple[str, int], WorkerWriter] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(group_id={self.group_id!r})"

    def producer_settings(self, worker: int) -> dict[str, Any]:
        """Settings of worker ``worker``'s producer beyond the outputs' own (transactional ones)."""
        return {}

    def member(self, flow_id: str, worker: int) -> GroupMember:
        """The worker's member of the consumer group (consumer-group mode only)."""
        raise KafkaConnectorError(f"{self!r} reads with a static assignment: it has no group members")

    # -- registered when the flow is built -------------------------------------------

    def add_ticks(self, flow_id: str, step_id: str, ticks: Any) -> None:
        """The input ``step_id`` of ``flow_id`` shares this mode: the stream of its ticks."""
        with self._lock:
            self._ticks.setdefault(flow_id, {})[step_id] = ticks

    def ticks(self, flow_id: str) -> list[Any]:
        """The tick streams of the inputs of ``flow_id`` sharing this mode."""
        return list(self._ticks.get(flow_id, {}).values())

    def add_output(
        self, flow_id: str, step_id: str, brokers: Iterable[str], add_config: Mapping[str, Any] | None
    ) -> None:
        """An output of ``flow_id`` sharing this mode; its settings must be those of the others.

        Raises:
            ValueError: When ``brokers`` or ``add_config`` differ from those
                of another output sharing the mode: they write through one
                producer per worker.
        """
        settings = (check_addresses("brokers", brokers), check_add_config(add_config))
        with self._lock:
            outputs = self._outputs.setdefault(flow_id, {})
            for other, theirs in outputs.items():
                if other != step_id and theirs != settings:
                    what = "brokers" if theirs[0] != settings[0] else "add_config"
                    raise ValueError(
                        f"step {step_id!r} shares {self!r} with step {other!r} but has other {what}: "
                        "outputs sharing it write through one producer per worker; give them the "
                        "same brokers and add_config"
                    )
            outputs[step_id] = settings

    def outputs_of(self, flow_id: str) -> int:
        """How many outputs of ``flow_id`` share this mode."""
        return len(self._outputs.get(flow_id, {}))

    # -- at run time --------------------------------------------------------------------

    def writer(self, flow_id: str, worker: int, base: Mapping[str, Any]) -> WorkerWriter:
        """Worker ``worker``'s writer for the outputs of ``flow_id`` (made by the first to ask)."""
        key = (flow_id, worker)
        with self._lock:
            w = self._writers.get(key)
            if w is None or w.closed:
                w = self._writers[key] = WorkerWriter(self, worker, flow_id, base)
            w.acquire()
            return w


class ExactlyOnce(_TrackedMode):
    """Exactly-once Kafka -> Kafka: outputs and consumed offsets in one transaction per epoch.

    Pass the same instance to ``bytewax_kafka.operators.input(...,
    exactly_once=)`` and ``output(..., exactly_once=)``. Each worker writes
    through a transactional producer whose ``transactional.id`` is
    ``"<name>-w<worker index>"`` (stable across restarts with the same worker
    count, so a restarted flow fences the old producer and aborts its open
    transaction); per epoch it commits the epoch's outputs together with the
    source offsets, sent to the consumer group ``name``. Several outputs of
    the flow (``output``, ``dead_letter``) may share it: they write through
    that one producer per worker, and all their records of an epoch commit
    in the same transaction.
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
        >>> kop.dead_letter("dlq", kinp.errs, brokers=b, topic="orders-dlq", exactly_once=eos)
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


def ticks_part(index: int) -> str:
    """The name of worker ``index``'s partition taking the input's ticks."""
    return f"t{index}"


class KafkaTrackedSink(_SinkSettings, FixedPartitionedSink[Any, None]):
    """The sink of exactly-once, commit-progress and consumer-group outputs: two partitions per worker.

    Built by ``bytewax_kafka.operators.output``; not meant to be used alone.
    Takes the same settings as :class:`~bytewax_kafka.core.KafkaSink`, checked
    the same way when the flow is built. Items are ``("w<index>", messages)``
    and ``("t<index>", tick)`` pairs, each routed to its own worker.
    """

    def __init__(
        self,
        brokers: Iterable[str],
        topic: str | None,
        add_config: Mapping[str, Any] | None,
        mode: _TrackedMode,
        *,
        gc_tuning: bool = True,
    ) -> None:
        super().__init__(brokers, topic, add_config, gc_tuning)
        self._mode = mode
        self._order: dict[str, int] = {}

    def __repr__(self) -> str:
        return (
            f"KafkaTrackedSink(brokers={self._brokers!r}, topic={self._topic!r}, mode={self._mode!r}, "
            f"add_config=<{len(self._add_config)} settings>)"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_order"] = {}
        return state

    def list_parts(self) -> list[str]:
        """Only this worker's own partitions: so this worker is their primary."""
        index, _count = self._mode.tracker.worker()
        return [ticks_part(index), _part_name(index)]

    def part_fn(self, item_key: str) -> int:
        """Position of the part among all workers' parts, in bytewax's (sorted) order."""
        order = self._order
        if not order:
            _index, count = self._mode.tracker.worker()
            names = sorted([_part_name(i) for i in range(count)] + [ticks_part(i) for i in range(count)])
            order.update((name, i) for i, name in enumerate(names))
        return order[item_key]

    def build_part(
        self, step_id: str, for_part: str, resume_state: None
    ) -> _ItemsPartition | _TicksPartition:
        """Build this worker's partition; both share the worker's writer (transactional for exactly-once)."""
        index, _count = self._mode.tracker.worker()
        if self._gc_tuning:
            tune_gc()
        flow_id = step_id.split(".", 1)[0]
        output = step_id.rsplit(".", 1)[0]  # the kop.output step
        writer = self._mode.writer(flow_id, index, self.producer_config())
        if for_part.startswith("t"):
            return _TicksPartition(writer, output)
        return _ItemsPartition(writer, self._topic)


class _ItemsPartition(StatefulSinkPartition[Any, None]):
    def __init__(self, writer: WorkerWriter, topic: str | None) -> None:
        self._writer = writer
        self._topic = topic
        self._closed = False

    def write_batch(self, values: list[Any]) -> None:
        self._writer.write(self._topic, values)

    def snapshot(self) -> None:
        return None  # the ticks partition of this output closes the epoch

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.release()


class _TicksPartition(StatefulSinkPartition[Tick, None]):
    def __init__(self, writer: WorkerWriter, output: str) -> None:
        self._writer = writer
        self._output = output
        self._epoch: int | None = None
        self._closed = False

    def write_batch(self, ticks: list[Tick]) -> None:
        epoch = max(t.epoch for t in ticks)
        if self._epoch is None or epoch > self._epoch:
            self._epoch = epoch

    def snapshot(self) -> None:
        # Every item of the epoch has gone through this output's write_batch; none of a later one.
        if self._epoch is not None:
            self._writer.close_epoch(self._output, self._epoch)
            self._epoch = None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.release()
