"""Which epoch a worker read which offsets in: the ticks of tracked inputs.

An input that shares an ``ExactlyOnce``, a ``CommitProgress`` or a
``ConsumerGroup`` with outputs gets two steps after its source (added by
``bytewax_kafka.operators.input``): a ``flat_map_batch`` that turns each
batch the worker's source emits into one :class:`Tick`
(:meth:`EpochTracker.tick`), and an ``op.inspect_debug`` that stamps each
tick with its epoch and records, per worker and epoch, the next offset of
every partition read (:meth:`EpochTracker.record_tick`). The outputs take
the ticks too, so each closes every epoch in which its worker read
something (see :mod:`bytewax_kafka.core.worker_writer`).

Example:
    >>> from bytewax_kafka.core import KafkaSourceMessage
    >>> tracker = EpochTracker()
    >>> batch = [KafkaSourceMessage(b"k", b"v", "t", offset=o, partition=o % 2) for o in (4, 6, 5)]
    >>> [tick] = tracker.tick(batch)
    >>> tracker.record_tick("step", tick, 3, 0)
    >>> tracker.positions_upto(0, 3)
    {('t', 0): 7, ('t', 1): 6}
"""

from __future__ import annotations

import threading
from typing import Any

from bytewax_kafka.core.errors import KafkaConnectorError
from bytewax_kafka.core.messages import KafkaSourceMessage

__all__ = ["EpochTracker", "Position", "Tick"]

Position = dict[tuple[str, int], int]


class Tick:
    """One batch a worker's input emitted: the next offset of each of its partitions, and its epoch."""

    __slots__ = ("epoch", "positions")

    def __init__(self, positions: Position) -> None:
        self.positions = positions
        #: Set by :meth:`EpochTracker.record_tick` (-1 until then).
        self.epoch = -1

    def __repr__(self) -> str:
        return f"Tick(epoch={self.epoch}, positions={self.positions!r})"


def _message_of(item: Any) -> Any:
    """The message an item stands for (the last of a batch, the one an error is about), or None."""
    if type(item) is list:
        if not item:
            return None
        item = item[-1]
    msg = getattr(item, "msg", item)  # KafkaError items carry the message
    return msg if hasattr(msg, "offset") and hasattr(msg, "partition") else None


class EpochTracker:
    """What each worker read per epoch (from the ticks), and which thread is which worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: thread ident -> (worker index, worker count)
        self.workers: dict[int, tuple[int, int]] = {}
        #: worker index -> epoch -> (topic, partition) -> next offset
        self.source: dict[int, dict[int, Position]] = {}

    # -- recorded by the flow ---------------------------------------------------

    def register_worker(self, index: int, count: int) -> None:
        """Remember the calling thread's worker index (from a DynamicSink build)."""
        with self._lock:
            self.workers[threading.get_ident()] = (index, count)

    def tick(self, batch: list[Any]) -> list[Tick]:
        """``flat_map_batch`` mapper after the source: one :class:`Tick` per batch.

        A partition's items come in runs, in offset order: the last item of
        each run gives that partition's next offset.
        """
        pos: Position = {}
        cls = KafkaSourceMessage
        topic: Any = None
        part: Any = None
        off: Any = None
        for item in batch:
            if type(item) is not cls:
                item = _message_of(item)
                if item is None:
                    continue
            t = item.topic
            p = item.partition
            if p != part or t != topic:
                if topic is not None:
                    _advance(pos, topic, part, off)
                topic = t
                part = p
                off = None
            o = item.offset
            if o is not None and (off is None or o > off):
                off = o  # an error item may carry no offset
        if topic is not None:
            _advance(pos, topic, part, off)
        return [Tick(pos)]

    def record_tick(self, _step_id: str, tick: Tick, epoch: int, worker: int) -> None:
        """``op.inspect_debug`` callback on the ticks: their epoch, and the positions of that epoch."""
        tick.epoch = epoch
        if not tick.positions:
            return
        by_epoch = self.source.get(worker)
        if by_epoch is None:
            with self._lock:
                by_epoch = self.source.setdefault(worker, {})
        pos = by_epoch.get(epoch)
        if pos is None:
            pos = by_epoch.setdefault(epoch, {})
        for key, off in tick.positions.items():
            if pos.get(key, -1) < off:
                pos[key] = off

    # -- read by the sink ---------------------------------------------------------

    def worker(self) -> tuple[int, int]:
        """(index, count) of the calling worker thread."""
        try:
            return self.workers[threading.get_ident()]
        except KeyError:
            raise KafkaConnectorError(
                "exactly-once/commit-progress/consumer-group outputs must be written with "
                "bytewax_kafka.operators.output(..., exactly_once=/commit_progress=/consumer_group=): "
                "the worker of this thread is unknown"
            ) from None

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


def _advance(pos: Position, topic: str, partition: int | None, offset: int | None) -> None:
    if offset is None or offset < 0 or partition is None:
        return
    key = (topic, partition)
    if pos.get(key, -1) <= offset:
        pos[key] = offset + 1
