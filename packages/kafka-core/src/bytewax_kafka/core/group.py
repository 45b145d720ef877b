"""Consumer-group mode: replicas share the partitions, Kafka's group coordinator assigns them.

Every worker of every replica (independent ``python -m bytewax.run``
processes, no shared Bytewax cluster) joins one consumer group with its own
consumer, a :class:`GroupMember`; Kafka assigns and rebalances the
partitions (``cooperative-sticky`` unless ``add_config`` says otherwise).
Offsets are committed by that member, from the worker's output side, once
the outputs they led to are on the broker (see
:mod:`bytewax_kafka.core.worker_writer`): never ahead.

Rebalances. The rebalance callbacks run on the worker's thread, inside the
source's ``consume()``, while items read earlier in the epoch may still be
on their way to the outputs. When partitions are revoked:

- at-least-once: offsets whose outputs are flushed but whose commit failed
  earlier are committed; what was read after the last commit is read again
  by the new owner (duplicates, at most about one epoch of those
  partitions), the member itself never commits those partitions again;
- exactly-once: if the worker read anything in the current epoch, the open
  transaction is aborted at once, the epoch's writes still on their way are
  dropped, the member rewinds the partitions it keeps to its last committed
  offsets and reads nothing more until the epoch has closed. The new owner
  starts from the committed offsets, nothing of the epoch was committed:
  no duplicate, nothing lost. A commit the group refuses at the end of an
  epoch (stale member, fenced instance, rebalance in progress: KIP-447's
  fencing through the generation in ``consumer_group_metadata()``) aborts
  the transaction and rewinds the same way.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as CKError

from bytewax_kafka.core.config import make_client, scrub, watch_errors
from bytewax_kafka.core.consumer import close_consumer
from bytewax_kafka.core.deadline import Deadlines, deadline_for
from bytewax_kafka.core.errors import KafkaCallTimeout, KafkaConnectorError
from bytewax_kafka.core.lag import PartitionLag
from bytewax_kafka.core.transactions import _TrackedMode

if TYPE_CHECKING:
    from bytewax_kafka.core.worker_writer import WorkerWriter

log = logging.getLogger("bytewax_kafka.core.group")

__all__ = ["ConsumerGroup", "GroupMember"]

Key = tuple[str, int]


class ConsumerGroup(_TrackedMode):
    """Scale a flow out by starting replicas: Kafka's consumer group shares the partitions among them.

    Pass the same instance to ``bytewax_kafka.operators.input(...,
    consumer_group=)`` and to every ``output`` (and ``dead_letter``) of the
    flow (``consumer_group=``). Run the flow as several independent
    processes (``python -m bytewax.run`` each, e.g. the replicas of a
    Kubernetes deployment): every worker of every replica joins the group
    ``group_id`` and reads the partitions Kafka assigns it; a replica that
    stops or dies hands its partitions over. Offsets are committed to the
    group only once the outputs they led to are on the broker, so the
    group's lag shows in the usual tools and nothing is lost. Bytewax
    recovery is not needed.

    Holds for stateless steps between input and outputs (map, filter,
    flat_map, branch, ...). See docs/guarantees.md for the guarantees, what
    a rebalance costs and the limits.

    Args:
        group_id: The consumer group (``group.id``) every worker of every
            replica joins; offsets are committed to it.
        exactly_once: Commit each epoch's outputs and offsets in one Kafka
            transaction per worker, fenced through the group generation
            (KIP-447): under ``read_committed`` every input's outputs appear
            once, through crashes and rebalances.
        instance_id: A name for this replica, stable across its restarts
            and unique in the group (a StatefulSet pod's name): each worker
            joins as a static member (``group.instance.id`` is
            ``"<instance_id>-w<worker>"``), so a replica restarted within
            ``session.timeout.ms`` takes its partitions back without a
            rebalance, and with ``exactly_once`` its producers
            (``transactional.id`` ``"<group_id>-<instance_id>-w<worker>"``)
            fence what its previous run left open. Without it each process
            gets random ids: a transaction a dead replica left open is
            aborted by the broker after ``transaction_timeout_ms``.
        transaction_timeout_ms: ``transaction.timeout.ms`` of the
            exactly-once producers.
        commit_timeout: Seconds each commit (and each transactional call)
            may take before it counts as failed.

    Example:
        >>> group = ConsumerGroup("orders-enricher")
        >>> kinp = kop.input("in", flow, brokers=b, topics=["orders"], consumer_group=group)
        >>> kop.output("out", kinp.oks, brokers=b, topic="enriched", consumer_group=group)
    """

    group_mode = True

    def __init__(
        self,
        group_id: str,
        *,
        exactly_once: bool = False,
        instance_id: str | None = None,
        transaction_timeout_ms: int = 60000,
        commit_timeout: float = 30.0,
    ) -> None:
        super().__init__(group_id, commit_timeout)
        if instance_id is not None and (not isinstance(instance_id, str) or not instance_id):
            raise TypeError(f"instance_id must be a non-empty str or None, got {instance_id!r}")
        self.transactional = bool(exactly_once)
        self.instance_id = instance_id
        #: Names this process in transactional ids: the instance, else random per process.
        self.instance = instance_id or uuid.uuid4().hex[:12]
        self.transaction_timeout_ms = int(transaction_timeout_ms)
        self._members: dict[tuple[str, int], GroupMember] = {}

    def __repr__(self) -> str:
        eos = ", exactly_once=True" if self.transactional else ""
        return f"ConsumerGroup({self.group_id!r}{eos})"

    def producer_settings(self, worker: int) -> dict[str, Any]:
        """Transactional settings of worker ``worker``'s producer (exactly-once only)."""
        if not self.transactional:
            return {}
        return {
            "transactional.id": f"{self.group_id}-{self.instance}-w{worker}",
            "transaction.timeout.ms": self.transaction_timeout_ms,
        }

    def consumer_settings(self, worker: int) -> dict[str, Any]:
        """Group settings of worker ``worker``'s member consumer."""
        conf: dict[str, Any] = {"group.id": self.group_id}
        if self.instance_id is not None:
            conf["group.instance.id"] = f"{self.instance_id}-w{worker}"
        if self.transactional:
            conf["isolation.level"] = "read_committed"
        return conf

    def join(self, flow_id: str, worker: int, member: GroupMember) -> None:
        """Register worker ``worker``'s member (its source was built)."""
        with self._lock:
            self._members[(flow_id, worker)] = member

    def member(self, flow_id: str, worker: int) -> GroupMember:
        """Worker ``worker``'s member of the group, for its outputs."""
        with self._lock:
            m = self._members.get((flow_id, worker))
        if m is None or m.closed:
            raise KafkaConnectorError(
                f"worker {worker} of flow {flow_id!r} has no member of group {self.group_id!r}: give the "
                "same ConsumerGroup to bytewax_kafka.operators.input(..., consumer_group=) and its outputs"
            )
        return m


class GroupMember:
    """One worker's consumer in the group: it reads, commits, and handles rebalances.

    Built by the worker's ``KafkaGroupSource`` partition; its outputs' writer
    commits through it. Everything runs on the worker's thread (rebalance
    callbacks inside ``consume()``); blocking calls run under our deadline.

    Args:
        group: The group mode.
        worker: The worker's index.
        config: The consumer's settings.
        topics: Topics (or ``^patterns``) to subscribe to.
        step_id: The source step (labels of the lag gauges).
        stall_after: See :class:`~bytewax_kafka.core.lag.PartitionLag`.
    """

    def __init__(
        self,
        group: ConsumerGroup,
        worker: int,
        config: Mapping[str, Any],
        topics: list[str],
        step_id: str,
        stall_after: float | None,
    ) -> None:
        self.group = group
        self.worker = worker
        self.transactional = group.transactional
        self.step_id = step_id
        self.stall_after = stall_after
        self.down_since: float | None = None
        watched, self.errors = watch_errors(config)
        user_cb = watched["error_cb"]

        def on_error(err: Any) -> None:
            if err.code() == CKError._ALL_BROKERS_DOWN and self.down_since is None:
                self.down_since = time.monotonic()
            user_cb(err)

        self.config = {**config, "error_cb": on_error}
        self.consumer: Any = make_client(Consumer, self.config, "consumer")
        self.calls = Deadlines("group consumer")
        self.assigned: set[Key] = set()
        #: Where each partition is read again from after an abort: last committed, or first read.
        self.base: dict[Key, int] = {}
        #: At-least-once: offsets whose outputs are flushed but whose commit failed.
        self.pending: dict[Key, int] = {}
        self.lags: dict[Key, PartitionLag] = {}
        #: Partitions that reached their end (``tail=False``).
        self.ended: set[Key] = set()
        self.assigned_once = False
        self.empty_since: float | None = None
        self.writer: WorkerWriter | None = None
        #: The source emitted items since the last epoch close.
        self.emitted = False
        #: Exactly-once: the epoch was aborted; emit nothing until it closes.
        self.hold = False
        self._discard_next = False
        self.rewind_requested = False
        #: Partitions were revoked during the last consume call.
        self.revoked_now = False
        self._users = 1
        self.closing = False
        self.closed = False
        self._lock = threading.Lock()
        self.consumer.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )

    def __repr__(self) -> str:
        return (
            f"GroupMember(group={self.group.group_id!r}, worker={self.worker}, assigned={len(self.assigned)})"
        )

    # -- rebalance callbacks (worker thread, inside consume) --------------------------------

    def _on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        if self.closing:
            return
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self.assigned.add(key)
            self.ended.discard(key)
            if key not in self.lags:
                self.lags[key] = PartitionLag(self.step_id, tp.topic, tp.partition, self.stall_after)
        self.assigned_once = True
        self.empty_since = time.monotonic() if not self.assigned else None
        if partitions:
            log.info(
                "worker %d of group %r: assigned %s", self.worker, self.group.group_id, _names(partitions)
            )

    def _on_revoke(self, _consumer: Any, partitions: list[Any]) -> None:
        if not self.closing:
            self._revoked(partitions, lost=False)

    def _on_lost(self, _consumer: Any, partitions: list[Any]) -> None:
        if not self.closing:
            self._revoked(partitions, lost=True)

    def _revoked(self, partitions: list[Any], *, lost: bool) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        how = "lost (the member was no longer in the group)" if lost else "revoked"
        log.info("worker %d of group %r: %s %s", self.worker, self.group.group_id, how, _names(partitions))
        if not self.transactional and not lost:
            flushed = {k: off for k, off in self.pending.items() if k in keys}
            if flushed:
                self._commit_offsets(flushed, "on revoke")
        elif self.transactional and self.emitted and keys & self.assigned:
            why = f"partitions {how} in the middle of an epoch"
            if self.writer is not None:
                self.writer.abort_epoch(why)
            else:
                self._discard_next = True  # nothing written yet: the writer drops the epoch
            self.hold = True
            self.rewind_requested = True
        for key in keys:
            self.assigned.discard(key)
            self.base.pop(key, None)
            self.pending.pop(key, None)
            self.ended.discard(key)
            lag = self.lags.pop(key, None)
            if lag is not None:
                lag.remove()
        if not self.assigned:
            self.empty_since = time.monotonic()
        self.revoked_now = True

    # -- used by the source partition ------------------------------------------------------

    def rewind(self, dropped: Mapping[Key, int] | None = None) -> None:
        """Read every partition kept again from its last committed (or first read) offset.

        Args:
            dropped: First offsets of records just consumed and dropped, for
                partitions read for the first time (no offset of theirs is known).
        """
        self.rewind_requested = False
        targets = {**(dropped or {}), **self.base}
        for key in sorted(self.assigned & set(targets)):
            tp = TopicPartition(key[0], key[1], targets[key])
            try:
                self.calls.call(
                    f"seeking topic {key[0]!r} partition {key[1]} back to offset {tp.offset}",
                    deadline_for(10.0),
                    self.consumer.seek,
                    tp,
                )
            except KafkaCallTimeout:
                raise
            except Exception as exc:  # not fetched yet: it starts from the committed offset anyway
                log.debug("seek of %s[%d] failed: %s", key[0], key[1], exc)

    # -- used by the writer ----------------------------------------------------------------

    def attach(self, writer: WorkerWriter) -> None:
        """The worker's writer commits through this member (until it releases it)."""
        with self._lock:
            self.writer = writer
            self._users += 1
        if self._discard_next:
            self._discard_next = False
            writer.discarding = True

    def owned(self, positions: Mapping[Key, int]) -> dict[Key, int]:
        """The positions of partitions this member holds now (the others have another owner)."""
        return {k: off for k, off in positions.items() if k in self.assigned}

    def commit_flushed(self, positions: Mapping[Key, int]) -> None:
        """At-least-once: commit flushed offsets; a refusal keeps them for the next commit."""
        merged = dict(self.pending)
        for key, off in positions.items():
            if merged.get(key, -1) < off:
                merged[key] = off
        merged = self.owned(merged)
        if merged:
            self._commit_offsets(merged, "after the epoch")

    def _commit_offsets(self, offsets: Mapping[Key, int], when: str) -> None:
        tps = [TopicPartition(t, p, off) for (t, p), off in sorted(offsets.items())]
        try:
            self.calls.call(
                "committing offsets to the consumer group",
                deadline_for(self.group.commit_timeout),
                self.consumer.commit,
                offsets=tps,
                asynchronous=False,
            )
        except (KafkaException, KafkaCallTimeout) as exc:
            for key, off in offsets.items():
                if self.pending.get(key, -1) < off:
                    self.pending[key] = off
            log.warning(
                "worker %d: group %r did not take the commit %s (%s); it is tried again with the next "
                "one, or the partitions' next owner reads those records again",
                self.worker,
                self.group.group_id,
                when,
                scrub(str(exc), self.config),
            )
            return
        for key in offsets:
            self.pending.pop(key, None)
        self.note_committed(offsets)

    def note_committed(self, positions: Mapping[Key, int]) -> None:
        """These offsets are committed: an abort reads again from there."""
        for key, off in positions.items():
            if key in self.assigned:
                self.base[key] = off

    def epoch_closed(self) -> None:
        """The worker's outputs closed an epoch (committed, or dropped after an abort)."""
        self.emitted = False
        self.hold = False

    # -- lifetime -----------------------------------------------------------------------------

    def release(self) -> None:
        """The source or the writer is done; the last one closes the consumer (it leaves the group)."""
        with self._lock:
            self._users -= 1
            if self._users > 0 or self.closed:
                return
            self.closed = True
        self.closing = True
        for lag in self.lags.values():
            lag.remove()
        self.lags.clear()
        close_consumer(self.consumer, "the group member's consumer", self.calls)
        self.calls.close()


def _names(partitions: list[Any]) -> str:
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return "; ".join(f"{t} {sorted(ps)}" for t, ps in sorted(by_topic.items())) or "nothing"
