"""The reading side of a :class:`~bytewax_kafka.core.KafkaGroupSource`: one partition per worker.

Each worker's partition consumes through its
:class:`~bytewax_kafka.core.group.GroupMember`, turns records into
messages (the hot loop), notes each batch's partition runs (the offset a
rewind goes back to, the lag gauges: once per run, nothing per record),
and, in exactly-once mode, drops what a call read when partitions were
revoked during it (see :mod:`bytewax_kafka.core.group`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from bytewax.inputs import StatelessSourcePartition
from confluent_kafka import KafkaError as CKError
from confluent_kafka import TopicPartition

from bytewax_kafka.core.config import scrub
from bytewax_kafka.core.consumer import WAIT
from bytewax_kafka.core.deadline import bounded
from bytewax_kafka.core.errors import KafkaConsumeError
from bytewax_kafka.core.group import GroupMember
from bytewax_kafka.core.lag import WatermarkProbe, probe_after
from bytewax_kafka.core.messages import (
    NO_HEADERS,
    KafkaError,
    KafkaSourceMessage,
    _new,
    _source_message,
    _SourceSlots,
)
from bytewax_kafka.core.metadata import is_pattern

if TYPE_CHECKING:
    from bytewax_kafka.core.group_source import KafkaGroupSource

__all__ = ["GroupPartition"]

_EOF = CKError._PARTITION_EOF
_CONNECTIVITY = frozenset({CKError._TRANSPORT, CKError._ALL_BROKERS_DOWN, CKError._RESOLVE})
#: Poll interval while nothing arrives, and while an aborted epoch closes.
_IDLE_WAIT = timedelta(milliseconds=5)
#: Seconds between updates of the lag gauges.
_LAG_EVERY = 1.0
#: tail=False: a member holding no partition for this long stops.
_EMPTY_FOR = 5.0


def _first_offsets(msgs: list[Any]) -> dict[tuple[str, int], int]:
    """The first offset of each partition among consumed records (a rare path)."""
    firsts: dict[tuple[str, int], int] = {}
    for msg in msgs:
        if msg.error() is None:
            firsts.setdefault((msg.topic(), msg.partition()), msg.offset())
    return firsts


class GroupPartition(StatelessSourcePartition[Any]):
    """One worker's reading side: consume through its member, emit messages (built by the source)."""

    def __init__(self, source: KafkaGroupSource, member: GroupMember) -> None:
        self._source = source
        self._member = member
        self._n = source._batch_size
        self._batches = source._batches
        self._raise = source._raise_on_errors
        self._tail = source._tail
        topics = source._topics
        self._one_topic = topics[0] if len(topics) == 1 and not is_pattern(topics[0]) else None
        self._awake: datetime | None = None
        self._lag_due = 0.0
        self._probe = WatermarkProbe(source._base_config(), read_committed=member.transactional)
        self._probe_after = probe_after(source._stall_after)
        self._probed: dict[tuple[str, int], int] = {}
        self._closed = False

    def next_batch(self) -> list[Any]:
        """Up to ``batch_size`` messages of the partitions the member holds (none while an abort closes)."""
        m = self._member
        if m.rewind_requested:
            m.rewind()
        if m.hold:  # exactly-once: an aborted epoch is closing
            self._awake = datetime.now(timezone.utc) + _IDLE_WAIT
            return []
        m.revoked_now = False
        msgs = m.consumer.consume(self._n, WAIT)
        if m.revoked_now and m.transactional:
            # What this call read may belong to revoked partitions: dropped, and the partitions
            # kept are read again from their last committed offsets.
            m.rewind(_first_offsets(msgs))
            self._awake = None
            return []
        now = time.monotonic()
        if now >= self._lag_due:
            self._lag_due = now + _LAG_EVERY
            self._update_lags(now)
        if not msgs:
            self._idle(now)
            return []
        self._awake = None
        out = self._convert(msgs)
        if out:
            m.emitted = True
            m.down_since = None
        return out

    def _convert(self, msgs: list[Any]) -> list[Any]:
        """Turn records into messages (the hot loop); partition runs are noted once each."""
        out: list[Any] = []
        append = out.append
        new = _new
        slots = _SourceSlots
        cls = KafkaSourceMessage
        empty = NO_HEADERS
        one_topic = self._one_topic
        runs: list[tuple[Any, int, int]] = []
        last_t: str | None = None
        last_p = -1
        for msg in msgs:
            if msg.error() is None:
                p = msg.partition()
                t = msg.topic() if one_topic is None else one_topic
                if p != last_p or t != last_t:
                    last_t = t
                    last_p = p
                    runs.append((t, p, len(out)))
                s: Any = new(slots)
                s.key = msg.key()
                s.value = msg.value()
                s.topic = t
                s.headers = msg.headers() or empty
                s.latency = None
                s.offset = msg.offset()
                s.partition = p
                s.timestamp = msg.timestamp()
                s.__class__ = cls
                append(s)
            elif self._event(msg, out):
                runs.append((None, -1, len(out) - 1))
                last_p = -1
        return self._noted(out, runs)

    def _noted(self, out: list[Any], runs: list[tuple[Any, int, int]]) -> list[Any]:
        """Note each run's first and last record (base offset, lag); group runs into lists for batches."""
        m = self._member
        base = m.base
        lags = m.lags
        lists: list[Any] = []
        for i, (t, p, start) in enumerate(runs):
            end = runs[i + 1][2] if i + 1 < len(runs) else len(out)
            if t is None:
                lists.append(out[start])
                continue
            key = (t, p)
            if key not in base:
                base[key] = out[start].offset
            last = out[end - 1]
            lag = lags.get(key)
            if lag is not None:
                lag.read(last.timestamp)
            if self._batches:
                lists.append(out[start:end])
        return lists if self._batches else out

    def _event(self, msg: Any, out: list[Any]) -> bool:
        """Handle a consumed error event; True when it became an item of ``out``."""
        err = msg.error()
        code = err.code()
        m = self._member
        topic, partition = msg.topic(), msg.partition()
        if code == _EOF:
            if topic is not None and partition is not None:
                m.ended.add((topic, partition))
            return False
        if code in _CONNECTIVITY and not err.fatal():
            if m.down_since is None:
                m.down_since = time.monotonic()
            return False
        where = partition if partition is not None and partition >= 0 else None
        if self._raise:
            raise KafkaConsumeError(topic, where, scrub(str(err), m.config))
        item = _source_message(
            msg.key(), msg.value(), topic, msg.headers() or [], None, msg.offset(), where, msg.timestamp()
        )
        self._source._errors += 1  # before the item is emitted: see errors_emitted()
        out.append(KafkaError(err, item))
        return True

    def _update_lags(self, now: float) -> None:
        """The lag gauges of the partitions held (at most once a second); unread ones are probed."""
        m = self._member
        if not m.lags:
            return
        consumer = m.consumer
        keys = sorted(m.lags)
        try:
            positions = consumer.position([TopicPartition(t, p) for t, p in keys])
        except Exception:
            return
        probe = self._probe
        probed = self._probed
        unread = []
        for key, tp in zip(keys, positions, strict=True):
            lag = m.lags[key]
            try:
                lo, hi = consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
            except Exception:
                continue
            got = probe.answer(key)
            if got is not None:
                probed[key] = got
            if lag.unread_for(now) >= self._probe_after:
                unread.append(key)
            pos = tp.offset if tp.offset is not None and tp.offset >= 0 else -1
            lag.update(int(lo), max(int(hi), probed.get(key, -1)), pos, now=now)
        if unread:
            probe.ask(unread, self._probe_after)

    def _idle(self, now: float) -> None:
        m = self._member
        down = m.down_since
        if down is not None and now - down > self._source._timeout:
            wait = min(self._source._timeout, 5.0)
            try:
                bounded("a metadata request", wait, m.consumer.list_topics, timeout=wait)
                m.down_since = None
            except Exception as exc:
                raise m.errors.timeout_error(
                    f"every Kafka broker has been unreachable for {now - down:.0f}s while reading as "
                    f"worker {m.worker} of group {m.group.group_id!r}: {scrub(str(exc), m.config)}"
                ) from None
        if not self._tail and self._finished(now):
            raise StopIteration
        self._awake = datetime.now(timezone.utc) + _IDLE_WAIT

    def _finished(self, now: float) -> bool:
        m = self._member
        if not m.assigned_once:
            return False
        if m.assigned:
            return m.assigned <= m.ended
        return m.empty_since is not None and now - m.empty_since >= _EMPTY_FOR

    def next_awake(self) -> datetime | None:
        """When to call :meth:`next_batch` again (soon, while nothing arrives)."""
        return self._awake

    def close(self) -> None:
        """Release the member (the last of it and the writer leaves the group)."""
        if not self._closed:
            self._closed = True
            self._member.release()
