"""One writer per worker for every output sharing a tracked mode, and its commit per epoch.

Outputs that share an :class:`~bytewax_kafka.core.ExactlyOnce`, a
:class:`~bytewax_kafka.core.CommitProgress` or a
:class:`~bytewax_kafka.core.ConsumerGroup` (``kop.output`` and
``kop.dead_letter`` steps of one flow) write, on each worker, through one
:class:`WorkerWriter`: one producer (transactional for exactly-once), so all
their records and the consumed offsets commit together.

Bytewax calls each output's ``snapshot`` separately, and only for sink
partitions that were written to in the epoch. So every output also gets the
input's *ticks* (one per batch the worker's input emitted, carrying the
epoch; see :mod:`bytewax_kafka.core.transactions`) on a partition of its own:
each output that shares the writer closes every epoch in which the worker
read anything, and the epoch commits when the last of them has closed it.
Bytewax lets an input emit items of epoch ``N + 1`` only once every output
has finished epoch ``N``, so nothing of the next epoch is written before
that commit.

The commit of an epoch, by mode:

- ``ExactlyOnce``: the consumed offsets are sent to the transaction (with
  the group metadata of a consumer of group ``name``), the transaction is
  committed and the next one begun.
- ``CommitProgress``: the producer is flushed, then the offsets are
  committed to the group (a failure is logged).
- ``ConsumerGroup``: the same, through the worker's member of the group (the
  consumer that reads, so the group generation fences a stale member):
  flush then commit (at-least-once), or ``send_offsets_to_transaction`` with
  that member's ``consumer_group_metadata()`` (exactly-once, KIP-447). A
  commit the group refuses (the member is stale, a rebalance is on) is
  handled: at-least-once keeps the offsets for the next commit; exactly-once
  aborts the transaction and the member reads again from its last
  committed offsets (:mod:`bytewax_kafka.core.group`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from bytewax_kafka.core.config import for_consumer, make_client, scrub
from bytewax_kafka.core.deadline import Deadlines, deadline_for
from bytewax_kafka.core.errors import KafkaCallTimeout, KafkaTransactionError
from bytewax_kafka.core.producer import PRODUCER_DEFAULTS, DeliveringProducer
from bytewax_kafka.core.sink import produce_all

if TYPE_CHECKING:
    from bytewax_kafka.core.group import GroupMember
    from bytewax_kafka.core.transactions import _TrackedMode

log = logging.getLogger("bytewax_kafka.core.transactions")

__all__ = ["WorkerWriter"]

Position = Mapping[tuple[str, int], int]


def _offsets(positions: Position) -> list[TopicPartition]:
    return [TopicPartition(t, p, off) for (t, p), off in sorted(positions.items())]


class WorkerWriter:
    """The producer and epoch commits of one worker, shared by every output of one mode.

    Built by the first sink partition of those outputs on the worker (see
    :meth:`bytewax_kafka.core.transactions.ExactlyOnce.writer`).

    Args:
        mode: The shared mode.
        worker: The worker's index.
        flow_id: The flow (its outputs sharing ``mode`` are counted per flow).
        base: Producer settings (``bootstrap.servers`` and ``add_config``).
    """

    def __init__(self, mode: _TrackedMode, worker: int, flow_id: str, base: Mapping[str, Any]) -> None:
        self.mode = mode
        self.worker = worker
        self.flow_id = flow_id
        self.tracker = mode.tracker
        #: Outputs sharing this writer: an epoch commits once each has closed it.
        self.expected = mode.outputs_of(flow_id)
        self._closing: dict[int, set[str]] = {}
        self._users = 0
        self.closed = False
        #: A transactional call overran: the producer is unusable, nothing more is committed.
        self._stuck: str | None = None
        #: The epoch's writes were aborted (its member lost partitions): drop writes until it closes.
        self.discarding = False
        self._config = dict(base)
        self.member: GroupMember | None = None
        self._group: Any = None
        if mode.group_mode:
            self.member = mode.member(flow_id, worker)
            self.member.attach(self)
        else:
            self._group = make_client(
                Consumer,
                {**for_consumer(self._config), "group.id": mode.group_id, "enable.auto.commit": False},
                "consumer",
            )
        conf = {**self._config, **mode.producer_settings(worker)} if mode.transactional else self._config
        tx_ms = conf.get("transaction.timeout.ms")
        if tx_ms is not None and "message.timeout.ms" not in conf and "delivery.timeout.ms" not in conf:
            # Our default message timeout must not exceed a shorter transaction timeout
            # (librdkafka refuses the producer); librdkafka's own default adapts the same way.
            conf = {**conf, "message.timeout.ms": min(int(tx_ms), PRODUCER_DEFAULTS["message.timeout.ms"])}
        self._producer_conf = conf
        self.producer = DeliveringProducer(conf, None)
        #: The producer's helper thread: transactional calls run there under our deadline.
        self.calls: Deadlines = self.producer.calls
        if mode.transactional:
            self._begin_transactions("initialising transactions (fencing earlier runs)")

    def _begin_transactions(self, what: str) -> None:
        p = self.producer.producer
        self._call(what, p.init_transactions, self.mode.commit_timeout)
        self._call("beginning a transaction", p.begin_transaction)

    def __repr__(self) -> str:
        return f"WorkerWriter(worker={self.worker}, mode={self.mode!r}, outputs={self.expected})"

    # -- used by the sink partitions ---------------------------------------------

    def acquire(self) -> None:
        """A sink partition uses this writer (until :meth:`release`)."""
        self._users += 1

    def write(self, topic: str | None, values: list[Any]) -> None:
        """Queue one output's batch (``topic``: that output's default topic)."""
        if self.discarding:
            return
        producer = self.producer
        producer.default_topic = topic  # one worker thread: outputs write one at a time
        produce_all(producer, values)

    def close_epoch(self, output: str, epoch: int) -> None:
        """``output`` has written everything of ``epoch``: commit once every output has."""
        closed = self._closing.setdefault(epoch, set())
        closed.add(output)
        if len(closed) < self.expected:
            return
        for e in [e for e in self._closing if e <= epoch]:
            del self._closing[e]
        positions = self.tracker.positions_upto(self.worker, epoch)
        if self.discarding:
            # What this epoch wrote was aborted when partitions were revoked: commit nothing,
            # the member has rewound to its last committed offsets.
            self.discarding = False
        elif self._stuck is None:
            self._commit(positions)
        if self.member is not None:
            self.member.epoch_closed()

    def release(self) -> None:
        """A sink partition closed; the last one commits what is left and closes the clients."""
        self._users -= 1
        if self._users > 0 or self.closed:
            return
        self.closed = True
        try:
            if self._stuck is None:
                # End of the input: every epoch is complete.
                positions = self.tracker.positions_all(self.worker)
                if not self.discarding:
                    self._commit(positions)
                if self.mode.transactional:
                    self._call(
                        "closing the transaction",
                        self.producer.producer.abort_transaction,
                        self.mode.commit_timeout,
                    )
        finally:
            if self._group is not None:
                try:
                    self.calls.call("closing the group consumer", deadline_for(10.0), self._group.close)
                except KafkaCallTimeout as exc:
                    log.warning("%s", exc)
            if self.member is not None:
                self.member.release()

    # -- used by the group member --------------------------------------------------

    def abort_epoch(self, why: str) -> None:
        """Abort the open transaction now and drop the epoch's writes until it closes.

        Called by the worker's group member when partitions are revoked in
        the middle of an epoch (exactly-once only): the new owner reads them
        from the last committed offsets, so nothing of this epoch may commit.
        """
        if not self.mode.transactional or self._stuck is not None:
            return
        p = self.producer.producer
        log.warning(
            "worker %d: %s: aborting the open transaction of group %r; the epoch is read again",
            self.worker,
            why,
            self.mode.group_id,
        )
        self._call("aborting the transaction", p.abort_transaction, self.mode.commit_timeout)
        self._forget_purged()
        self._call("beginning a transaction", p.begin_transaction)
        self.discarding = True

    # -- commits -------------------------------------------------------------------

    def _commit(self, positions: Position) -> None:
        member = self.member
        if member is not None:
            positions = member.owned(positions)
        offsets = _offsets(positions)
        if not self.mode.transactional:
            self.producer.flush()
            if offsets:
                if member is not None:
                    member.commit_flushed(positions)
                else:
                    self._commit_progress(offsets)
            return
        p = self.producer.producer
        self.producer.check()  # a failed delivery must not be committed
        timeout = self.mode.commit_timeout
        if offsets:
            meta = (member.consumer if member is not None else self._group).consumer_group_metadata()
            refused = self._call(
                "sending offsets to the transaction",
                p.send_offsets_to_transaction,
                offsets,
                meta,
                timeout,
                abortable=member is not None,
            )
            if refused is not None:
                self._aborted(refused)
                return
        refused = self._call(
            "committing the transaction", p.commit_transaction, timeout, abortable=member is not None
        )
        if refused is not None:
            self._aborted(refused)
            return
        self.producer.check()
        self._call("beginning a transaction", p.begin_transaction)
        if member is not None:
            member.note_committed(positions)

    def _aborted(self, error: str) -> None:
        """The group refused the transaction's offsets: abort it and read the epoch again."""
        p = self.producer.producer
        log.warning(
            "worker %d: the transaction of group %r was refused (%s): aborted; the member reads its "
            "partitions again from the last committed offsets",
            self.worker,
            self.mode.group_id,
            error,
        )
        self._call("aborting the refused transaction", p.abort_transaction, self.mode.commit_timeout)
        self._forget_purged()
        # A refusal that needs an epoch bump (OUT_OF_ORDER_SEQUENCE_NUMBER after a rebalance) leaves
        # librdkafka re-acquiring its producer id after the abort, and a produce in that window fails
        # with "Erroneous state". A new producer with the same transactional.id starts clean: its
        # init_transactions bumps the epoch (fencing the old one, which has nothing left to send).
        self.producer = DeliveringProducer(self._producer_conf, None)
        self.calls = self.producer.calls
        self._begin_transactions("initialising transactions again after the refusal")
        if self.member is not None:
            self.member.rewind_requested = True

    def _forget_purged(self) -> None:
        """Serve the reports of the messages the abort purged and forget them.

        ``abort_transaction`` purges what the transaction still had queued or
        in flight (``_PURGE_QUEUE``/``_PURGE_INFLIGHT`` delivery errors): those
        records are read again, so their failed deliveries are not failures
        of the flow; nor is anything else this aborted epoch wrote.
        """
        producer = self.producer
        for _ in range(1000):  # each call serves every report queued; bounded all the same
            if not producer.producer.poll(0):
                break
        producer.failures = 0
        producer.first_failure = None
        producer.largest_failed = 0
        producer.timed_out = False

    def _commit_progress(self, offsets: list[TopicPartition]) -> None:
        try:
            self.calls.call(
                "committing progress to the consumer group",
                deadline_for(self.mode.commit_timeout),
                self._group.commit,
                offsets=offsets,
                asynchronous=False,
            )
        except Exception as exc:  # monitoring only: never fail the flow for it
            log.warning("committing progress to group %r failed: %s", self.mode.group_id, exc)

    def _call(self, what: str, fn: Any, *args: Any, abortable: bool = False) -> str | None:
        """A transactional call under our deadline: ``commit_timeout`` plus the grace.

        Returns:
            None; or, with ``abortable``, the error text of a refusal that
            only requires aborting the transaction (a stale group member).
        """
        name = getattr(fn, "__name__", "call")
        group = self.mode.group_id
        if self._stuck is not None:
            raise KafkaTransactionError(
                f"worker {self.worker}: {what} ({name}) not attempted for group {group!r}: "
                f"{self._stuck} earlier never returned"
            )
        timeout = self.mode.commit_timeout
        try:
            self.calls.call(f"{what} ({name})", deadline_for(timeout), fn, *args)
        except KafkaCallTimeout as exc:
            self._stuck = name
            raise KafkaTransactionError(
                f"worker {self.worker}: {what} ({name}) did not return within {exc.elapsed:.1f}s "
                f"(commit_timeout={timeout:g}s) for group {group!r}; librdkafka ignored "
                "its timeout. The flow stops: restarted, it fences this producer, the open "
                "transaction is aborted and nothing is lost or written twice"
            ) from None
        except Exception as exc:
            text = scrub(str(exc), self._config)
            err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
            if (
                abortable
                and err is not None
                and not err.fatal()
                and (err.txn_requires_abort() or err.retriable())
            ):
                return text
            raise KafkaTransactionError(
                f"worker {self.worker}: {what} failed for group {group!r}: {text}"
            ) from None
        return None
